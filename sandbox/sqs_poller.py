"""SQS event source mappings, polled as Lambda polls them.

moto invokes a mapped function inside ``SendMessage``, one record at a time, with no batching, partial
failures or retries (the sandbox turns that off: sandbox/moto_fixes.py). :class:`EventSourcePoller` does the
job properly for each enabled mapping:

- gathers up to ``BatchSize`` records, waiting up to ``MaximumBatchingWindowInSeconds`` after the first;
- invokes the function through the emulator's Invoke API with Lambda's SQS event (records as Lambda
  formats them);
- with ``ReportBatchItemFailures``, deletes the records not reported in ``batchItemFailures``; a function
  error (or an invalid failure report) fails the whole batch; without it, success deletes the batch;
- leaves failed records in the queue: they come back after the visibility timeout with
  ``ApproximateReceiveCount`` incremented, and moto's ``ReceiveMessage`` moves a record that has reached
  the redrive policy's ``maxReceiveCount`` to the dead-letter queue.

With ``time_scale`` below 1 a failed record's visibility timeout is cut by that factor, so a record that
keeps failing reaches its dead-letter queue in seconds: it stays invisible (the queue's visibility timeout
since its receive) until ``VisibilityTimeout x time_scale`` seconds after the failure, then
``ChangeMessageVisibility`` to 0 hands it back (the API takes whole seconds only: 210 s x 0.01 must not
become 3 s).
Each mapping runs up to ``min(ScalingConfig.MaximumConcurrency, max_concurrency)`` batches at a time.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient

from sandbox.lambda_runtime import InvokeResult

log = logging.getLogger(__name__)

Invoke = Callable[[str, bytes], InvokeResult]  # (function name or ARN, payload) -> result
ClientFactory = Callable[[str], BaseClient]

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
RECEIVE_LIMIT = 10  # SQS returns at most 10 messages per ReceiveMessage
DEFAULT_MAX_CONCURRENCY = 2  # batches in flight per mapping: this machine has 2 cores
DEFAULT_POLL_WAIT_SECONDS = 1  # long-poll length while idle; also how fast stop() is noticed


@dataclass(frozen=True)
class QueueMapping:
    """What the poller needs of one SQS event source mapping."""

    uuid: str
    function_arn: str
    queue_arn: str
    queue_url: str
    batch_size: int = 10
    batching_window_seconds: float = 0.0
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None
    enabled: bool = True

    @classmethod
    def from_configuration(cls, configuration: Mapping[str, Any], queue_url: str) -> QueueMapping:
        """From a ``CreateEventSourceMapping``/``ListEventSourceMappings`` entry (the Lambda API's keys)."""
        scaling = configuration.get("ScalingConfig") or {}
        return cls(
            uuid=configuration["UUID"],
            function_arn=configuration["FunctionArn"],
            queue_arn=configuration["EventSourceArn"],
            queue_url=queue_url,
            batch_size=int(configuration.get("BatchSize") or 10),
            batching_window_seconds=float(configuration.get("MaximumBatchingWindowInSeconds") or 0),
            report_batch_item_failures=REPORT_BATCH_ITEM_FAILURES in (configuration.get("FunctionResponseTypes") or []),
            maximum_concurrency=int(scaling["MaximumConcurrency"]) if scaling.get("MaximumConcurrency") else None,
            enabled=configuration.get("State", "Enabled") in ("Enabled", "Enabling", "Creating")
            and configuration.get("Enabled", True) is not False,
        )


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message as Lambda hands it to a function (``Records[i]`` of an SQS event)."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _message_attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    attribute["stringListValues"] = list(value.get("StringListValues") or [])
    attribute["binaryListValues"] = [base64.b64encode(v).decode() for v in value.get("BinaryListValues") or []]
    attribute["dataType"] = value["DataType"]
    return attribute


def failed_message_ids(result: InvokeResult, batch_ids: Iterable[str], report_batch_item_failures: bool) -> set[str]:
    """Which records of a batch failed, by Lambda's rules for an SQS event source.

    A function error fails the whole batch. With ``ReportBatchItemFailures`` the response lists the failed
    ``itemIdentifier``s; an empty or null response is a complete success, and a response Lambda cannot
    read (not JSON, an identifier missing, empty or not in the batch) is a complete failure.
    """
    ids = set(batch_ids)
    if result.function_error:
        return ids
    if not report_batch_item_failures:
        return set()
    try:
        response = json.loads(result.payload) if result.payload.strip() else None
    except ValueError:
        return ids
    if not response:
        return set()
    if not isinstance(response, dict):
        return ids
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return ids
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in ids:
            return ids
        failed.add(identifier)
    return failed


class _MappingWorker:
    """One of a mapping's concurrent pollers: gather a batch, invoke, settle, repeat."""

    def __init__(self, poller: EventSourcePoller, mapping: QueueMapping, visibility_timeout: int) -> None:
        self.poller, self.mapping, self.visibility_timeout = poller, mapping, visibility_timeout
        self.sqs = poller.clients("sqs")
        self.thread = threading.Thread(target=self._run, name=f"sqs-poller-{mapping.uuid[:8]}", daemon=True)

    def _run(self) -> None:
        stopping = self.poller._stopping
        while not stopping.is_set():
            try:
                batch = self._gather()
                if batch:
                    self._process(batch)
            except Exception:  # keep polling, as Lambda does; the error is reported
                log.exception("event source mapping %s: polling %s failed", self.mapping.uuid, self.mapping.queue_url)
                stopping.wait(1)
            finally:
                self.poller._batch_done(self)

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.mapping.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return response.get("Messages", [])

    def _gather(self) -> list[dict[str, Any]]:
        """Up to ``BatchSize`` messages: the batching window starts with the first one received."""
        mapping, stopping = self.mapping, self.poller._stopping
        batch = self._receive(min(RECEIVE_LIMIT, mapping.batch_size), self.poller.poll_wait_seconds)
        if not batch:
            return batch
        self.poller._batch_started(self)
        deadline = time.monotonic() + mapping.batching_window_seconds
        while len(batch) < mapping.batch_size and not stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = self._receive(min(RECEIVE_LIMIT, mapping.batch_size - len(batch)), int(remaining))
            if more:
                batch.extend(more)
            elif remaining < 1:  # ReceiveMessage waits whole seconds only
                stopping.wait(min(remaining, 0.05))
        if stopping.is_set():  # hand the messages back rather than hold them for a visibility timeout
            self._change_visibility(batch, 0)
            return []
        return batch

    def _process(self, batch: list[dict[str, Any]]) -> None:
        mapping = self.mapping
        event = {"Records": [lambda_record(m, mapping.queue_arn, self.poller.region) for m in batch]}
        try:
            result = self.poller.invoke(mapping.function_arn, json.dumps(event).encode())
        except Exception:
            log.exception("event source mapping %s: invoking %s failed", mapping.uuid, mapping.function_arn)
            result = InvokeResult(b"", "Sandbox.InvokeFailed")
        failed = failed_message_ids(result, (m["MessageId"] for m in batch), mapping.report_batch_item_failures)
        self._delete([m for m in batch if m["MessageId"] not in failed])
        retry = [m for m in batch if m["MessageId"] in failed]
        if retry and self.poller.time_scale != 1:
            self.poller._hand_back_later(self, retry, self.visibility_timeout * self.poller.time_scale)
        self.poller._record(mapping, len(batch), len(retry), result.function_error)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), RECEIVE_LIMIT):
            chunk = messages[start : start + RECEIVE_LIMIT]
            response = self.sqs.delete_message_batch(
                QueueUrl=self.mapping.queue_url,
                Entries=[{"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                log.warning("event source mapping %s: could not delete a message: %s", self.mapping.uuid, failure)

    def _change_visibility(self, messages: list[dict[str, Any]], seconds: int) -> None:
        for start in range(0, len(messages), RECEIVE_LIMIT):
            chunk = messages[start : start + RECEIVE_LIMIT]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.mapping.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
                    for index, m in enumerate(chunk)
                ],
            )


@dataclass
class MappingStats:
    """Counts per mapping, for reports: batches invoked, records in them, records failed."""

    batches: int = 0
    records: int = 0
    failed_records: int = 0
    function_errors: int = 0
    largest_batch: int = 0


class EventSourcePoller:
    """Polls every enabled mapping's queue on its own threads until :meth:`stop`."""

    def __init__(
        self,
        mappings: Iterable[QueueMapping],
        clients: ClientFactory,
        invoke: Invoke,
        *,
        time_scale: float = 1.0,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        poll_wait_seconds: int = DEFAULT_POLL_WAIT_SECONDS,
        region: str = "us-east-1",
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, not {time_scale}")
        self.mappings = [m for m in mappings if m.enabled]
        self.clients, self.invoke = clients, invoke
        self.time_scale, self.max_concurrency = time_scale, max_concurrency
        self.poll_wait_seconds, self.region = poll_wait_seconds, region
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._busy: set[_MappingWorker] = set()
        self._workers: list[_MappingWorker] = []
        #: Failed records waiting out their scaled visibility timeout, each batch's timer and records.
        self._waiting: dict[threading.Timer, tuple[_MappingWorker, list[dict[str, Any]]]] = {}
        self.stats: dict[str, MappingStats] = {m.uuid: MappingStats() for m in self.mappings}

    def start(self) -> EventSourcePoller:
        if self._workers:
            raise RuntimeError("the poller is already running")
        sqs = self.clients("sqs")
        for mapping in self.mappings:
            attributes = sqs.get_queue_attributes(QueueUrl=mapping.queue_url, AttributeNames=["VisibilityTimeout"])[
                "Attributes"
            ]
            concurrency = min(self.max_concurrency, mapping.maximum_concurrency or self.max_concurrency)
            for _ in range(concurrency):
                self._workers.append(_MappingWorker(self, mapping, int(attributes["VisibilityTimeout"])))
        for worker in self._workers:
            worker.thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        for worker in self._workers:
            worker.thread.join()
        self._workers = []
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for timer, (worker, messages) in waiting.items():  # hand them back rather than hold them
            timer.cancel()
            self._hand_back(worker, messages)

    def _hand_back_later(self, worker: _MappingWorker, messages: list[dict[str, Any]], seconds: float) -> None:
        def due() -> None:
            with self._lock:
                if self._waiting.pop(timer, None) is None:  # stop() took it
                    return
            self._hand_back(worker, messages)

        timer = threading.Timer(seconds, due)
        timer.daemon = True
        with self._lock:
            self._waiting[timer] = (worker, messages)
        timer.start()

    def _hand_back(self, worker: _MappingWorker, messages: list[dict[str, Any]]) -> None:
        try:
            worker._change_visibility(messages, 0)
        except Exception:  # the record then comes back after the queue's own visibility timeout
            log.exception("event source mapping %s: could not hand failed records back", worker.mapping.uuid)

    def idle(self) -> bool:
        """No batch is being gathered or processed and every mapped queue is empty (visible, in flight, delayed)."""
        with self._lock:
            if self._busy:
                return False
        sqs = self.clients("sqs")
        counts = (
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        )
        for queue_url in {m.queue_url for m in self.mappings}:
            attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(counts))["Attributes"]
            if any(int(attributes.get(name, 0)) for name in counts):
                return False
        with self._lock:
            return not self._busy

    def __enter__(self) -> EventSourcePoller:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _batch_started(self, worker: _MappingWorker) -> None:
        with self._lock:
            self._busy.add(worker)

    def _batch_done(self, worker: _MappingWorker) -> None:
        with self._lock:
            self._busy.discard(worker)

    def _record(self, mapping: QueueMapping, records: int, failed: int, function_error: str | None) -> None:
        with self._lock:
            stats = self.stats[mapping.uuid]
            stats.batches += 1
            stats.records += records
            stats.failed_records += failed
            stats.function_errors += 1 if function_error else 0
            stats.largest_batch = max(stats.largest_batch, records)
