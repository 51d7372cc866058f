"""Turn a plain business step into a Lambda handler that works in both architectures.

A step is ``step(message: In) -> Out | list[Out] | Page[Out, In]`` and knows nothing of SQS or Step Functions:

- Step Functions invokes the handler with the state input; the handler returns the step's result (a list
  as ``{"items": [...], "count": n}``, a page as ``Page.state_output``: the state machine loops) and lets
  exceptions propagate, so the ASL ``Retry``/``Catch`` rules see the exception's class name as the error name.
- An SQS event source mapping invokes it with a batch; each record is processed on its own, all of them
  at once in threads (``functions.common.batch``: a batch of slow GitHub calls answers before the
  function times out), its result sent to ``NEXT_QUEUE_URL`` (a page's items, then the request for the
  next page to the step's own queue: a paginated step lists one page per message), and a failing record
  (or one still running when the invocation must answer) reported as a batch item failure, so one bad
  record does not redrive the batch. On the record's last receive before the dead-letter queue, a failure
  notification is published to ``NOTIFICATION_TOPIC_ARN`` (``_record_failed``: the one failure hook).
  A record that GitHub rate-limits is re-sent with a delay instead of failed, within
  ``RATE_LIMIT_MAX_WAIT_SECONDS`` (functions/common/rate_limits.py).
- Both: every output message carries the input's ``receivedAt`` (when the receiver got the delivery) unless
  the step set it, so the last step can report the end-to-end latency (``_carry_received_at``).
- Step Functions: the state's ``rateLimit`` (the execution's rate-limit waits so far) passes through a
  step to its output, so the waits of all steps of one execution count against one budget.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, TypeVar

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.client import BaseClient
from pydantic import ValidationError

from functions.common import github_quota, rate_limits, tracing, tracking
from functions.common.batch import process_batch
from functions.common.dispatch import correlation_attributes, sqs_client
from functions.common.errors import GitHubRateLimited
from functions.common.events import SQSRecord
from functions.common.models import Message, Notification, Page, result_wire
from functions.common.observability import delivery_keys, logger, metrics, name_deliveries, tracer
from functions.common.settings import settings

In = TypeVar("In", bound=Message)
Out = TypeVar("Out", bound=Message)
StepResult = Message | Sequence[Message] | Page[Any, Any] | None
LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

SEND_MESSAGE_BATCH_LIMIT = 10
#: The state key where the state machines count an execution's rate-limit waits (``RateLimit*`` states).
RATE_LIMIT_STATE = "rateLimit"


@dataclass(frozen=True)
class RateLimitWait:
    """A record re-sent to its queue to wait out a GitHub rate limit: nothing to forward, not a failure.

    ``wait_seconds`` is None for a further hop of a wait longer than one SQS delay.
    """

    wait_seconds: int | None
    reason: str


class ForwardingFailed(RuntimeError):
    """SQS refused some messages of a SendMessageBatch; the record is retried as a whole."""


@cache
def sns_client() -> BaseClient:
    return boto3.client("sns")


def step_handler(
    step: Callable[[In], Out | list[Out] | Page[Out, In] | None],
    input_model: type[In],
    *,
    serial_key: Callable[[In], Hashable] | None = None,
) -> LambdaHandler:
    """The Lambda handler for ``step``, whose input messages are ``input_model``.

    Records of one batch whose messages have the same ``serial_key`` run one after another
    (``functions.common.batch``); the others at once.
    """
    step_name = getattr(step, "__name__", "step")

    def run_step(message: In) -> StepResult:
        return _carry_received_at(message, step(message))

    def record_key(parsed: dict[str, In], record: SQSRecord) -> Hashable | None:
        """The record's serial key; the message it parsed is kept in ``parsed`` for its step."""
        if serial_key is None:
            return None
        try:
            message = parsed[record.message_id] = input_model.model_validate_json(record.body)
        except ValidationError:
            return None  # runs alone, and fails in its own thread with the reason
        return serial_key(message)

    def run_record(parsed: dict[str, In], durations: dict[str, float], record: SQSRecord) -> StepResult | RateLimitWait:
        """In a thread of its own: the step, or the wait of a rate-limited record (nothing else)."""
        correlation_id = _correlation_id(record)
        if rate_limits.still_waiting(record, correlation_id):
            return RateLimitWait(wait_seconds=None, reason="still waiting out a rate limit")
        started = time.perf_counter()
        try:
            message = parsed.get(record.message_id)
            return run_step(message if message is not None else input_model.model_validate_json(record.body))
        except GitHubRateLimited as error:
            if rate_limits.wait_out(record, correlation_id, error, settings().rate_limit_max_wait_seconds):
                return RateLimitWait(wait_seconds=error.wait_seconds, reason=error.reason)
            raise  # the wait budget is spent: the record fails as usual
        finally:
            durations[record.message_id] = (time.perf_counter() - started) * 1000

    def complete_record(durations: dict[str, float], record: SQSRecord, result: StepResult | RateLimitWait) -> None:
        if isinstance(result, RateLimitWait):
            if result.wait_seconds is not None:
                metrics.add_metric(name="StepRateLimited", unit=MetricUnit.Count, value=1)
                tracking.waiting(
                    step_name, record, durations.get(record.message_id), result.wait_seconds, result.reason
                )
            return
        _forward(result, record)
        _count_success()
        tracking.succeeded(step_name, record, durations.get(record.message_id), result)

    def record_failed(durations: dict[str, float], record: SQSRecord, error: Exception) -> None:
        _record_failed(step_name, record, error, durations.get(record.message_id))

    def process_records(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        # Created here, not in the record threads: creating boto3 clients is not thread-safe.
        sqs_client(), sns_client()
        parsed: dict[str, In] = {}  # message id -> its message, when the serial key has parsed it already
        durations: dict[str, float] = {}  # message id -> how long its step ran, in milliseconds
        return process_batch(
            [SQSRecord(raw) for raw in event["Records"]],
            context,
            correlation_id=_correlation_id,
            run=partial(run_record, parsed, durations),
            complete=partial(complete_record, durations),
            fail=partial(record_failed, durations),
            serial_key=partial(record_key, parsed),
            trace_name=step_name,
        )

    def run_state(state_input: dict[str, Any]) -> dict[str, Any]:
        correlation_id = state_input.get("correlationId")
        logger.set_correlation_id(correlation_id)
        if isinstance(correlation_id, str):
            tracing.annotate_delivery(correlation_id)
        try:
            output = _state_output(run_step(input_model.model_validate(state_input)))
        except Exception:
            _count_failure(step_name)
            raise
        _count_success()
        if RATE_LIMIT_STATE in state_input:  # the execution's rate-limit waits so far, for the next step's budget
            output[RATE_LIMIT_STATE] = state_input[RATE_LIMIT_STATE]
        return output

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        deliveries = _deliveries(event)
        name_deliveries(deliveries)  # the invocation's metric document names them, as every log line does
        try:
            if _is_sqs_event(event):
                return process_records(event, context)
            return run_state(event)
        finally:
            _publish_github_headroom(deliveries)

    return handler


def _deliveries(event: dict[str, Any]) -> list[str]:
    """The delivery ids an invocation works for: its records' (sqs) or its state input's (stepfunctions)."""
    if _is_sqs_event(event):
        return [_correlation_id(SQSRecord(raw)) for raw in event["Records"]]
    correlation_id = event.get("correlationId")
    return [correlation_id] if isinstance(correlation_id, str) else []


def _publish_github_headroom(deliveries: list[str]) -> None:
    """The invocation's GitHub rate-limit headroom; a metric that cannot be emitted fails nothing."""
    try:
        github_quota.publish(delivery_keys(deliveries))
    except Exception:
        logger.exception("could not publish the GitHub rate-limit headroom")


def _record_failed(step_name: str, record: SQSRecord, error: Exception, duration_ms: float | None) -> None:
    """The one per-record failure hook of the sqs architecture, called from the ``except`` block.

    Counts and logs the failure (the tracking line) and, on the record's last receive, publishes the
    failure notification; the record is then reported as a batch item failure.
    """
    parked = _receive_count(record) >= settings().max_receive_count
    metrics.add_metric(name="StepFailed", unit=MetricUnit.Count, value=1)
    tracking.failed(step_name, record, duration_ms, error, parked=parked)
    if parked:
        # the sqs equivalent of a failed execution (components/alarms.py alarms on it)
        metrics.add_metric(name="StepParked", unit=MetricUnit.Count, value=1)
        _notify_failure(step_name, record, error)


def _count_success() -> None:
    metrics.add_metric(name="StepSucceeded", unit=MetricUnit.Count, value=1)


def _count_failure(step_name: str) -> None:
    """Count and log a state's failure (with its traceback) from inside the ``except`` block that caught it."""
    metrics.add_metric(name="StepFailed", unit=MetricUnit.Count, value=1)
    logger.exception(tracking.STEP_FAILED, extra={"step": step_name})


def _is_sqs_event(event: dict[str, Any]) -> bool:
    records = event.get("Records")
    return isinstance(records, list) and bool(records) and records[0].get("eventSource") == "aws:sqs"


def _carry_received_at(message: Message, result: StepResult) -> StepResult:
    """``result`` with ``message``'s ``received_at`` on every output message that has none of its own."""
    received_at = message.received_at
    if received_at is None or result is None:
        return result

    def carried(output: Message) -> Message:
        return output if output.received_at is not None else output.model_copy(update={"received_at": received_at})

    if isinstance(result, Message):
        return carried(result)
    if isinstance(result, Page):
        following = None if result.next is None else carried(result.next)
        return result.model_copy(update={"items": [carried(item) for item in result.items], "next": following})
    return [carried(output) for output in result]


def _state_output(result: StepResult) -> dict[str, Any]:
    return {} if result is None else result_wire(result)


def _forward(result: StepResult, record: SQSRecord) -> None:
    """Send the step's result to the next queue, one message per item of a list or a page.

    A page's request for the next page goes to the queue ``record`` came from, after its items: if sending
    them fails, the record is retried before any later page is listed.
    """
    queue_url = settings().next_queue_url
    if isinstance(result, Page):
        if queue_url:
            _send_items(queue_url, result.items)
        if result.next is not None:
            _send(rate_limits.queue_url(record.event_source_arn), result.next)
        return
    if not queue_url or result is None:
        return
    if isinstance(result, Message):
        _send(queue_url, result)
        return
    _send_items(queue_url, result)


def _send(queue_url: str, message: Message) -> None:
    sqs_client().send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps(message.to_wire()),
        MessageAttributes=correlation_attributes(message.correlation_id),
        **tracing.message_system_attributes(),
    )


