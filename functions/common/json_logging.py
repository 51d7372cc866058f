"""Structured JSON log lines with the standard library only, field for field as Powertools' Logger writes them.

The receiver's hot path cannot afford Powertools (importing its Logger, Metrics and Tracer costs more
than the receiver's whole cold-start budget), but its lines must read like every other function's:
the same keys in the same order (``level``, ``location``, ``message``, ``timestamp``, ``service``,
``cold_start``, the Lambda context's ``function_*``, ``correlation_id``, the appended keys, the
``extra`` of the call, ``exception``/``exception_name``/``stack_trace`` for an exception, then
``xray_trace_id``), so
that stackops and CloudWatch Logs Insights queries read both alike, and the delivery id is on every line
of an invocation (:meth:`JsonLogger.inject_lambda_context`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., Any])

#: Attributes every ``logging.LogRecord`` has: anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_UNDEFINED_SERVICE = "service_undefined"


def _trace_id() -> str | None:
    """The X-Ray trace id of the invocation (``Root=`` of ``_X_AMZN_TRACE_ID``), as Powertools logs it."""
    header = os.environ.get("_X_AMZN_TRACE_ID", "")
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == "Root" and value:
            return value
    return None


def _timestamp(created: float) -> str:
    """``2026-12-02 19:01:52,083+0000``: Powertools' default ``%Y-%m-%d %H:%M:%S,%F%z``."""
    moment = time.localtime(created)
    milliseconds = int(created % 1 * 1000)
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', moment)},{milliseconds:03d}{time.strftime('%z', moment)}"


def _stack_trace(exception: BaseException | None) -> dict[str, Any]:
    """Powertools' ``stack_trace``: the exception and its frames, innermost last."""
    frames = traceback.extract_tb(exception.__traceback__) if exception is not None else []
    return {
        "type": type(exception).__name__,
        "value": str(exception),
        "module": type(exception).__module__,
        "frames": [{"file": f.filename, "line": f.lineno, "function": f.name, "statement": f.line} for f in frames],
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per record: the logger's keys, then the record's ``extra``, then the exception."""

    def __init__(self, keys: Callable[[], Mapping[str, Any]]) -> None:
        super().__init__()
        self._keys = keys

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": _timestamp(record.created),
        }
        line.update(self._keys())
        line.update({key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES})
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = self.formatException(record.exc_info)
            line["exception_name"] = record.exc_info[0].__name__
            line["stack_trace"] = _stack_trace(record.exc_info[1])
        trace_id = _trace_id()
        if trace_id:
            line["xray_trace_id"] = trace_id
        return json.dumps(line, default=str, separators=(",", ":"))


class JsonLogger:
    """The part of Powertools' ``Logger`` the receiver uses: ``info``/``warning``/``error``/``exception``
    with ``extra``, ``append_keys`` and ``inject_lambda_context``."""

    def __init__(self, service: str | None = None, level: str | None = None) -> None:
        self.service = service or os.environ.get("POWERTOOLS_SERVICE_NAME") or _UNDEFINED_SERVICE
        self._logger = logging.getLogger(f"{self.service}.json")
        self._logger.propagate = False
        self._logger.setLevel((level or os.environ.get("POWERTOOLS_LOG_LEVEL") or "INFO").upper())
        self.registered_handler = logging.StreamHandler(sys.stdout)
        self.registered_handler.setFormatter(JsonFormatter(self._current_keys))
        self._logger.handlers = [self.registered_handler]
        self._context: dict[str, Any] = {}
        self._appended: dict[str, Any] = {}
        self._cold_start = True

    def _current_keys(self) -> dict[str, Any]:
        return {"service": self.service, **self._context, **self._appended}

    def append_keys(self, **keys: Any) -> None:
        """Keys on every following line of this invocation (a None value is left out, as Powertools does)."""
        self._appended.update({key: value for key, value in keys.items() if value is not None})

    def set_correlation_id(self, value: str | None) -> None:
        self._context.pop("correlation_id", None)
        if value is not None:
            self._context["correlation_id"] = value

    def _log(self, level: int, message: str, extra: Mapping[str, Any] | None, exc_info: bool = False) -> None:
        self._logger.log(level, message, extra=dict(extra or {}), exc_info=exc_info, stacklevel=3)

    def info(self, message: str, extra: Mapping[str, Any] | None = None) -> None:
        self._log(logging.INFO, message, extra)

    def warning(self, message: str, extra: Mapping[str, Any] | None = None) -> None:
        self._log(logging.WARNING, message, extra)

    def error(self, message: str, extra: Mapping[str, Any] | None = None) -> None:
        self._log(logging.ERROR, message, extra)

    def exception(self, message: str, extra: Mapping[str, Any] | None = None) -> None:
        self._log(logging.ERROR, message, extra, exc_info=True)

    def inject_lambda_context(
        self, correlation_id: Callable[[Mapping[str, Any]], str | None]
    ) -> Callable[[Handler], Handler]:
        """Every line of an invocation carries the Lambda context, ``cold_start`` and ``correlation_id`` (read
        from the event by ``correlation_id``); the keys appended during the previous invocation are gone."""

        def decorate(handler: Handler) -> Handler:
            @functools.wraps(handler)
            def wrapper(event: Mapping[str, Any], context: Any) -> Any:
                self._appended = {}
                self._context = {
                    "cold_start": self._cold_start,
                    "function_name": context.function_name,
                    "function_memory_size": int(context.memory_limit_in_mb),
                    "function_arn": context.invoked_function_arn,
                    "function_request_id": context.aws_request_id,
                }
                self._cold_start = False
                self.set_correlation_id(correlation_id(event))
                return handler(event, context)

            return wrapper  # type: ignore[return-value]

        return decorate


logger = JsonLogger()
