"""Every AWS API request that reaches the emulator, recorded where it arrives (a WSGI middleware).

The cost meter (``stackops.sandbox_meter``) counts billable requests from here: the functions' calls, the
SQS pollers' receives and deletes (the empty ones too), and the Step Functions engine's own integration
calls, which it makes back into the same server. Who made a call is the access key it was signed with
(``caller``): each function process signs with :func:`function_access_key`, the pollers with
:data:`POLLER_ACCESS_KEY`, moto's engine with ``ak``, and the sandbox's own checks with the default
``testing``, so the meter can leave the harness's reads out.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The access key the SQS event source pollers sign with.
POLLER_ACCESS_KEY = "sandbox-poller"
#: The access key the local Lambda runtime ships the functions' logs with (the platform's calls, not billed).
LOG_SHIPPER_ACCESS_KEY = "sandbox-lambda-logs"
#: The access key moto's Step Functions engine signs its service integration calls with.
ENGINE_ACCESS_KEY = "ak"
_FUNCTION_PREFIX = "function:"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def function_access_key(function_name: str) -> str:
    """The access key a function's processes sign with: its name, so the meter knows who called."""
    return f"{_FUNCTION_PREFIX}{function_name}"


def function_of(caller: str) -> str | None:
    """The function a caller's access key belongs to, or None for any other caller."""
    return caller[len(_FUNCTION_PREFIX) :] if caller.startswith(_FUNCTION_PREFIX) else None


@dataclass
class ApiCall:
    """One request: who sent it, to which service and operation, its parameters and size."""

    at: float  # time.time() when it arrived
    caller: str  # the access key id it was signed with ("" when unsigned)
    service: str  # the SigV4 scope's service: sqs, dynamodb, sns, states, secretsmanager, lambda...
    operation: str  # SendMessage, PutItem, Publish... (REST APIs: "<METHOD> <path>")
    params: Mapping[str, Any] = field(repr=False)  # the JSON body or the form/query fields
    request_bytes: int = 0
    status: int = 0
    response: bytes = field(default=b"", repr=False)  # the body the emulator answered
    #: time.time() when the emulator answered: a long poll that began before a window and returned a message
    #: inside it belongs to the window.
    finished: float = 0.0
    #: What an observer added after the call (e.g. a DynamoDB item's size before and after an update).
    notes: dict[str, Any] = field(default_factory=dict)


#: Called before the emulator handles a call; may return a function called after it, whose result is merged
#: into the call's notes.
Observer = Callable[[ApiCall], Callable[[], Mapping[str, Any]] | None]


def parse_request(environ: Mapping[str, Any], body: bytes) -> ApiCall:
    """The ApiCall a WSGI request is (without its status)."""
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    caller, service = (match.group(1), match.group(2)) if match else ("", "")
    content_type = environ.get("CONTENT_TYPE", "")
    params: dict[str, Any] = {}
    if body and "json" in content_type:
        try:
            loaded = json.loads(body)
            params = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            params = {}
    elif body and "x-www-form-urlencoded" in content_type:
        params = dict(urllib.parse.parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
    query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if service == "s3":
        operation, bucket = s3_operation(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""), query)
        return ApiCall(time.time(), caller, service, operation, {**query, "Bucket": bucket}, len(body))
    if target:
        operation = target.rsplit(".", 1)[-1]
    elif "Action" in params or "Action" in query:
        operation = str(params.get("Action") or query.get("Action"))
    else:
        operation = f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"
    return ApiCall(time.time(), caller, service, operation, {**query, **params}, len(body))


def s3_operation(method: str, path: str, query: Mapping[str, str]) -> tuple[str, str]:
    """The S3 operation and bucket of a path-style REST request (``PUT /<bucket>/<key>`` is PutObject), for the
    object and listing calls the product makes; any other is named ``<METHOD> bucket`` or ``<METHOD> object``."""
    bucket, _, key = path.lstrip("/").partition("/")
    if key:
        named = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}
        return named.get(method, f"{method} object"), bucket
    if method == "GET" and query.get("list-type") == "2":
        return "ListObjectsV2", bucket
    named = {"GET": "ListObjects", "HEAD": "HeadBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}
    if method in named and not query:
        return named[method], bucket
    return f"{method} bucket", bucket


class ApiCallLog:
    """A WSGI middleware that records every request before the emulator's app handles it."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._calls: list[ApiCall] = []
        self.observers: list[Observer] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        call = parse_request(environ, body)

        def handle() -> bytes:
            def recording_start_response(status: str, headers: Any, *args: Any) -> Any:
                call.status = int(status.split(" ", 1)[0])
                return start_response(status, headers, *args)

            answer = self._app(environ, recording_start_response)
            try:
                return b"".join(answer)
            finally:
                close = getattr(answer, "close", None)
                if close is not None:
                    close()

        return [self.record(call, handle)]

    def record(self, call: ApiCall, handle: Callable[[], bytes]) -> bytes:
        """Record ``call`` as answered by ``handle`` (which sets ``call.status``), its observers around it:
        the path of a request that reaches the emulator without HTTP (sandbox/direct.py)."""
        finishing = [done for observer in list(self.observers) if (done := observer(call)) is not None]
        try:
            call.response = handle()
            return call.response
        finally:
            for done in finishing:
                call.notes.update(done())
            call.finished = time.time()
            with self._lock:
                self._calls.append(call)

    def calls(self, since: float = 0.0) -> list[ApiCall]:
        """The calls answered so far at or after ``since`` (epoch seconds), in the order they were answered."""
        with self._lock:
            return [call for call in self._calls if call.finished >= since]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
