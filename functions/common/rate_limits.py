"""sqs architecture: wait out a GitHub rate limit by re-sending the record with a delay.

A rate-limited record is not failed (each failed receive counts toward ``maxReceiveCount`` and the
dead-letter queue, and a primary limit lasts up to an hour): the adapter sends a copy of it to its own
queue, delayed by the wait GitHub asked for, and lets the original be deleted. SQS delays a message 15
minutes at most, so a longer wait takes several hops; a hop that still has waiting left re-sends the copy
again without calling GitHub (GitHub asks not to call before the reset). Two message attributes carry the
bookkeeping from copy to copy, in relative seconds only (the sandbox scales delays, not clocks):

- ``rateLimitWaitedSeconds``: the waits granted so far; a wait that would take it past
  ``RATE_LIMIT_MAX_WAIT_SECONDS`` is refused and the record fails as any other failure would;
- ``rateLimitWaitLeftSeconds``: the part of the current wait still to be delayed.

A copy starts with a receive count of 1, so waiting spends none of the record's ``maxReceiveCount``.
If the send fails the error propagates and the record fails (and is retried) as before.
"""

from __future__ import annotations

from functions.common import tracing
from functions.common.dispatch import correlation_attributes, sqs_client
from functions.common.errors import GitHubRateLimited
from functions.common.events import SQSRecord

MAX_DELAY_SECONDS = 900  # SQS: DelaySeconds is at most 15 minutes
WAITED = "rateLimitWaitedSeconds"
WAIT_LEFT = "rateLimitWaitLeftSeconds"


def queue_url(queue_arn: str) -> str:
    """The URL of the queue ``arn:aws:sqs:<region>:<account>:<name>`` (the record's ``eventSourceARN``)."""
    parts = queue_arn.split(":")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sqs"] or not all(parts[3:]):
        raise ValueError(f"eventSourceARN {queue_arn!r} is not an SQS queue ARN (arn:aws:sqs:region:account:name)")
    region, account, name = parts[3:]
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


def _seconds(record: SQSRecord, name: str) -> int:
    attribute = record.message_attributes[name]
    if attribute is None or not attribute.string_value:
        return 0
    return int(attribute.string_value)


def still_waiting(record: SQSRecord, correlation_id: str) -> bool:
    """If the record is a hop of a wait longer than one delay, send the next hop and say so."""
    left = _seconds(record, WAIT_LEFT)
    if left <= 0:
        return False
    _send(record, correlation_id, waited=_seconds(record, WAITED), left=left)
    return True


def wait_out(record: SQSRecord, correlation_id: str, error: GitHubRateLimited, max_wait_seconds: int) -> bool:
    """Re-send the record to wait ``error.wait_seconds``; False (nothing sent) if that exceeds the budget."""
    waited = _seconds(record, WAITED) + error.wait_seconds
    if waited > max_wait_seconds:
        return False
    _send(record, correlation_id, waited=waited, left=error.wait_seconds)
    return True


def _send(record: SQSRecord, correlation_id: str, *, waited: int, left: int) -> None:
    delay = min(left, MAX_DELAY_SECONDS)
    sqs_client().send_message(
        QueueUrl=queue_url(record.event_source_arn),
        MessageBody=record.body,
        DelaySeconds=delay,
        MessageAttributes={
            **correlation_attributes(correlation_id),
            WAITED: {"DataType": "Number", "StringValue": str(waited)},
            WAIT_LEFT: {"DataType": "Number", "StringValue": str(left - delay)},
        },
        **tracing.message_system_attributes(),
    )
