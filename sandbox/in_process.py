"""botocore clients that reach the emulator's WSGI app in their own thread instead of over loopback HTTP.

The sandbox's own callers (the SQS pollers, the HTTP API, the Step Functions engine's task states, the
log shipper, the harness's checks) live in the process that serves the emulator. Over loopback each call
costs an HTTP round trip on both ends: urllib3 and http.client on the client side, a server thread,
werkzeug's request parsing and response writing on the other. :func:`attach` hands the signed request to
the same WSGI app the server runs (``EmbeddedAws.api_calls``: the call log, then moto's dispatcher) in
the calling thread, built as werkzeug's server builds the environ; so the meter records the call the same,
and moto answers it the same (its errors, the sandbox's fixes). What is left out is only the socket.

Function processes still call over HTTP: they are other processes.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.client import BaseClient
from botocore.compat import HTTPHeaders
from werkzeug.exceptions import InternalServerError

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
#: Marks the responses this module made (tests check that a client took the in-process path).
IN_PROCESS_HEADER = "x-sandbox-in-process"


class _RawBody(io.BytesIO):
    """A response body as botocore reads a raw one (``read``, and ``stream`` for streaming members)."""

    def stream(self, **_: Any) -> Iterable[bytes]:
        while chunk := self.read(65536):
            yield chunk


def _latin1(text: str) -> str:
    """PEP 3333's "bytes as latin-1" str, as werkzeug's server puts a path into the environ."""
    return text.encode().decode("latin1")


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    if hasattr(body, "read"):
        data = body.read()
        return data.encode() if isinstance(data, str) else bytes(data)
    return b"".join(body)


def environ_for(request: AWSPreparedRequest, body: bytes) -> dict[str, Any]:
    """The WSGI environ werkzeug's server would build for ``request`` (serving.py ``make_environ``)."""
    url = urlsplit(request.url)
    target = url.path + (f"?{url.query}" if url.query else "")
    port = str(url.port or (443 if url.scheme == "https" else 80))
    environ: dict[str, Any] = {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url.scheme or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": _latin1(unquote(url.path)),
        "QUERY_STRING": _latin1(url.query),
        "REQUEST_URI": _latin1(target),
        "RAW_URI": _latin1(target),
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": 0,
        "SERVER_NAME": url.hostname or "127.0.0.1",
        "SERVER_PORT": port,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": url.netloc,
    }
    for key, value in request.headers.items():
        if "_" in key:
            continue
        name = key.upper().replace("-", "_")
        text = (value.decode("latin1") if isinstance(value, bytes) else str(value)).replace("\r\n", "")
        if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[name] = text
        elif name != "HOST":
            environ[f"HTTP_{name}"] = f"{environ[f'HTTP_{name}']},{text}" if f"HTTP_{name}" in environ else text
    environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def call_app(app: WsgiApp, request: AWSPreparedRequest) -> AWSResponse:
    """Run ``request`` through ``app`` and answer what the server would have sent back."""
    body = _body_bytes(request.body)
    environ = environ_for(request, body)
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        answer["status"], answer["headers"] = status, headers
        return lambda data: None

    try:
        chunks = app(environ, start_response)
        try:
            content = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
    except Exception:  # as werkzeug's server does: log it and answer 500
        log.exception("the emulator failed on %s %s", request.method, request.url)
        answer.clear()
        content = b"".join(InternalServerError()(environ, start_response))
    headers = HTTPHeaders()
    for name, value in answer["headers"]:
        headers[name] = value
    headers[IN_PROCESS_HEADER] = "1"
    return AWSResponse(request.url, int(answer["status"].split(" ", 1)[0]), headers, _RawBody(content))


def attach(client: BaseClient, app: Callable[[], WsgiApp | None]) -> BaseClient:
    """Send ``client``'s requests to ``app()`` in process; while it returns None they go over HTTP."""

    def before_send(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        target = app()
        return None if target is None else call_app(target, request)

    client.meta.events.register_first("before-send", before_send)
    return client
