"""Step Functions usage from execution histories: transitions as AWS counts them, Express billing, logs.

- Standard: one transition per state entered (``...StateEntered``), and one more per retry of a task
  (a task scheduled again in the same state: its retry is a transition too), Map iterations' states and
  child executions included (a child is an execution of its own machine, metered like any other);
  https://aws.amazon.com/step-functions/pricing/ ("retries count as a transition").
- Express: one request per execution; duration from its start to its stop, rounded up to 100 ms; memory
  from what AWS says it is made of (the definition and the execution's data: the largest payload seen in
  its history), rounded up to 64 MB chunks, never below 64 MB.
- Logs: what CloudWatch Logs receives at the machine's logging level, one record per history event in the
  format Step Functions writes (``id``, ``type``, ``details``, ``previous_event_id``, ``event_timestamp``,
  ``execution_arn``), without input and output when execution data is not included
  (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html): ALL logs every event, ERROR the
  failures, FATAL the execution's own failure, OFF nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from stackops.billing_units import express_billed

LEVELS = ("ALL", "ERROR", "FATAL", "OFF")
_FATAL = frozenset({"ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"})
_ERROR_SUFFIXES = ("Failed", "TimedOut", "Aborted", "StartFailed", "SubmitFailed")
_EXECUTION_DATA = frozenset({"input", "output", "inputDetails", "outputDetails", "parameters"})
MB = 1024 * 1024
#: What a task attempt that is retried ends with (LambdaFunctionFailed, TaskTimedOut...).
_RETRIED_AFTER = ("Failed", "TimedOut")


def _type(event: Mapping[str, Any]) -> str:
    kind = event.get("type", "")
    return str(getattr(kind, "value", kind))


def transitions(events: Sequence[Mapping[str, Any]]) -> int:
    """State transitions of one execution's history: states entered plus task retries.

    A retry is a task scheduled again after its attempt failed or timed out (its ``previousEventId`` is
    that failure); the first attempt follows the state's entry. Following the chain rather than the order
    of events keeps a Map's interleaved iterations apart.
    """
    kinds = {event.get("id"): _type(event) for event in events}
    count = 0
    for event in events:
        kind = _type(event)
        retried = kinds.get(event.get("previousEventId"), "").endswith(_RETRIED_AFTER)
        if kind.endswith("StateEntered") or (kind.endswith("Scheduled") and retried):
            count += 1
    return count


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, Mapping):
            return dict(value)
    return {}


def _millis(value: Any) -> int:
    """An event's timestamp in epoch milliseconds (moto gives datetimes or ISO 8601 strings)."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, str) and not value.isdigit():
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    return int(value or 0)


def log_record(event: Mapping[str, Any], execution_arn: str, include_execution_data: bool) -> bytes:
    """The CloudWatch Logs record Step Functions writes for one history event."""
    details = _details(event)
    if not include_execution_data:
        details = {k: v for k, v in details.items() if k not in _EXECUTION_DATA}
    record = {
        "id": str(event.get("id", "")),
        "type": _type(event),
        "details": details,
        "previous_event_id": str(event.get("previousEventId", "0")),
        "event_timestamp": str(_millis(event.get("timestamp"))),
        "execution_arn": execution_arn,
    }
    return json.dumps(record, separators=(",", ":"), default=str).encode()


def logged_at(level: str, event_type: str) -> bool:
    """Whether a logging level records an event of this type."""
    if level == "ALL":
        return True
    if level == "ERROR":
        return event_type in _FATAL or event_type.endswith(_ERROR_SUFFIXES)
    if level == "FATAL":
        return event_type in _FATAL
    if level == "OFF":
        return False
    raise ValueError(f"Step Functions logging level {level!r}: one of {', '.join(LEVELS)}")


def log_bytes(events: Iterable[Mapping[str, Any]], execution_arn: str) -> dict[tuple[str, bool], int]:
    """Bytes logged per (level, includeExecutionData) for every level."""
    sizes = {(level, data): 0 for level in LEVELS for data in (True, False)}
    for event in events:
        kind = _type(event)
        for data in (True, False):
            size = len(log_record(event, execution_arn, data))
            for level in LEVELS:
                if logged_at(level, kind):
                    sizes[(level, data)] += size
    return sizes


def largest_payload_bytes(events: Iterable[Mapping[str, Any]]) -> int:
    """The largest input or output any event of the history carries."""
    largest = 0
    for event in events:
        details = _details(event)
        for key in ("input", "output"):
            if isinstance(details.get(key), str):
                largest = max(largest, len(details[key].encode()))
    return largest


def express_billing(
    started: datetime,
    stopped: datetime,
    definition_bytes: int,
    events: Sequence[Mapping[str, Any]],
    cold_wait_seconds: float = 0.0,
) -> tuple[float, float]:
    """(billed ms, billed MB) of one Express execution; ``cold_wait_seconds`` of its wall time (waiting
    for a cold task function's init) left out."""
    duration_ms = max(0.0, ((stopped - started).total_seconds() - cold_wait_seconds) * 1000)
    memory_mb = (definition_bytes + largest_payload_bytes(events)) / MB
    return express_billed(duration_ms, memory_mb)
