"""Run an SQS batch's records at once, in threads, and answer before the function times out.

Powertools' ``BatchProcessor`` runs records one after another: ten records that each wait up to 15 s
on GitHub outlast a 30 s function, the invocation times out, and the whole batch comes back with no
per-record report. Here every record of the batch starts at once in its own thread (a batch holds at
most ``sqsBatchSize`` records), and the handler answers when all are done or when the invocation's
remaining time (``context.get_remaining_time_in_millis()``) reaches :data:`REPLY_MARGIN_MS`, whichever
comes first. A record still running then is reported as a batch item failure (:class:`RecordTimedOut`)
like any failing record, so it is retried alone.

Since every record starts at once, no record is ever skipped for lack of time: every receive the
record's ``ApproximateReceiveCount`` counts is one in which it really ran, so the last-receive failure
notification and the dead-letter queue only ever follow records that failed or ran out of time.

Threads run only the step (``run``); what follows (``complete``: forwarding, counting; ``fail``: the
one per-record failure hook) runs in the calling thread, one record after another, so the SQS and SNS
calls and the failure path stay single-threaded. A step still running at the deadline keeps its thread
(Python cannot stop one) but its result is dropped, never forwarded: its retry does the work again, and
every side effect of a step is idempotent (a team membership PUT, conditional writes).

Logging: Powertools' ``append_keys`` (``set_correlation_id``) is process-wide, so each record's
correlation id is set with ``thread_safe_append_keys`` (a context variable: each thread has its own)
in the thread that runs or finishes it, and cleared after. boto3 clients are thread-safe but creating
them from the default session is not: callers create the clients the threads use beforehand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from functions.common.observability import logger

#: Time kept, of the invocation's remaining time, to forward the finished records' results, publish
#: last-receive notifications and answer: a few SQS/SNS calls of a few hundred milliseconds each.
REPLY_MARGIN_MS = 3_000

R = TypeVar("R")


class RemainingTime(Protocol):
    """The part of the Lambda context this module reads."""

    def get_remaining_time_in_millis(self) -> int: ...


class RecordTimedOut(TimeoutError):
    """The record's step had not finished when the invocation had to answer; it is retried alone."""


def process_batch(
    records: Sequence[SQSRecord],
    context: RemainingTime,
    *,
    correlation_id: Callable[[SQSRecord], str],
    run: Callable[[SQSRecord], R],
    complete: Callable[[SQSRecord, R], None],
    fail: Callable[[SQSRecord, Exception], None],
) -> dict[str, Any]:
    """Run ``run`` on every record at once; the partial batch response (``batchItemFailures``).

    ``complete(record, result)`` is called for each record whose ``run`` returned in time;
    ``fail(record, error)`` from inside the ``except`` block, for each record whose ``run`` or
    ``complete`` raised, or that was still running at the deadline (``RecordTimedOut``).
    """
    if not records:
        return {"batchItemFailures": []}
    budget_ms = context.get_remaining_time_in_millis() - REPLY_MARGIN_MS
    pool = ThreadPoolExecutor(max_workers=len(records), thread_name_prefix="record")
    try:
        futures: list[Future[R]] = [
            pool.submit(_run_with_correlation_id, run, record, correlation_id(record)) for record in records
        ]
        _, running = wait(futures, timeout=max(0.0, budget_ms / 1000))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    failures: list[dict[str, str]] = []
    for record, future in zip(records, futures, strict=True):
        with _correlation_id(correlation_id(record)):
            try:
                if future in running:
                    raise RecordTimedOut(
                        f"record {record.message_id} still running when {REPLY_MARGIN_MS} ms of the "
                        f"invocation were left (it had {max(0, budget_ms)} ms): reported for a retry"
                    )
                complete(record, future.result())
            except Exception as error:
                fail(record, error)
                failures.append({"itemIdentifier": record.message_id})
    return {"batchItemFailures": failures}


def _run_with_correlation_id(run: Callable[[SQSRecord], R], record: SQSRecord, correlation_id: str) -> R:
    with _correlation_id(correlation_id):
        return run(record)


@contextmanager
def _correlation_id(value: str) -> Iterator[None]:
    """This thread's log lines carry ``value`` as their correlation id, for the duration."""
    logger.thread_safe_append_keys(correlation_id=value)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(["correlation_id"])
