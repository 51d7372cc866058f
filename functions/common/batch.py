"""Run an SQS batch's records at once, in threads, and answer before the function times out.

Powertools' ``BatchProcessor`` runs records one after another: ten records that each wait up to 15 s
on GitHub outlast a 30 s function, the invocation times out, and the whole batch comes back with no
per-record report. Here every record of the batch starts at once in its own thread (a batch holds at
most ``sqsBatchSize`` records), and the handler answers when all are done or when the invocation's
remaining time (``context.get_remaining_time_in_millis()``) reaches :data:`REPLY_MARGIN_MS`, whichever
comes first. A record still running then is reported as a batch item failure (:class:`RecordTimedOut`)
like any failing record, so it is retried alone.

Records that must not run at the same moment share a ``serial_key`` (the store step's: the item it
writes): they run one after another in one thread, in the order received, so a duplicate in the same
batch finds the first one's work done (stored and notified) instead of racing it. Records without a key,
or with keys of their own, run at once.

A record without a serial key, or the first of its key, starts at once, so it is never skipped for lack
of time: every receive the record's ``ApproximateReceiveCount`` counts is one in which it really ran. Only
a duplicate still waiting for its turn at the deadline is reported without running (its retry finds the
first one's work done), so the last-receive failure notification and the dead-letter queue follow records
that failed, ran out of time, or were duplicates of a record that did.

Threads run only the step (``run``); what follows (``complete``: forwarding, counting; ``fail``: the
one per-record failure hook) runs in the calling thread, one record after another, so the SQS and SNS
calls and the failure path stay single-threaded. A step still running at the deadline keeps its thread
(Python cannot stop one) but its result is dropped, never forwarded: its retry does the work again, and
every side effect of a step is idempotent (a team membership PUT, conditional writes).

Tracing: each record runs in an X-Ray subsegment named ``trace_name``, annotated with its correlation id
(``functions.common.tracing``); the X-Ray SDK's current entity is per thread, so the record threads are
handed the handler's entity first and their subsegments nest under the invocation.

Logging: Powertools' ``append_keys`` (``set_correlation_id``) is process-wide, so each record's
correlation id is set with ``thread_safe_append_keys`` (a context variable: each thread has its own)
in the thread that runs or finishes it, and cleared after. boto3 clients are thread-safe but creating
them from the default session is not: callers create the clients the threads use beforehand.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from functions.common import tracing
from functions.common.events import SQSRecord
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
    serial_key: Callable[[SQSRecord], Hashable | None] | None = None,
    trace_name: str = "record",
) -> dict[str, Any]:
    """Run ``run`` on every record at once; the partial batch response (``batchItemFailures``).

    ``complete(record, result)`` is called for each record whose ``run`` returned in time;
    ``fail(record, error)`` from inside the ``except`` block, for each record whose ``run`` or
    ``complete`` raised, or that was still running (or still waiting for its turn) at the deadline
    (``RecordTimedOut``). Records with the same non-None ``serial_key`` run one after another.
    """
    if not records:
        return {"batchItemFailures": []}
    budget_ms = context.get_remaining_time_in_millis() - REPLY_MARGIN_MS
    futures: list[Future[R]] = [Future() for _ in records]
    deadline_passed = threading.Event()
    parent_entity = tracing.current_entity()

    def run_in_turn(chain: list[int]) -> None:
        with tracing.continued_in_thread(parent_entity):
            for index in chain:
                if deadline_passed.is_set() or not futures[index].set_running_or_notify_cancel():
                    return  # the handler has answered: the rest of the chain is reported for a retry
                record = records[index]
                try:
                    futures[index].set_result(_run_record(run, record, correlation_id(record), trace_name))
                except BaseException as error:
                    futures[index].set_exception(error)

    chains = _chains(records, serial_key)
    pool = ThreadPoolExecutor(max_workers=len(chains), thread_name_prefix="record")
    try:
        for chain in chains:
            pool.submit(run_in_turn, chain)
        _, running = wait(futures, timeout=max(0.0, budget_ms / 1000))
        deadline_passed.set()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    failures: list[dict[str, str]] = []
    for record, future in zip(records, futures, strict=True):
        with _correlation_id(correlation_id(record)):
            try:
                if future in running:
                    raise RecordTimedOut(
                        f"record {record.message_id} still running or waiting for its turn when "
                        f"{REPLY_MARGIN_MS} ms of the invocation were left (it had {max(0, budget_ms)} ms): "
                        "reported for a retry"
                    )
                complete(record, future.result())
            except Exception as error:
                fail(record, error)
                failures.append({"itemIdentifier": record.message_id})
    return {"batchItemFailures": failures}


def _chains(records: Sequence[SQSRecord], serial_key: Callable[[SQSRecord], Hashable | None] | None) -> list[list[int]]:
    """The records' indexes, grouped: one chain per serial key (in receive order), one per keyless record."""
    chains: list[list[int]] = []
    by_key: dict[Hashable, list[int]] = {}
    for index, record in enumerate(records):
        key = serial_key(record) if serial_key is not None else None
        if key is None:
            chains.append([index])
        elif key in by_key:
            by_key[key].append(index)
        else:
            by_key[key] = [index]
            chains.append(by_key[key])
    return chains


def _run_record(run: Callable[[SQSRecord], R], record: SQSRecord, correlation_id: str, trace_name: str) -> R:
    with (
        _correlation_id(correlation_id),
        tracing.record_subsegment(trace_name, correlation_id, record.attributes.aws_trace_header),
    ):
        return run(record)


@contextmanager
def _correlation_id(value: str) -> Iterator[None]:
    """This thread's log lines carry ``value`` as their correlation id, for the duration."""
    logger.thread_safe_append_keys(correlation_id=value)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(["correlation_id"])
