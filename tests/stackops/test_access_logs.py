"""The access log line API Gateway would write for a webhook request."""

from __future__ import annotations

import json

from components.ingress import ACCESS_LOG_FORMAT
from stackops.access_logs import render, request_values


def test_the_stages_format_is_filled_with_the_requests_values_and_dashes() -> None:
    values = request_values(
        api_id="abc123",
        route_key="POST /webhook",
        user_agent="GitHub-Hookshot/sandbox",
        sent_at=0.0,
        status=202,
        response_length=19,
        latency_ms=42,
    )
    line = json.loads(render(ACCESS_LOG_FORMAT, values))
    assert line["routeKey"] == "POST /webhook" and line["httpMethod"] == "POST" and line["path"] == "/webhook"
    assert line["status"] == "202" and line["requestTime"] == "01/Jan/1970:00:00:00 +0000"
    assert line["domainName"] == "abc123.execute-api.us-east-1.amazonaws.com"
    assert line["error"] == line["integrationError"] == "-"
