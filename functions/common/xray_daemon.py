"""The receiver's X-Ray tracing with the standard library only: subsegments sent to the X-Ray daemon over UDP.

Importing the X-Ray SDK (with Powertools' Tracer on it) costs more than the receiver's whole cold-start
budget, and the receiver needs little of it. With active tracing Lambda records the function's segment
itself; what the function adds, the same as Powertools' ``capture_lambda_handler`` and the SDK's botocore
patch add elsewhere, is:

- the ``## handler`` subsegment of each sampled invocation, annotated ``ColdStart``, ``Service`` and the
  ``DeliveryId`` (:meth:`Tracer.put_annotation`), the response or the exception as metadata;
- a subsegment per AWS call (namespace ``aws``: service, operation, region, request id, HTTP status) whose
  id goes to AWS in the ``X-Amzn-Trace-Id`` header, so Step Functions continues the trace under it
  (:meth:`Tracer.instrument`, botocore event handlers on the client);
- the header the next hop carries (:meth:`Tracer.trace_header`), ``## handler`` as its parent.

The subsegments go as one document to the daemon (``AWS_XRAY_DAEMON_ADDRESS``) when the handler ends,
in the daemon's UDP protocol (a ``{"format": "json", "version": 1}`` line, then the document), a
subsegment of the Lambda segment named in ``_X_AMZN_TRACE_ID``. Nothing is recorded when tracing is off
(``POWERTOOLS_TRACE_DISABLED``, as the other functions' Tracer reads it), outside Lambda, or when the
invocation is not sampled; the header is then the invocation's own, as the SDK passes it on.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from functions.common.xray_header import TRACE_HEADER_ENV, header_fields, trace_header_from

Handler = TypeVar("Handler", bound=Callable[..., Any])

DISABLED_ENV = "POWERTOOLS_TRACE_DISABLED"
DAEMON_ADDRESS_ENV = "AWS_XRAY_DAEMON_ADDRESS"
DEFAULT_DAEMON_ADDRESS = "127.0.0.1:2000"
PROTOCOL_HEADER = b'{"format": "json", "version": 1}\n'
_TRUE = frozenset({"1", "true", "t", "y", "yes", "on"})
_HANDLER_NAME = "## handler"
_TRACE_HEADER_HTTP = "X-Amzn-Trace-Id"


@dataclass
class Subsegment:
    name: str
    trace_id: str
    parent_id: str
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    start_time: float = field(default_factory=time.time)
    end_time: float | None = None
    namespace: str | None = None
    annotations: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    aws: dict[str, Any] = field(default_factory=dict)
    http: dict[str, Any] = field(default_factory=dict)
    fault: bool = False
    error: bool = False
    cause: dict[str, Any] | None = None
    subsegments: list[Subsegment] = field(default_factory=list)

    def close(self, exception: BaseException | None = None) -> None:
        self.end_time = time.time()
        if exception is not None:
            self.fault = True
            frames = traceback.extract_tb(exception.__traceback__)
            self.cause = {
                "working_directory": os.getcwd(),
                "exceptions": [
                    {
                        "id": secrets.token_hex(8),
                        "message": str(exception),
                        "type": type(exception).__name__,
                        "stack": [{"path": f.filename, "line": f.lineno, "label": f.name} for f in frames[-10:]],
                    }
                ],
            }

    def document(self, top: bool = True) -> dict[str, Any]:
        document: dict[str, Any] = {"id": self.id, "name": self.name, "start_time": self.start_time}
        if top:  # an independent subsegment names its trace and parent
            document |= {"type": "subsegment", "trace_id": self.trace_id, "parent_id": self.parent_id}
        document["end_time"] = self.end_time if self.end_time is not None else time.time()
        optional = {
            "namespace": self.namespace,
            "annotations": self.annotations,
            "metadata": self.metadata,
            "aws": self.aws,
            "http": self.http,
            "cause": self.cause,
        }
        document |= {key: value for key, value in optional.items() if value}
        if self.fault:
            document["fault"] = True
        if self.error:
            document["error"] = True
        if self.subsegments:
            document["subsegments"] = [child.document(top=False) for child in self.subsegments]
        return document


def daemon_address(environ: Mapping[str, str] = os.environ) -> tuple[str, int]:
    """The daemon's UDP address: ``host:port``, or the ``tcp:host:port udp:host:port`` form."""
    value = environ.get(DAEMON_ADDRESS_ENV) or DEFAULT_DAEMON_ADDRESS
    for part in value.split():
        if part.startswith("udp:"):
            value = part[len("udp:") :]
    host, _, port = value.rpartition(":")
    return host, int(port)


