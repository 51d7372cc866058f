"""Application-level tracking of the sqs architecture: one log line per record a step finishes.

A Step Functions execution's history already holds every state's input, output, error, retries and
timing; a chain of queues keeps none of it. The original article's "requires you to implement
application-level tracking" is this module: on each receive of a record, the step logs what it was given,
what it produced or why it failed, how long it ran, how long the message had waited in its queue, and which
receive it was, all on a line that carries the delivery id (``correlation_id``). ``python -m stackops
trace`` rebuilds a delivery's path from these lines (stackops/trace.py).

This module exists only for observability: ``stackops`` counts its lines in the comparison.
"""

from __future__ import annotations

import json
import time
from typing import Any

from functions.common.events import SQSRecord
from functions.common.models import Message, Page, result_wire
from functions.common.observability import logger

#: The ``message`` of the tracking lines: what ``stackops trace`` looks for.
STEP_SUCCEEDED = "step succeeded"
STEP_FAILED = "step failed"
STEP_WAITING = "step waiting out a rate limit"


def record_keys(step: str, record: SQSRecord, duration_ms: float | None) -> dict[str, Any]:
    """What every tracking line says about the record: the step, the receive, the queue wait, its input."""
    keys: dict[str, Any] = {
        "step": step,
        "messageId": record.message_id,
        "receiveCount": int(record.attributes.approximate_receive_count),
        "queue": str(record.get("eventSourceARN") or "").rpartition(":")[2] or None,
        "input": _json_or_text(record.body),
    }
    sent = record.attributes.get("SentTimestamp")  # Lambda always sends it; hand-made events may not
    if sent:
        # since the message was sent to this queue (a retry counts from the first send, as SQS keeps it)
        keys["queuedMs"] = max(0, int(time.time() * 1000) - int(sent))
    if duration_ms is not None:
        keys["durationMs"] = round(duration_ms, 1)
    return keys


def succeeded(step: str, record: SQSRecord, duration_ms: float | None, output: Any) -> None:
    logger.info(STEP_SUCCEEDED, extra={**record_keys(step, record, duration_ms), "output": wire(output)})


def waiting(step: str, record: SQSRecord, duration_ms: float | None, wait_seconds: int, reason: str) -> None:
    logger.warning(
        STEP_WAITING,
        extra={**record_keys(step, record, duration_ms), "waitSeconds": wait_seconds, "error": reason},
    )


def failed(step: str, record: SQSRecord, duration_ms: float | None, error: Exception, *, parked: bool) -> None:
    """Logged from the ``except`` block that caught ``error`` (the line carries its traceback)."""
    logger.exception(
        STEP_FAILED,
        extra={
            **record_keys(step, record, duration_ms),
            "errorType": type(error).__name__,
            "error": str(error),
            # the last receive: the message goes to the dead-letter queue
            "parked": parked,
        },
    )


def wire(output: Any) -> Any:
    """A step's result as the next step receives it (a list of messages as the items it fans out to)."""
    if output is None:
        return None
    if isinstance(output, Message | Page | list | tuple):
        return result_wire(output)
    return str(output)


def _json_or_text(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body