def _send_items(queue_url: str, items: Sequence[Message]) -> None:
    for start in range(0, len(items), SEND_MESSAGE_BATCH_LIMIT):
        _send_batch(queue_url, items[start : start + SEND_MESSAGE_BATCH_LIMIT])


def _send_batch(queue_url: str, items: Sequence[Message]) -> None:
    system_attributes = tracing.message_system_attributes()
    entries = [
        {
            "Id": str(index),
            "MessageBody": json.dumps(item.to_wire()),
            "MessageAttributes": correlation_attributes(item.correlation_id),
            **system_attributes,
        }
        for index, item in enumerate(items)
    ]
    response = sqs_client().send_message_batch(QueueUrl=queue_url, Entries=entries)
    failed = response.get("Failed", [])
    if failed:
        reasons = "; ".join(f"{entry['Id']}: {entry.get('Code')} {entry.get('Message', '')}" for entry in failed)
        raise ForwardingFailed(f"{len(failed)} of {len(entries)} messages not sent to the next queue ({reasons})")


def _correlation_id(record: SQSRecord) -> str:
    """The delivery id the record carries, or its SQS message id when a producer forgot it."""
    attribute = record.message_attributes["correlationId"]
    if attribute is not None and attribute.string_value:
        return attribute.string_value
    return record.message_id


def _receive_count(record: SQSRecord) -> int:
    return int(record.attributes.approximate_receive_count)


def _notify_failure(step_name: str, record: SQSRecord, error: Exception) -> None:
    """Tell people about a message that is on its way to the dead-letter queue.

    A failure to publish is logged, not raised: the record still fails and lands in the DLQ.
    """
    correlation_id = _correlation_id(record)
    notification = Notification(
        subject=f"{step_name} failed for delivery {correlation_id}",
        message=json.dumps(
            {
                "step": step_name,
                "correlationId": correlation_id,
                "messageId": record.message_id,
                "receiveCount": _receive_count(record),
                "errorType": type(error).__name__,
                "error": str(error),
                "outcome": "the message goes to the dead-letter queue; redrive it once the cause is fixed",
            },
            indent=2,
        ),
    )
    try:
        sns_client().publish(
            TopicArn=settings().need("notification_topic_arn"),
            Subject=notification.subject,
            Message=notification.message,
        )
    except Exception:
        logger.exception("could not publish the failure notification")
