"""The HTTP API data plane: payload format 2.0 events to a real function, its answer back, 404s, throttling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sandbox.aws import EmbeddedAws
from sandbox.deploy import ApiInvoker
from sandbox.http_api import HttpApiGateway, Route, TokenBucket, build_event, http_response, is_text
from sandbox.lambda_runtime import InvokeResult
from tests.sandbox.lambda_fixtures import create_function, zip_files

# Shaped like the webhook receiver: reads the raw body as API Gateway hands it over, checks GitHub's
# signature over those bytes, and answers with a proxy response carrying the event it saw.
RECEIVER = """
import base64
import hashlib
import hmac
import json
import time


def handler(event, context):
    if event["headers"].get("x-sleep"):
        time.sleep(float(event["headers"]["x-sleep"]))
    if event["headers"].get("x-raise"):
        raise ValueError("asked to fail")
    raw = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event.get("body", "").encode()
    expected = "sha256=" + hmac.new(b"webhook-secret", raw, hashlib.sha256).hexdigest()
    return {
        "statusCode": 202,
        "headers": {"Content-Type": "application/json", "X-Signature-Valid": str(
            hmac.compare_digest(expected, event["headers"].get("x-hub-signature-256", "")))},
        "cookies": ["session=abc; HttpOnly"],
        "body": json.dumps({"event": event}),
    }