def send(document: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> None:
    """One document to the daemon; a failure to send is never the invocation's failure."""
    payload = PROTOCOL_HEADER + json.dumps(document, default=str, separators=(",", ":")).encode()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(payload, daemon_address(environ))
    except OSError:
        pass


class Tracer:
    def __init__(self, service: str | None = None) -> None:
        self.service = service or os.environ.get("POWERTOOLS_SERVICE_NAME") or "service_undefined"
        self._cold_start = True
        self._stack: list[Subsegment] = []

    @staticmethod
    def enabled(environ: Mapping[str, str] = os.environ) -> bool:
        """Tracing is on: not disabled, in Lambda, and the invocation sampled."""
        if environ.get(DISABLED_ENV, "").strip().lower() in _TRUE or not environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            return False
        return header_fields(environ.get(TRACE_HEADER_ENV)).get("Sampled") == "1"

    @property
    def current(self) -> Subsegment | None:
        return self._stack[-1] if self._stack else None

    def put_annotation(self, key: str, value: str | bool | int | float) -> None:
        if self.current is not None:
            self.current.annotations[key] = value

    def trace_header(self, environ: Mapping[str, str] = os.environ) -> str | None:
        """The header to send on: this invocation's trace with the current subsegment as parent; the
        invocation's own header when nothing is recorded (not sampled); None when tracing is disabled."""
        if environ.get(DISABLED_ENV, "").strip().lower() in _TRUE:
            return None
        current = self.current
        return trace_header_from(
            environ.get(TRACE_HEADER_ENV),
            current.trace_id if current else None,
            current.id if current else None,
            current is not None,
        )

    def capture_lambda_handler(self, handler: Handler) -> Handler:
        """Record each sampled invocation in a ``## handler`` subsegment, sent to the daemon when it ends."""

        @functools.wraps(handler)
        def wrapper(event: Mapping[str, Any], context: Any) -> Any:
            cold_start, self._cold_start = self._cold_start, False
            fields = header_fields(os.environ.get(TRACE_HEADER_ENV))
            if not (self.enabled() and fields.get("Root") and fields.get("Parent")):
                return handler(event, context)
            segment = Subsegment(_HANDLER_NAME, fields["Root"], fields["Parent"])
            segment.annotations |= {"ColdStart": cold_start, "Service": self.service}
            self._stack = [segment]
            try:
                response = handler(event, context)
            except BaseException as exception:
                segment.metadata[self.service] = {f"{handler.__name__} error": repr(exception)}
                segment.close(exception)
                raise
            else:
                segment.metadata[self.service] = {f"{handler.__name__} response": response}
                segment.close()
                return response
            finally:
                self._stack = []
                send(segment.document())

        return wrapper  # type: ignore[return-value]

    # --- AWS calls (botocore event handlers) ---------------------------------------------------------

    def instrument(self, client: Any) -> Any:
        """Record ``client``'s calls as ``aws`` subsegments (idempotent); return the client."""
        events = client.meta.events
        events.register("before-call.*.*", self._before_call, unique_id="xray-daemon-before-call")
        events.register("before-send.*.*", self._before_send, unique_id="xray-daemon-before-send")
        events.register("after-call.*.*", self._after_call, unique_id="xray-daemon-after-call")
        events.register("after-call-error.*.*", self._after_call_error, unique_id="xray-daemon-after-call-error")
        return client

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        parent = self.current
        if parent is None:
            return
        call = Subsegment(_service_name(model.service_model), parent.trace_id, parent.id, namespace="aws")
        call.aws = {"operation": model.name, "region": os.environ.get("AWS_REGION", "")}
        parent.subsegments.append(call)
        self._stack.append(call)
        context["xray_daemon_subsegment"] = call

    def _before_send(self, request: Any, **_: Any) -> None:
        current = self.current
        if current is not None and current.namespace == "aws":
            request.headers[_TRACE_HEADER_HTTP] = f"Root={current.trace_id};Parent={current.id};Sampled=1"

    def _end_call(self, context: Mapping[str, Any], http_response: Any, parsed: Mapping[str, Any] | None) -> None:
        call = context.get("xray_daemon_subsegment")
        if call is None:
            return
        status = getattr(http_response, "status_code", None)
        metadata = (parsed or {}).get("ResponseMetadata", {})
        if metadata.get("RequestId"):
            call.aws["request_id"] = metadata["RequestId"]
        if status is not None:
            call.http = {"response": {"status": status}}
            call.error = 400 <= status < 500
            call.fault = status >= 500
        call.close()
        if self._stack and self._stack[-1] is call:
            self._stack.pop()

    def _after_call(self, http_response: Any, parsed: Mapping[str, Any], context: Mapping[str, Any], **_: Any) -> None:
        self._end_call(context, http_response, parsed)

    def _after_call_error(self, context: Mapping[str, Any], exception: BaseException, **_: Any) -> None:
        call = context.get("xray_daemon_subsegment")
        if call is not None:
            call.close(exception)
            if self._stack and self._stack[-1] is call:
                self._stack.pop()


def _service_name(service_model: Any) -> str:
    """The subsegment name the X-Ray SDK gives an AWS call: the endpoint prefix (``sqs``, ``states``...)."""
    return str(service_model.metadata["endpointPrefix"])
