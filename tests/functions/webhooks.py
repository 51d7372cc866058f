"""Build GitHub webhook deliveries as the receiver Lambda gets them: API Gateway HTTP API events
(payload format 2.0, header names lower-cased), signed like GitHub signs them.

The signature is computed here with ``hmac`` from GitHub's documented recipe, not with the library
the receiver verifies with, so a test does not check a library against itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github-webhooks"
#: ``requestContext.timeEpoch`` of every event built here (epoch ms): the ``receivedAt`` the receiver stamps.
TIME_EPOCH = 1_764_633_600_000


def fixture_paths() -> list[Path]:
    """Every webhook payload example, sorted; the event name is the folder name."""
    return sorted(FIXTURES.glob("*/*.payload.json"))


def fixture_id(path: Path) -> str:
    """A readable pytest id for a fixture: ``event/variant``."""
    return f"{path.parent.name}/{path.name.removesuffix('.payload.json')}"


def signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def new_delivery_id() -> str:
    """A fresh ``X-GitHub-Delivery`` (GitHub uses GUIDs)."""
    return str(uuid.uuid4())


def delivery_headers(body: bytes, *, event_name: str, secret: str, delivery_id: str) -> dict[str, str]:
    """The headers of a GitHub App delivery of ``body``, correctly signed with ``secret``."""
    return {
        "content-type": "application/json",
        "user-agent": "GitHub-Hookshot/tests",
        "x-github-event": event_name,
        "x-github-delivery": delivery_id,
        "x-github-hook-id": "1",
        "x-github-hook-installation-target-type": "integration",
        "x-hub-signature-256": signature(secret, body),
    }


def http_api_event(body: bytes, headers: Mapping[str, str], *, base64_encoded: bool = False) -> dict[str, Any]:
    """An HTTP API payload-format-2.0 event for ``POST /webhook`` carrying ``body``.

    Without ``base64_encoded`` the body travels as text, so it must be UTF-8 (as GitHub's JSON is).
    """
    return {
        "version": "2.0",
        "routeKey": "POST /webhook",
        "rawPath": "/webhook",
        "rawQueryString": "",
        "headers": {name.lower(): value for name, value in headers.items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.execute-api.us-east-1.amazonaws.com",
            "http": {"method": "POST", "path": "/webhook", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1"},
            "requestId": str(uuid.uuid4()),
            "routeKey": "POST /webhook",
            "stage": "$default",
            "timeEpoch": TIME_EPOCH,
        },
        "body": base64.b64encode(body).decode() if base64_encoded else body.decode(),
        "isBase64Encoded": base64_encoded,
    }


def signed_delivery(
    body: bytes,
    *,
    event_name: str,
    secret: str,
    delivery_id: str | None = None,
    base64_encoded: bool = False,
) -> dict[str, Any]:
    """A correctly signed GitHub delivery of ``body`` as the receiver's event."""
    headers = delivery_headers(body, event_name=event_name, secret=secret, delivery_id=delivery_id or new_delivery_id())
    return http_api_event(body, headers, base64_encoded=base64_encoded)


@dataclass(frozen=True)
class FakeLambdaContext:
    """The parts of the Lambda context object Powertools reads."""

    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
