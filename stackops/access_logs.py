"""The HTTP API's access log: the line API Gateway writes per request in the stage's format.

API Gateway fills each ``$context.<name>`` of the stage's ``accessLogSettings.format`` with the request's
values and writes ``-`` for the empty ones
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging-variables.html). The
sandbox's data plane writes no access log, so the meter renders the line from what it sent and got back:
its size is what CloudWatch Logs ingests for the request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime

_VARIABLE = re.compile(r"\$context\.([A-Za-z0-9_.]+)")
#: A GitHub webhook source address (https://api.github.com/meta "hooks": 192.30.252.0/22 and others).
GITHUB_HOOK_IP = "192.30.252.10"
#: API Gateway's request ids look like "Jd4ZxiKvoAMEVfA=" (16 characters).
REQUEST_ID = "Jd4ZxiKvoAMEVfA="


def render(log_format: str, values: Mapping[str, str]) -> str:
    """The format with every ``$context.<name>`` replaced by its value, ``-`` where there is none."""

    def value(match: re.Match[str]) -> str:
        text = values.get(match.group(1)) or "-"
        return json.dumps(text)[1:-1]  # inside a JSON string in the JSON formats

    return _VARIABLE.sub(value, log_format)


def request_values(
    *,
    api_id: str,
    route_key: str,
    user_agent: str,
    sent_at: float,
    status: int,
    response_length: int,
    latency_ms: int,
    region: str = "us-east-1",
) -> dict[str, str]:
    """The ``$context`` values of one webhook request the sandbox sent and the answer it got."""
    method, _, path = route_key.partition(" ")
    return {
        "requestId": REQUEST_ID,
        "requestTime": datetime.fromtimestamp(sent_at, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "identity.sourceIp": GITHUB_HOOK_IP,
        "identity.userAgent": user_agent,
        "domainName": f"{api_id}.execute-api.{region}.amazonaws.com",
        "routeKey": route_key,
        "httpMethod": method,
        "path": path,
        "status": str(status),
        "responseLength": str(response_length),
        "responseLatency": str(latency_ms),
        "integrationStatus": str(status) if status < 500 else "",
        "integrationLatency": str(latency_ms),
    }