"""
SECRET = b"webhook-secret"
ROUTE_KEY = "POST /webhook"


# --- the pieces, without an emulator ----------------------------------------------------------------------


def test_routes_match_the_most_specific_key() -> None:
    routes = [
        Route(key, "fn", "2.0", 1)
        for key in ("POST /webhook", "ANY /webhook", "GET /items/{id}", "ANY /{proxy+}", "$default")
    ]

    def best(method: str, path: str) -> tuple[str, dict[str, str]]:
        matches = [(r, p) for r in routes if (p := r.match(method, path)) is not None]
        route, params = max(matches, key=lambda m: m[0].specificity)
        return route.key, params

    assert best("POST", "/webhook") == ("POST /webhook", {})
    assert best("PUT", "/webhook") == ("ANY /webhook", {})
    assert best("GET", "/items/42") == ("GET /items/{id}", {"id": "42"})
    assert best("GET", "/a/b/c") == ("ANY /{proxy+}", {"proxy": "a/b/c"})
    assert Route("POST /webhook", "fn", "2.0", 1).match("POST", "/webhook/x") is None


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one token back at 2 per second
    assert [bucket.take(), bucket.take()] == [True, False]


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("text/plain", True),
        ("application/vnd.github+json", True),
        ("application/xml", True),
        ("application/x-www-form-urlencoded", False),
        ("application/octet-stream", False),
        (None, False),
    ],
)
def test_only_text_bodies_pass_unencoded(content_type: str | None, text: bool) -> None:
    assert is_text(content_type) is text


def test_event_has_the_payload_format_2_0_shape() -> None:
    event = build_event(
        api_id="abc123",
        account_id="123456789012",
        route_key=ROUTE_KEY,
        method="POST",
        target="/webhook?a=1&a=2&b=",
        headers=[
            ("Host", "127.0.0.1:8080"),
            ("X-Repeated", "one"),
            ("x-repeated", "two"),
            ("Cookie", "c1=1; c2=2"),
            ("Content-Type", "application/json"),
            ("User-Agent", "GitHub-Hookshot"),
        ],
        body=b'{"a": 1}',
        source_ip="127.0.0.1",
        path_parameters={},
        request_id="rid=",
        now=datetime(2026, 3, 12, 19, 3, 58, 123000, tzinfo=UTC),
    )
    assert event == {
        "version": "2.0",
        "routeKey": ROUTE_KEY,
        "rawPath": "/webhook",
        "rawQueryString": "a=1&a=2&b=",
        "headers": {
            "host": "127.0.0.1:8080",
            "x-repeated": "one,two",
            "content-type": "application/json",
            "user-agent": "GitHub-Hookshot",
        },
        "cookies": ["c1=1", "c2=2"],
        "queryStringParameters": {"a": "1,2", "b": ""},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "127.0.0.1:8080",
            "domainPrefix": "127",
            "http": {
                "method": "POST",
                "path": "/webhook",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "GitHub-Hookshot",
            },
            "requestId": "rid=",
            "routeKey": ROUTE_KEY,
            "stage": "$default",
            "time": "12/Mar/2026:19:03:58 +0000",
            "timeEpoch": 1773342238123,
        },
        "body": '{"a": 1}',
        "isBase64Encoded": False,
    }


ERROR_500 = (500, {"content-type": "application/json"}, [], b'{"message": "Internal Server Error"}')


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            InvokeResult(json.dumps({"statusCode": 202, "headers": {"X-A": "1"}, "body": "ok"}).encode()),
            (202, {"x-a": "1"}, [], b"ok"),
        ),
        (
            InvokeResult(
                json.dumps(
                    {"statusCode": 200, "body": base64.b64encode(b"\x00\xff").decode(), "isBase64Encoded": True}
                ).encode()
            ),
            (200, {}, [], b"\x00\xff"),
        ),
        (InvokeResult(b'{"hello": "world"}'), (200, {"content-type": "application/json"}, [], b'{"hello": "world"}')),
        (InvokeResult(b'{"errorType": "ValueError"}', "Unhandled"), ERROR_500),
        (InvokeResult(b"not json"), ERROR_500),
        (InvokeResult(b'{"statusCode": 200, "body": "%%%", "isBase64Encoded": true}'), ERROR_500),
    ],
)
def test_function_answers_become_http_responses(result: InvokeResult, expected: tuple[Any, ...]) -> None:
    assert http_response(result) == expected


# --- served on loopback, invoking a real function ---------------------------------------------------------


@pytest.fixture(scope="module")
def receiver(aws: EmbeddedAws) -> str:
    return create_function(
        aws, "http-api-receiver", code=zip_files({"receiver.py": RECEIVER}), handler="receiver.handler", timeout=5
    )


@pytest.fixture
def gateway(aws: EmbeddedAws) -> Iterator[HttpApiGateway]:
    with HttpApiGateway(aws.client, ApiInvoker(aws)) as served:
        yield served


def _api(
    aws: EmbeddedAws,
    function: str,
    *,
    rate: float = 100.0,
    burst: int = 100,
    timeout_ms: int = 9000,
    invoke_arn: bool = False,
    permission: str | None = "/*/POST/webhook",
) -> str:
    """An HTTP API like the program's: ``POST /webhook`` to ``function``, which lets the API invoke it."""
    apigateway = aws.client("apigatewayv2")
    api_id = apigateway.create_api(Name=f"api-{uuid.uuid4().hex[:8]}", ProtocolType="HTTP")["ApiId"]
    if permission is not None:
        aws.client("lambda").add_permission(
            FunctionName=function,
            StatementId=f"api-{api_id}",
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=f"arn:aws:execute-api:us-east-1:123456789012:{api_id}{permission}",
        )
    uri = (
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function}/invocations"
        if invoke_arn
        else function
    )
    integration = apigateway.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationMethod="POST",
        IntegrationUri=uri,
        PayloadFormatVersion="2.0",
        TimeoutInMillis=timeout_ms,
    )["IntegrationId"]
    apigateway.create_route(ApiId=api_id, RouteKey=ROUTE_KEY, Target=f"integrations/{integration}")
    apigateway.create_stage(
        ApiId=api_id,
        StageName="$default",
        AutoDeploy=True,
        DefaultRouteSettings={"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst},
    )
    return api_id


def _signed(body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()}


def test_the_receiver_gets_the_raw_body_and_its_answer_comes_back(
    aws: EmbeddedAws, receiver: str, gateway: HttpApiGateway
) -> None:
    url = gateway.serve(_api(aws, receiver)) + "/webhook"
    assert url.startswith("http://127.0.0.1:")
    # Bytes a re-serialisation would change: key order, spacing, escapes, non-ASCII, a trailing newline.
    body = '{"zeta": 1,  "alpha": "caf\\u00e9 — ünïcode",\r\n "n": 1.0}\n'.encode()
    headers = [
        ("Content-Type", "application/json"),
        ("X-GitHub-Event", "organization"),
        ("X-GitHub-Delivery", "d-1"),
        *(_signed(body).items()),
        ("X-Multi", "a"),
        ("X-Multi", "b"),
    ]
    response = httpx.post(url, content=body, headers=headers)

    assert response.status_code == 202
    assert response.headers["x-signature-valid"] == "True"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["set-cookie"] == "session=abc; HttpOnly"
    assert response.headers["apigw-requestid"]
    event = response.json()["event"]
    assert event["body"].encode() == body and event["isBase64Encoded"] is False
    assert event["headers"]["x-github-event"] == "organization" and event["headers"]["x-multi"] == "a,b"
    assert all(name == name.lower() for name in event["headers"])
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1" and event["headers"]["x-amzn-trace-id"]
    assert event["version"] == "2.0" and event["routeKey"] == ROUTE_KEY and event["rawPath"] == "/webhook"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["requestId"] == response.headers["apigw-requestid"]


def test_a_binary_body_arrives_base64_encoded(aws: EmbeddedAws, receiver: str, gateway: HttpApiGateway) -> None:
    url = gateway.serve(_api(aws, receiver, invoke_arn=True)) + "/webhook"
    body = b"payload=%7B%22a%22%3A1%7D\x00\xff"
    response = httpx.post(
        url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded", **_signed(body)}
    )
    event = response.json()["event"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == body
    assert response.headers["x-signature-valid"] == "True"


def test_a_json_body_that_is_not_utf8_arrives_base64_encoded(
    aws: EmbeddedAws, receiver: str, gateway: HttpApiGateway
) -> None:
    url = gateway.serve(_api(aws, receiver)) + "/webhook"
    body = b'{"login": "\xff\xfe"}'
    response = httpx.post(url, content=body, headers={"Content-Type": "application/json", **_signed(body)})

    assert response.status_code == 202
    event = response.json()["event"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == body
    assert response.headers["x-signature-valid"] == "True"


def test_other_routes_are_not_found(aws: EmbeddedAws, receiver: str, gateway: HttpApiGateway) -> None:
    base = gateway.serve(_api(aws, receiver))
    for method, path in (("GET", "/webhook"), ("POST", "/other"), ("POST", "/"), ("POST", "/webhook/x")):
        response = httpx.request(method, base + path)
        assert (response.status_code, response.json()) == (404, {"message": "Not Found"}), (method, path)
    assert [r for r in aws.runtime.records() if r.function == "http-api-receiver" and r.error_type] == []


def test_requests_beyond_the_stage_throttle_get_429(aws: EmbeddedAws, receiver: str, gateway: HttpApiGateway) -> None:
    url = gateway.serve(_api(aws, receiver, rate=0.01, burst=2)) + "/webhook"
    statuses = [
        httpx.post(url, content=b"{}", headers={"Content-Type": "application/json"}).status_code for _ in range(4)
    ]
    assert statuses == [202, 202, 429, 429]
    throttled = httpx.post(url, content=b"{}")
    assert throttled.json() == {"message": "Too Many Requests"}


def test_a_function_error_is_a_500(aws: EmbeddedAws, receiver: str, gateway: HttpApiGateway) -> None:
    url = gateway.serve(_api(aws, receiver)) + "/webhook"
    response = httpx.post(url, content=b"{}", headers={"X-Raise": "1"})
    assert (response.status_code, response.json()) == (500, {"message": "Internal Server Error"})


@pytest.mark.parametrize("permission", [None, "/*/GET/webhook", "/*/POST/other"])
def test_without_the_functions_permission_for_the_route_it_is_a_500(
    aws: EmbeddedAws, receiver: str, gateway: HttpApiGateway, permission: str | None
) -> None:
    url = gateway.serve(_api(aws, receiver, permission=permission)) + "/webhook"
    invocations = len(aws.runtime.records())
    response = httpx.post(url, content=b"{}")
    assert (response.status_code, response.json()) == (500, {"message": "Internal Server Error"})
    assert len(aws.runtime.records()) == invocations  # refused before any invocation


def test_the_integration_timeout_is_a_503(aws: EmbeddedAws, receiver: str, gateway: HttpApiGateway) -> None:
    url = gateway.serve(_api(aws, receiver, timeout_ms=300)) + "/webhook"
    response = httpx.post(url, content=b"{}", headers={"X-Sleep": "1"}, timeout=5)
    assert (response.status_code, response.json()) == (503, {"message": "Service Unavailable"})


def test_serve_all_serves_every_http_api(aws: EmbeddedAws, receiver: str, gateway: HttpApiGateway) -> None:
    api_id = _api(aws, receiver)
    urls = gateway.serve_all()
    assert api_id in urls and urls[api_id] == gateway.url(api_id)
    assert httpx.post(urls[api_id] + "/webhook", content=b"{}").status_code == 202
