"""The HTTP API data plane that moto lacks: each API served on a loopback port of its own.

moto stores an API Gateway v2 API's routes, integrations and stages but serves none of them. For each API,
:class:`HttpApiGateway` runs an HTTP server on 127.0.0.1 that does what API Gateway does for a Lambda proxy
integration (payload format 2.0) on the ``$default`` stage:

- matches the request to a route (``METHOD /path``, ``{param}``, ``{greedy+}``, ``ANY``, ``$default``);
  none matches: 404 ``{"message":"Not Found"}``;
- on an ``AWS_IAM`` route, checks the request's SigV4 signature (``sandbox/sigv4.py``) with the sandbox's
  credentials (:data:`IAM_CREDENTIALS`): 403 as API Gateway answers when it is missing or wrong;
- applies the stage's throttling (token bucket: ``ThrottlingRateLimit`` per second, ``ThrottlingBurstLimit``
  deep, per route): 429 ``{"message":"Too Many Requests"}``;
- checks that the function's resource policy lets API Gateway invoke it for this request's source ARN
  (``arn:aws:execute-api:REGION:ACCOUNT:API/$default/METHOD/PATH``), as API Gateway does: 500 otherwise;
- builds the 2.0 event (headers lower-cased, repeated ones comma-joined, cookies apart, the body as
  sent, base64-encoded unless its content type is text and the body valid UTF-8) and invokes the
  integration's function through the Lambda Invoke API;
- returns the function's answer (``statusCode``, ``headers``, ``cookies``, ``body``, ``isBase64Encoded``;
  any other JSON answer as a 200 ``application/json`` body), 500 on a function error or an unreadable
  answer, 503 when the integration timeout passes first.

The API's routes, integrations, stage and the functions' policies are read from the emulator at the first
request and again after :meth:`HttpApiGateway.refresh`.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from botocore.client import BaseClient

from sandbox import sigv4
from sandbox.lambda_runtime import FAKE_CREDENTIALS, InvokeResult

log = logging.getLogger(__name__)

Invoke = Callable[[str, bytes], InvokeResult]  # (function name or ARN, payload) -> result
ClientFactory = Callable[[str], BaseClient]

#: The principals an ``AWS_IAM`` route knows (access key id -> secret key): the sandbox's functions' and
#: the ``python -m stackops`` clients' (stackops/stack_outputs.py).
IAM_CREDENTIALS: Mapping[str, str] = {
    FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]: FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    "sandbox": "sandbox",
}
DEFAULT_STAGE = "$default"
DEFAULT_ROUTE = "$default"
DEFAULT_INTEGRATION_TIMEOUT_MS = 30_000  # HTTP APIs: the maximum, and the default
#: HTTP APIs pass these bodies as text; any other content type (or none) arrives base64-encoded.
TEXT_TYPES = re.compile(r"^(text/.*|application/(json|javascript|xml|.*\+json|.*\+xml))$")
#: ``arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations``
_INVOKE_ARN = re.compile(r"^arn:[^:]+:apigateway:[^:]+:lambda:path/[^/]+/functions/(?P<arn>.+)/invocations$")


def _message(status: HTTPStatus | int, message: str) -> tuple[int, dict[str, str], bytes]:
    return int(status), {"content-type": "application/json"}, json.dumps({"message": message}).encode()


NOT_FOUND = _message(HTTPStatus.NOT_FOUND, "Not Found")
TOO_MANY_REQUESTS = _message(HTTPStatus.TOO_MANY_REQUESTS, "Too Many Requests")
INTERNAL_SERVER_ERROR = _message(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal Server Error")
SERVICE_UNAVAILABLE = _message(HTTPStatus.SERVICE_UNAVAILABLE, "Service Unavailable")


class TokenBucket:
    """``burst`` requests at once, refilled at ``rate`` per second (API Gateway's throttling model)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


@dataclass(frozen=True)
class Route:
    key: str  # "POST /webhook", "ANY /{proxy+}", "$default"
    function: str | None  # the integrated function's ARN (None: not a Lambda proxy integration)
    payload_format: str
    timeout_seconds: float
    #: the ``AWS:SourceArn`` patterns under which the function lets API Gateway invoke it ("*": any)
    invoke_permissions: tuple[str, ...] = ("*",)
    authorization_type: str = "NONE"  # or AWS_IAM: SigV4-signed requests only
    method: str = field(init=False)
    pattern: re.Pattern[str] | None = field(init=False)
    specificity: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.key == DEFAULT_ROUTE:
            method, pattern, specificity = "ANY", None, (0,)
        else:
            method, path = self.key.split(" ", 1)
            parts, regex = path.strip("/").split("/") if path != "/" else [], []
            greedy = params = 0
            for part in parts:
                if part.startswith("{") and part.endswith("+}"):
                    regex.append(f"(?P<{part[1:-2]}>.+)")
                    greedy += 1
                elif part.startswith("{") and part.endswith("}"):
                    regex.append(f"(?P<{part[1:-1]}>[^/]+)")
                    params += 1
                else:
                    regex.append(re.escape(part))
            pattern = re.compile("^/" + "/".join(regex) + "$")
            # Exact paths beat parameters, which beat greedy paths; a named method beats ANY.
            specificity = (1, -greedy, len(parts), -params, 0 if method == "ANY" else 1)
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "pattern", pattern)
        object.__setattr__(self, "specificity", specificity)

    def may_invoke(self, source_arn: str) -> bool:
        return any(fnmatch.fnmatchcase(source_arn, pattern) for pattern in self.invoke_permissions)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        if self.pattern is None:
            return {}
        found = self.pattern.match(path)
        return None if found is None else found.groupdict()


