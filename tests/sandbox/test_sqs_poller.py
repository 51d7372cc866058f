"""The SQS event source mapping poller: Lambda's rules first, then a queue, a DLQ and a real function."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.aws import EmbeddedAws
from sandbox.deploy import ApiInvoker
from sandbox.lambda_runtime import InvokeResult
from sandbox.sqs_poller import EventSourcePoller, QueueMapping, failed_message_ids, lambda_record
from tests.sandbox.lambda_fixtures import create_function, zip_files

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:work"

# Prints each batch it gets; fails the records whose body starts with "fail" (as batch item failures),
# and the whole batch while a "crash-once" record is on its first receive.
CONSUMER = """
import json


def handler(event, context):
    records = event["Records"]
    print("BATCH " + json.dumps(records))
    if any(r["body"] == "crash-once" and r["attributes"]["ApproximateReceiveCount"] == "1" for r in records):
        raise RuntimeError("crashed on the first receive")
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records
                                  if r["body"].startswith("fail")]}
"""


# --- Lambda's rules, without an emulator -----------------------------------------------------------------


def _result(payload: Any, function_error: str | None = None) -> InvokeResult:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return InvokeResult(raw, function_error)


@pytest.mark.parametrize(
    ("result", "failed"),
    [
        (_result({"batchItemFailures": [{"itemIdentifier": "b"}]}), {"b"}),
        (_result({"batchItemFailures": []}), set()),
        (_result(None), set()),
        (_result({}), set()),
        (_result(b""), set()),
        (_result({"errorType": "X"}, "Unhandled"), {"a", "b", "c"}),  # a function error fails the batch
        (_result(b"not json"), {"a", "b", "c"}),
        (_result({"batchItemFailures": [{"itemIdentifier": ""}]}), {"a", "b", "c"}),
        (_result({"batchItemFailures": [{"itemIdentifier": None}]}), {"a", "b", "c"}),
        (_result({"batchItemFailures": [{"itemId": "b"}]}), {"a", "b", "c"}),  # a bad key name
        (_result({"batchItemFailures": [{"itemIdentifier": "zzz"}]}), {"a", "b", "c"}),  # not in the batch
        (_result({"batchItemFailures": "b"}), {"a", "b", "c"}),
    ],
)
def test_failed_records_follow_lambdas_rules_for_report_batch_item_failures(
    result: InvokeResult, failed: set[str]
) -> None:
    assert failed_message_ids(result, ["a", "b", "c"], report_batch_item_failures=True) == failed


def test_without_report_batch_item_failures_only_a_function_error_fails_the_batch() -> None:
    reported = _result({"batchItemFailures": [{"itemIdentifier": "b"}]})
    assert failed_message_ids(reported, ["a", "b"], report_batch_item_failures=False) == set()
    assert failed_message_ids(_result({}, "Unhandled"), ["a", "b"], report_batch_item_failures=False) == {"a", "b"}


def test_a_message_becomes_a_lambda_sqs_record() -> None:
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh-1",
        "Body": '{"login": "octocat"}',
        "MD5OfBody": "md5-body",
        "MD5OfMessageAttributes": "md5-attributes",
        "Attributes": {
            "ApproximateReceiveCount": "2",
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDA",
            "ApproximateFirstReceiveTimestamp": "1700000000001",
        },
        "MessageAttributes": {
            "correlationId": {"StringValue": "d-1", "DataType": "String"},
            "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
        },
    }
    assert lambda_record(message, QUEUE_ARN, "us-east-1") == {
        "messageId": "m-1",
        "receiptHandle": "rh-1",
        "body": '{"login": "octocat"}',
        "attributes": message["Attributes"],
        "messageAttributes": {
            "correlationId": {
                "stringValue": "d-1",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
        },
        "md5OfBody": "md5-body",
        "md5OfMessageAttributes": "md5-attributes",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def test_mapping_settings_come_from_the_lambda_api_configuration() -> None:
    mapping = QueueMapping.from_configuration(
        {
            "UUID": "u",
            "FunctionArn": "f",
            "EventSourceArn": QUEUE_ARN,
            "BatchSize": 7,
            "MaximumBatchingWindowInSeconds": 2,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": 3},
            "State": "Enabled",
        },
        "http://q",
    )
    assert (
        mapping.batch_size,
        mapping.batching_window_seconds,
        mapping.report_batch_item_failures,
        mapping.maximum_concurrency,
        mapping.enabled,
    ) == (7, 2.0, True, 3, True)
    disabled = QueueMapping.from_configuration(
        {"UUID": "u", "FunctionArn": "f", "EventSourceArn": QUEUE_ARN, "State": "Disabled"}, "http://q"
    )
    assert not disabled.enabled and not disabled.report_batch_item_failures


# --- against the embedded AWS and a real function ---------------------------------------------------------


@pytest.fixture(scope="module")
def consumer(aws: EmbeddedAws) -> str:
    return create_function(
        aws, "poller-consumer", code=zip_files({"consumer.py": CONSUMER}), handler="consumer.handler", timeout=5
    )


class Pipe:
    """A queue (VisibilityTimeout 100 s) with a DLQ (maxReceiveCount 2), mapped to the consumer."""

    def __init__(self, aws: EmbeddedAws, consumer: str, visibility_timeout: int = 100, **mapping: Any) -> None:
        self.aws, self.sqs = aws, aws.client("sqs")
        name = f"q-{uuid.uuid4().hex[:10]}"
        self.dlq_url = self.sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = self._attribute(self.dlq_url, "QueueArn")
        self.url = self.sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(visibility_timeout),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
            },
        )["QueueUrl"]
        created = aws.client("lambda").create_event_source_mapping(
            EventSourceArn=self._attribute(self.url, "QueueArn"), FunctionName=consumer, **mapping
        )
        self.mapping = QueueMapping.from_configuration(created, self.url)

    def _attribute(self, url: str, name: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[name])["Attributes"][name]

    def send(self, *bodies: str) -> list[str]:
        return [self.sqs.send_message(QueueUrl=self.url, MessageBody=body)["MessageId"] for body in bodies]

    def batches(self) -> list[list[dict[str, Any]]]:
        """The batches the consumer got from this queue, in order."""
        arn = self.mapping.queue_arn
        return [b for b in _batches(self.aws) if b[0]["eventSourceARN"] == arn]

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])

    def poller(self, **options: Any) -> EventSourcePoller:
        return EventSourcePoller(
            [self.mapping],
            self.aws.client,
            ApiInvoker(self.aws),
            time_scale=self.aws.time_scale,
            **options,
        )


def _batches(aws: EmbeddedAws) -> list[list[dict[str, Any]]]:
    return [
        json.loads(line.removeprefix("BATCH "))
        for line in aws.runtime.output("poller-consumer")
        if line.startswith("BATCH ")
    ]


def _wait_for(condition: Callable[[], Any], seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)
    return value


def test_batch_size_is_honoured_and_successes_are_deleted(aws: EmbeddedAws, consumer: str) -> None:
    pipe = Pipe(aws, consumer, BatchSize=3, FunctionResponseTypes=["ReportBatchItemFailures"])
    sent = pipe.send(*(f"ok-{i}" for i in range(7)))
    with pipe.poller() as poller:
        _wait_for(poller.idle)
    batches = pipe.batches()
    assert sorted(r["messageId"] for b in batches for r in b) == sorted(sent)
    assert max(len(b) for b in batches) == 3 and len(batches) >= 3
    record = batches[0][0]
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1" and record["receiptHandle"]
    assert pipe.dead_letters() == []


def test_a_records_trace_header_reaches_the_function_as_lambda_passes_it(aws: EmbeddedAws, consumer: str) -> None:
    """``attributes.AWSTraceHeader`` of the record, from a SendMessage and a SendMessageBatch entry alike."""
    pipe = Pipe(aws, consumer, BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    trace = {"AWSTraceHeader": {"DataType": "String", "StringValue": header}}
    pipe.sqs.send_message(QueueUrl=pipe.url, MessageBody="ok-one", MessageSystemAttributes=trace)
    pipe.sqs.send_message_batch(
        QueueUrl=pipe.url,
        Entries=[
            {"Id": "traced", "MessageBody": "ok-batch", "MessageSystemAttributes": trace},
            {"Id": "untraced", "MessageBody": "ok-none"},
        ],
    )
    with pipe.poller() as poller:
        _wait_for(lambda: len([r for b in pipe.batches() for r in b]) == 3)
        _wait_for(poller.idle)
    headers = {r["body"]: r["attributes"].get("AWSTraceHeader") for b in pipe.batches() for r in b}
    assert headers == {"ok-one": header, "ok-batch": header, "ok-none": None}


def test_the_batching_window_gathers_records_that_arrive_after_the_first(aws: EmbeddedAws, consumer: str) -> None:
    pipe = Pipe(aws, consumer, BatchSize=10, MaximumBatchingWindowInSeconds=2)
    with pipe.poller(max_concurrency=1) as poller:  # one poller: a second one would take the second record
        first_sent = time.monotonic()
        pipe.send("ok-first")
        time.sleep(0.5)
        pipe.send("ok-second")
        _wait_for(pipe.batches)
        invoked_after = time.monotonic() - first_sent
        _wait_for(poller.idle)
    assert [[r["body"] for r in b] for b in pipe.batches()] == [["ok-first", "ok-second"]]
    assert invoked_after >= 1.9  # the window runs from the first record received


def test_failed_records_are_retried_then_land_in_the_dlq(aws: EmbeddedAws, consumer: str) -> None:
    pipe = Pipe(aws, consumer, BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    poller = pipe.poller()
    assert poller.idle()
    ok, failing = pipe.send("ok-1", "fail-1")
    assert not poller.idle()  # waiting in the queue
    with poller:
        _wait_for(pipe.batches)
        assert not poller.idle()  # being processed, then invisible until its retry
        # A failed record comes back after 100 s x time_scale (1 s), twice, then moto moves it to the DLQ.
        dead = _wait_for(pipe.dead_letters)
        _wait_for(poller.idle)
    assert [m["MessageId"] for m in dead] == [failing]
    assert dead[0]["Attributes"]["ApproximateReceiveCount"] == "3"  # two receives from the queue, one here
    receives = [(r["messageId"], r["attributes"]["ApproximateReceiveCount"]) for b in pipe.batches() for r in b]
    assert [count for message, count in receives if message == ok] == ["1"]  # deleted at once
    assert [count for message, count in receives if message == failing] == ["1", "2"]


def test_a_failed_record_waits_its_scaled_visibility_timeout_exactly(aws: EmbeddedAws, consumer: str) -> None:
    """150 s x time_scale 0.01 is 1.5 s, which ChangeMessageVisibility (whole seconds) cannot say: the record
    stays invisible until then and is handed back with a visibility timeout of 0."""
    pipe = Pipe(aws, consumer, visibility_timeout=150, BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    since = time.time()
    (failing,) = pipe.send("fail-1")
    with pipe.poller() as poller:
        _wait_for(pipe.dead_letters)
        _wait_for(poller.idle)
    invoked = sorted(r.started_at + r.duration for r in aws.runtime.records() if r.started_at >= since)
    changes = [
        c
        for c in aws.api_calls.calls(since)
        if c.operation == "ChangeMessageVisibilityBatch" and c.params.get("QueueUrl") == pipe.url
    ]
    assert [[int(e["VisibilityTimeout"]) for e in c.params["Entries"]] for c in changes] == [[0], [0]]
    for change in changes:  # each 1.5 s after the failed invoke before it
        ended = max(t for t in invoked if t <= change.at)
        assert change.at - ended >= 1.5 * 0.98
    receives = [
        r["attributes"]["ApproximateReceiveCount"] for b in pipe.batches() for r in b if r["messageId"] == failing
    ]
    assert receives == ["1", "2"]


def test_stopping_hands_back_the_records_waiting_for_a_retry(aws: EmbeddedAws, consumer: str) -> None:
    pipe = Pipe(aws, consumer, visibility_timeout=900, BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    pipe.send("fail-1")
    with pipe.poller() as poller:
        _wait_for(pipe.batches)
        _wait_for(lambda: poller.stats[pipe.mapping.uuid].failed_records == 1)
        assert pipe._attribute(pipe.url, "ApproximateNumberOfMessages") == "0"  # waiting its 9 s
    assert pipe._attribute(pipe.url, "ApproximateNumberOfMessages") == "1"


def test_a_function_error_retries_the_whole_batch(aws: EmbeddedAws, consumer: str) -> None:
    pipe = Pipe(aws, consumer, BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    pipe.send("ok-1", "crash-once")
    with pipe.poller() as poller:
        _wait_for(lambda: len(pipe.batches()) >= 2)
        _wait_for(poller.idle)
    first, second = pipe.batches()
    assert sorted(r["body"] for r in first) == sorted(r["body"] for r in second) == ["crash-once", "ok-1"]
    assert {r["attributes"]["ApproximateReceiveCount"] for r in first} == {"1"}
    assert {r["attributes"]["ApproximateReceiveCount"] for r in second} == {"2"}
    assert poller.stats[pipe.mapping.uuid].function_errors == 1
    assert pipe.dead_letters() == []


def test_without_report_batch_item_failures_a_reported_failure_is_deleted(aws: EmbeddedAws, consumer: str) -> None:
    pipe = Pipe(aws, consumer, BatchSize=10)
    pipe.send("fail-but-not-reported")
    with pipe.poller() as poller:
        _wait_for(pipe.batches)
        _wait_for(poller.idle)
    assert len(pipe.batches()) == 1 and pipe.dead_letters() == []


def test_stop_hands_back_nothing_and_ends_its_threads(aws: EmbeddedAws, consumer: str) -> None:
    pipe = Pipe(aws, consumer, BatchSize=10, ScalingConfig={"MaximumConcurrency": 2})
    poller = pipe.poller(max_concurrency=5).start()
    workers = [w.thread for w in poller._workers]
    assert len(workers) == 2  # ScalingConfig.MaximumConcurrency caps the batches in flight
    started = time.monotonic()
    poller.stop()
    assert time.monotonic() - started < 3
    assert not any(thread.is_alive() for thread in workers)