@dataclass(frozen=True)
class ApiConfig:
    """What the data plane serves of one API: its routes and the ``$default`` stage's throttling."""

    api_id: str
    routes: tuple[Route, ...]
    buckets: Mapping[str, TokenBucket]  # route key -> its throttle (absent: not throttled)

    def route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        matches = [(route, params) for route in self.routes if (params := route.match(method, path)) is not None]
        if not matches:
            return None
        return max(matches, key=lambda match: match[0].specificity)


def invoke_permissions(lambda_client: BaseClient, function: str) -> tuple[str, ...]:
    """The source ARN patterns of the function's policy statements that let API Gateway invoke it."""
    try:
        policy = json.loads(lambda_client.get_policy(FunctionName=function)["Policy"])
    except lambda_client.exceptions.ResourceNotFoundException:  # no policy at all
        return ()
    patterns = []
    for statement in policy.get("Statement", []):
        actions = statement.get("Action")
        actions = [actions] if isinstance(actions, str) else actions or []
        principal = (statement.get("Principal") or {}).get("Service")
        if (
            statement.get("Effect") != "Allow"
            or principal != "apigateway.amazonaws.com"
            or not ({"lambda:InvokeFunction", "lambda:*"} & set(actions))
        ):
            continue
        source = (statement.get("Condition") or {}).get("ArnLike", {}).get("AWS:SourceArn", "*")
        patterns.append(source)
    return tuple(patterns)


def load_api_config(apigateway: BaseClient, lambda_client: BaseClient, api_id: str) -> ApiConfig:
    """Read an API's routes, Lambda integrations, ``$default`` stage settings and invoke permissions."""
    integrations = {i["IntegrationId"]: i for i in apigateway.get_integrations(ApiId=api_id).get("Items", [])}
    stages = {s["StageName"]: s for s in apigateway.get_stages(ApiId=api_id).get("Items", [])}
    stage = stages.get(DEFAULT_STAGE, {})
    routes, buckets = [], {}
    for item in apigateway.get_routes(ApiId=api_id).get("Items", []):
        target = item.get("Target", "")
        integration = integrations.get(target.removeprefix("integrations/"), {}) if target else {}
        function = None
        if integration.get("IntegrationType") == "AWS_PROXY" and integration.get("IntegrationUri"):
            uri = integration["IntegrationUri"]
            function = match.group("arn") if (match := _INVOKE_ARN.match(uri)) else uri
        routes.append(
            Route(
                key=item["RouteKey"],
                function=function,
                payload_format=integration.get("PayloadFormatVersion", "2.0"),
                timeout_seconds=int(integration.get("TimeoutInMillis", DEFAULT_INTEGRATION_TIMEOUT_MS)) / 1000,
                invoke_permissions=invoke_permissions(lambda_client, function) if function else (),
                authorization_type=item.get("AuthorizationType", "NONE"),
            )
        )
        settings = {**stage.get("DefaultRouteSettings", {}), **stage.get("RouteSettings", {}).get(item["RouteKey"], {})}
        if "ThrottlingRateLimit" in settings or "ThrottlingBurstLimit" in settings:
            buckets[item["RouteKey"]] = TokenBucket(
                float(settings.get("ThrottlingRateLimit", 0)), int(settings.get("ThrottlingBurstLimit", 0))
            )
    return ApiConfig(api_id, tuple(routes), buckets)


def is_text(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return bool(TEXT_TYPES.match(media_type))


def request_id() -> str:
    """An id shaped like API Gateway's ``apigw-requestid`` (16 characters, base64 alphabet)."""
    return base64.b64encode(secrets.token_bytes(12)).decode()[:15] + "="


def build_event(
    *,
    api_id: str,
    account_id: str,
    route_key: str,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    path_parameters: Mapping[str, str],
    request_id: str,
    now: datetime,
    protocol: str = "HTTP/1.1",
) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway sends a Lambda proxy integration."""
    path, _, raw_query = target.partition("?")
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        name = name.lower()
        if name == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    host = joined.get("host", "")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": joined,
    }
    if cookies:
        event["cookies"] = cookies
    if raw_query:
        query: dict[str, str] = {}
        for name, value in parse_qsl(raw_query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0],
        "http": {
            "method": method,
            "path": path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": DEFAULT_STAGE,
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body:
        text = is_text(joined.get("content-type"))
        try:
            event["body"] = body.decode() if text else None
        except UnicodeDecodeError:  # "text" that is not UTF-8 cannot travel as a JSON string either
            text = False
        if not text:
            event["body"] = base64.b64encode(body).decode()
        event["isBase64Encoded"] = not text
    else:
        event["isBase64Encoded"] = False
    return event


def http_response(result: InvokeResult) -> tuple[int, dict[str, str], list[str], bytes]:
    """Status, headers, cookies and body for the caller, from a payload format 2.0 function answer."""
    if result.function_error:
        status, headers, body = INTERNAL_SERVER_ERROR
        return status, headers, [], body
    try:
        answer = json.loads(result.payload)
    except ValueError:
        status, headers, body = INTERNAL_SERVER_ERROR
        return status, headers, [], body
    if not (isinstance(answer, dict) and "statusCode" in answer):
        # Format 2.0 infers a response from any other JSON value.
        return 200, {"content-type": "application/json"}, [], result.payload
    try:
        status = int(answer["statusCode"])
        headers = {str(k).lower(): str(v) for k, v in (answer.get("headers") or {}).items()}
        cookies = [str(c) for c in answer.get("cookies") or []]
        raw = answer.get("body")
        if raw is None:
            body = b""
        elif answer.get("isBase64Encoded"):
            body = base64.b64decode(raw, validate=True)
        else:
            body = (raw if isinstance(raw, str) else json.dumps(raw)).encode()
    except (TypeError, ValueError, binascii.Error):
        status, headers, body = INTERNAL_SERVER_ERROR
        return status, headers, [], body
    return status, headers, cookies, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, gateway: HttpApiGateway, api_id: str) -> None:
        self.gateway, self.api_id = gateway, api_id
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # reply headers and body go out at once (no 40 ms delayed-ACK stall)

    def do_request(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, cookies, payload = self.server.gateway.handle(
            self.server.api_id, self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        self.send_response(status)
        for name, value in headers.items():
            if name not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        for cookie in cookies:
            self.send_header("set-cookie", cookie)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_request

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        log.debug("%s %s", self.address_string(), format % args)


class HttpApiGateway:
    """The loopback endpoints of the emulator's HTTP APIs (``serve(api_id)`` -> ``http://127.0.0.1:PORT``)."""

    def __init__(
        self,
        clients: ClientFactory,
        invoke: Invoke,
        account_id: str = "123456789012",
        region: str = "us-east-1",
        max_concurrent_invokes: int = 16,
        iam_credentials: Mapping[str, str] = IAM_CREDENTIALS,
    ) -> None:
        self._apigateway = clients("apigatewayv2")
        self._lambda = clients("lambda")
        self._invoke = invoke
        self.account_id, self.region = account_id, region
        self.iam_credentials = dict(iam_credentials)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent_invokes, thread_name_prefix="http-api-invoke")
        self._lock = threading.Lock()
        self._servers: dict[str, tuple[_Server, threading.Thread]] = {}
        self._configs: dict[str, ApiConfig] = {}

    def serve(self, api_id: str) -> str:
        """Start serving ``api_id`` (once) and return its base URL."""
        with self._lock:
            if api_id not in self._servers:
                server = _Server(self, api_id)
                thread = threading.Thread(
                    target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"http-api-{api_id}", daemon=True
                )
                thread.start()
                self._servers[api_id] = (server, thread)
        return self.url(api_id)

    def serve_all(self) -> dict[str, str]:
        """Serve every HTTP API in the emulator; their base URLs by API id."""
        apis = self._apigateway.get_apis().get("Items", [])
        return {api["ApiId"]: self.serve(api["ApiId"]) for api in apis if api.get("ProtocolType") == "HTTP"}

    def url(self, api_id: str) -> str:
        with self._lock:
            server, _ = self._servers[api_id]
        host, port = server.server_address[:2]
        return f"http://{host}:{port}"

    def refresh(self, api_id: str | None = None) -> None:
        """Forget the cached API configuration (all APIs, or one): the next request reads it again."""
        with self._lock:
            if api_id is None:
                self._configs.clear()
            else:
                self._configs.pop(api_id, None)

    def close(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> HttpApiGateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _config(self, api_id: str) -> ApiConfig:
        with self._lock:
            config = self._configs.get(api_id)
        if config is None:
            config = load_api_config(self._apigateway, self._lambda, api_id)
            with self._lock:
                self._configs[api_id] = config
        return config

    def handle(
        self, api_id: str, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, str], list[str], bytes]:
        """One request to ``api_id``: status, headers, cookies and body of the answer."""
        rid = request_id()
        try:
            status, response_headers, cookies, payload = self._answer(
                api_id, method, target, headers, body, source_ip, rid
            )
        except Exception:  # the emulator failed us: answer as API Gateway does, and say why in the log
            log.exception("API %s: %s %s failed", api_id, method, target)
            (status, response_headers, payload), cookies = INTERNAL_SERVER_ERROR, []
        return status, {**response_headers, "apigw-requestid": rid}, cookies, payload

    def _answer(
        self,
        api_id: str,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
        rid: str,
    ) -> tuple[int, dict[str, str], list[str], bytes]:
        config, path = self._config(api_id), urlsplit(target).path
        found = config.route(method, path)
        if found is None:
            status, response_headers, payload = NOT_FOUND
            return status, response_headers, [], payload
        route, params = found
        if route.authorization_type == "AWS_IAM":
            lowered = {name.lower(): value for name, value in headers}
            url = f"http://{lowered.get('host', '')}{target}"
            if (why := sigv4.refusal(method, url, lowered, body, self.iam_credentials, self.region)) is not None:
                status, response_headers, payload = _message(HTTPStatus.FORBIDDEN, why)
                return status, response_headers, [], payload
        bucket = config.buckets.get(route.key)
        if bucket is not None and not bucket.take():
            status, response_headers, payload = TOO_MANY_REQUESTS
            return status, response_headers, [], payload
        if route.function is None or route.payload_format != "2.0":
            log.error(
                "API %s route %r: only Lambda proxy integrations with payload format 2.0 are served", api_id, route.key
            )
            status, response_headers, payload = INTERNAL_SERVER_ERROR
            return status, response_headers, [], payload
        source_arn = f"arn:aws:execute-api:{self.region}:{self.account_id}:{api_id}/{DEFAULT_STAGE}/{method}{path}"
        if not route.may_invoke(source_arn):
            log.error(
                "API %s route %r: %s does not let API Gateway invoke it for %s (no lambda:Permission)",
                api_id,
                route.key,
                route.function,
                source_arn,
            )
            status, response_headers, payload = INTERNAL_SERVER_ERROR
            return status, response_headers, [], payload
        event = build_event(
            api_id=api_id,
            account_id=self.account_id,
            route_key=route.key,
            method=method,
            target=target,
            headers=[*headers, *_forwarding_headers(headers, source_ip)],
            body=body,
            source_ip=source_ip,
            path_parameters=params,
            request_id=rid,
            now=datetime.now(UTC),
        )
        future = self._pool.submit(self._invoke, route.function, json.dumps(event).encode())
        try:
            result = future.result(timeout=route.timeout_seconds)
        except FutureTimeout:
            log.warning(
                "API %s route %r: %s did not answer within %.1f s",
                api_id,
                route.key,
                route.function,
                route.timeout_seconds,
            )
            status, response_headers, payload = SERVICE_UNAVAILABLE
            return status, response_headers, [], payload
        except Exception:
            log.exception("API %s route %r: invoking %s failed", api_id, route.key, route.function)
            status, response_headers, payload = INTERNAL_SERVER_ERROR
            return status, response_headers, [], payload
        return http_response(result)


def _forwarding_headers(headers: list[tuple[str, str]], source_ip: str) -> list[tuple[str, str]]:
    """What API Gateway adds in front of the integration (trace id, forwarded-for/port/proto)."""
    present = {name.lower() for name, _ in headers}
    host = next((value for name, value in headers if name.lower() == "host"), "")
    port = host.rsplit(":", 1)[1] if ":" in host else "80"
    added = [("x-forwarded-for", source_ip), ("x-forwarded-port", port), ("x-forwarded-proto", "http")]
    if "x-amzn-trace-id" not in present:
        epoch = f"{int(time.time()):08x}"
        added.append(("x-amzn-trace-id", f"Root=1-{epoch}-{secrets.token_hex(12)}"))
    return [(name, value) for name, value in added if name not in present or name == "x-forwarded-for"]
