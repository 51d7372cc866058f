"""The two-architecture adapter, with a toy step: Step Functions invocations and SQS batches (moto)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from botocore.stub import Stubber
from moto import mock_aws
from pydantic import ValidationError

from functions.common import adapter, dispatch
from functions.common.errors import GitHubUnavailable
from functions.common.models import Message, Page
from functions.common.observability import logger
from tests.functions.webhooks import FakeLambdaContext

MAX_RECEIVE_COUNT = 3
CONTEXT = FakeLambdaContext(function_name="toy-step")


class Count(Message):
    """Toy input: count up to ``up_to``; a negative number is GitHub being down."""

    up_to: int


class Number(Message):
    value: int


def square(message: Count) -> Number:
    if message.up_to < 0:
        raise GitHubUnavailable(f"cannot square {message.up_to} today")
    return Number(correlation_id=message.correlation_id, value=message.up_to**2)


def discard(message: Count) -> None:
    """A terminal step: nothing to pass on."""


def count(message: Count) -> list[Number]:
    if message.up_to < 0:
        raise GitHubUnavailable("cannot count today")
    return [Number(correlation_id=message.correlation_id, value=value) for value in range(1, message.up_to + 1)]


class Listing(Message):
    """Toy paginated input: the numbers 1..up_to, PER_PAGE a page, from ``page``."""

    up_to: int
    page: int = 1
    listed: int = 0


PER_PAGE = 3


def list_numbers(message: Listing) -> Page[Number, Listing]:
    start = (message.page - 1) * PER_PAGE + 1
    values = range(start, min(start + PER_PAGE, message.up_to + 1))
    listed = message.listed + len(values)
    more = listed < message.up_to
    return Page[Number, Listing](
        items=[Number(correlation_id=message.correlation_id, value=value) for value in values],
        number=message.page,
        listed=listed,
        next=message.model_copy(update={"page": message.page + 1, "listed": listed}) if more else None,
    )


square_handler = adapter.step_handler(square, Count)
list_handler = adapter.step_handler(list_numbers, Listing)
count_handler = adapter.step_handler(count, Count)
discard_handler = adapter.step_handler(discard, Count)


@dataclass(frozen=True)
class Aws:
    next_queue: str
    notifications: str  # a queue subscribed to the notification topic

    def received(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message waiting in the queue (removed, so that tests do not see each other)."""
        sqs = dispatch.sqs_client()
        received = []
        while messages := sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            for message in messages:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                received.append(message)
        return received

    def forwarded(self) -> list[tuple[str, dict[str, Any]]]:
        """(correlationId attribute, body) of each message sent to the next queue."""
        return [
            (message["MessageAttributes"]["correlationId"]["StringValue"], json.loads(message["Body"]))
            for message in self.received(self.next_queue)
        ]

    def notified(self) -> list[dict[str, Any]]:
        """The SNS notifications published (subject and parsed message)."""
        envelopes = [json.loads(message["Body"]) for message in self.received(self.notifications)]
        return [{"subject": envelope["Subject"], "message": json.loads(envelope["Message"])} for envelope in envelopes]


def _clear_clients() -> None:
    dispatch.sqs_client.cache_clear()
    adapter.sns_client.cache_clear()
    parameters.clear_caches()


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    with mock_aws():
        _clear_clients()
        sqs = dispatch.sqs_client()
        sns = adapter.sns_client()
        topic_arn = sns.create_topic(Name="notifications")["TopicArn"]
        notifications = sqs.create_queue(QueueName="notifications")["QueueUrl"]
        notifications_arn = sqs.get_queue_attributes(QueueUrl=notifications, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=notifications_arn["Attributes"]["QueueArn"])
        yield Aws(next_queue=sqs.create_queue(QueueName="next")["QueueUrl"], notifications=notifications)
        _clear_clients()


@pytest.fixture
def sqs_env(function_env: pytest.MonkeyPatch, aws: Aws) -> Aws:
    topic_arn = adapter.sns_client().list_topics()["Topics"][0]["TopicArn"]
    function_env.setenv("NEXT_QUEUE_URL", aws.next_queue)
    function_env.setenv("NOTIFICATION_TOPIC_ARN", topic_arn)
    function_env.setenv("MAX_RECEIVE_COUNT", str(MAX_RECEIVE_COUNT))
    return aws


def sqs_record(body: str, *, correlation_id: str | None, receive_count: int = 1) -> dict[str, Any]:
    """One record of an SQS event source mapping's event."""
    attributes = (
        {"correlationId": {"stringValue": correlation_id, "dataType": "String", "stringListValues": []}}
        if correlation_id
        else {}
    )
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "handle",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1700000000000",
        },
        "messageAttributes": attributes,
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:toy",
        "awsRegion": "us-east-1",
    }


def count_record(up_to: int, correlation_id: str, receive_count: int = 1) -> dict[str, Any]:
    body = json.dumps({"correlationId": correlation_id, "upTo": up_to})
    return sqs_record(body, correlation_id=correlation_id, receive_count=receive_count)


# Step Functions: the event is the state input, the return value the state output.


def test_step_functions_gets_the_result_on_the_wire() -> None:
    assert square_handler({"correlationId": "d-1", "upTo": 7}, CONTEXT) == {"correlationId": "d-1", "value": 49}


def test_step_functions_gets_a_list_as_items_and_count() -> None:
    assert count_handler({"correlationId": "d-2", "upTo": 3}, CONTEXT) == {
        "items": [{"correlationId": "d-2", "value": value} for value in (1, 2, 3)],
        "count": 3,
    }
    assert count_handler({"correlationId": "d-3", "upTo": 0}, CONTEXT) == {"items": [], "count": 0}


def test_step_functions_gets_an_empty_object_from_a_step_that_returns_nothing() -> None:
    assert discard_handler({"correlationId": "d-6", "upTo": 1}, CONTEXT) == {}


def test_step_functions_sees_the_exception_class() -> None:
    with pytest.raises(GitHubUnavailable, match="cannot square -1 today"):
        square_handler({"correlationId": "d-4", "upTo": -1}, CONTEXT)


def test_step_functions_input_that_is_not_the_model_fails_validation() -> None:
    with pytest.raises(ValidationError):
        square_handler({"correlationId": "d-5", "upTo": "many"}, CONTEXT)


def stamped(value: int) -> Number:
    """A step that sets its own ``received_at``: the adapter keeps it."""
    return Number(correlation_id="d-9", value=value, received_at=1)


stamped_handler = adapter.step_handler(lambda message: stamped(message.up_to), Count)


def test_step_functions_every_output_carries_the_inputs_received_at() -> None:
    assert square_handler({"correlationId": "d-7", "upTo": 2, "receivedAt": 1700}, CONTEXT) == {
        "correlationId": "d-7",
        "value": 4,
        "receivedAt": 1700,
    }
    assert count_handler({"correlationId": "d-8", "upTo": 2, "receivedAt": 1700}, CONTEXT) == {
        "items": [{"correlationId": "d-8", "value": value, "receivedAt": 1700} for value in (1, 2)],
        "count": 2,
    }
    assert discard_handler({"correlationId": "d-6", "upTo": 1, "receivedAt": 1700}, CONTEXT) == {}


def test_step_functions_an_outputs_own_received_at_is_kept() -> None:
    assert stamped_handler({"correlationId": "d-9", "upTo": 3, "receivedAt": 1700}, CONTEXT)["receivedAt"] == 1


def test_step_functions_gets_a_page_with_the_request_for_the_next_or_null() -> None:
    first = list_handler({"correlationId": "d-4", "upTo": 4, "receivedAt": 1700}, CONTEXT)
    assert first == {
        "items": [{"correlationId": "d-4", "value": value, "receivedAt": 1700} for value in (1, 2, 3)],
        "count": 3,
        "page": 1,
        "listed": 3,
        "next": {"correlationId": "d-4", "upTo": 4, "page": 2, "listed": 3, "receivedAt": 1700},
    }
    last = list_handler(first["next"], CONTEXT)
    assert (last["items"], last["listed"], last["next"]) == (
        [{"correlationId": "d-4", "value": 4, "receivedAt": 1700}],
        4,
        None,
    ), "a Choice tests next for null: it is there on the last page too"


# SQS: each record processed alone, results forwarded, failures reported per record.


def listing_record(body: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    record = sqs_record(json.dumps(body), correlation_id=body["correlationId"])
    return {**record, "eventSourceARN": queue_arn}


def test_sqs_a_page_forwards_its_items_and_sends_the_next_page_to_its_own_queue(sqs_env: Aws) -> None:
    sqs = dispatch.sqs_client()
    own = sqs.create_queue(QueueName="listing")["QueueUrl"]
    own_arn = sqs.get_queue_attributes(QueueUrl=own, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pages, forwarded = 0, []
    request: dict[str, Any] | None = {"correlationId": "d-5", "upTo": 7, "receivedAt": 1700}
    while request is not None:
        assert list_handler({"Records": [listing_record(request, own_arn)]}, CONTEXT) == {"batchItemFailures": []}
        pages += 1
        forwarded += sqs_env.forwarded()
        (*following,) = sqs_env.received(own)
        assert len(following) <= 1, "one request for the next page, never more"
        request = json.loads(following[0]["Body"]) if following else None
        if following:
            assert following[0]["MessageAttributes"]["correlationId"]["StringValue"] == "d-5"
            assert request == {
                "correlationId": "d-5",
                "upTo": 7,
                "page": pages + 1,
                "listed": 3 * pages,
                "receivedAt": 1700,
            }
    assert pages == 3
    assert sorted(body["value"] for _, body in forwarded) == list(range(1, 8))
    assert {(correlation_id, body["receivedAt"]) for correlation_id, body in forwarded} == {("d-5", 1700)}


def test_sqs_a_page_whose_items_are_not_all_forwarded_does_not_ask_for_the_next(sqs_env: Aws) -> None:
    sqs = dispatch.sqs_client()
    own = sqs.create_queue(QueueName="listing-refused")["QueueUrl"]
    own_arn = sqs.get_queue_attributes(QueueUrl=own, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    refused = {
        "Successful": [{"Id": "0", "MessageId": "0", "MD5OfMessageBody": "x"}],
        "Failed": [
            {"Id": str(i), "SenderFault": False, "Code": "InternalError", "Message": "try again"} for i in (1, 2)
        ],
    }
    record = listing_record({"correlationId": "d-6", "upTo": 9}, own_arn)
    with Stubber(sqs) as stubber:
        stubber.add_response("send_message_batch", refused)
        response = list_handler({"Records": [record]}, CONTEXT)
    assert response == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert sqs_env.received(own) == [], "the page is retried before any later page is listed"


def test_sqs_forwarded_messages_carry_the_records_received_at(sqs_env: Aws) -> None:
    body = json.dumps({"correlationId": "d-12", "upTo": 2, "receivedAt": 1700})
    event = {"Records": [sqs_record(body, correlation_id="d-12")]}

    assert count_handler(event, CONTEXT) == {"batchItemFailures": []}
    assert sorted(sqs_env.forwarded(), key=lambda sent: sent[1]["value"]) == [
        ("d-12", {"correlationId": "d-12", "value": value, "receivedAt": 1700}) for value in (1, 2)
    ]


def test_sqs_results_go_to_the_next_queue_with_their_correlation_id(sqs_env: Aws) -> None:
    event = {"Records": [count_record(2, "d-10"), count_record(3, "d-11")]}

    assert square_handler(event, CONTEXT) == {"batchItemFailures": []}
    assert sorted(sqs_env.forwarded(), key=lambda sent: sent[0]) == [
        ("d-10", {"correlationId": "d-10", "value": 4}),
        ("d-11", {"correlationId": "d-11", "value": 9}),
    ]


def test_sqs_list_results_fan_out_in_batches_of_ten(sqs_env: Aws) -> None:
    batch_sizes: list[int] = []
    events = dispatch.sqs_client().meta.events
    record_batch = lambda params, **_: batch_sizes.append(len(params["Entries"]))  # noqa: E731
    events.register("provide-client-params.sqs.SendMessageBatch", record_batch)
    try:
        response = count_handler({"Records": [count_record(23, "d-20")]}, CONTEXT)
    finally:
        events.unregister("provide-client-params.sqs.SendMessageBatch", record_batch)

    assert response == {"batchItemFailures": []}
    assert batch_sizes == [10, 10, 3]
    forwarded = sqs_env.forwarded()
    assert sorted(body["value"] for _, body in forwarded) == list(range(1, 24))
    assert {correlation_id for correlation_id, _ in forwarded} == {"d-20"}


def test_sqs_an_empty_list_or_no_result_sends_nothing(sqs_env: Aws) -> None:
    assert count_handler({"Records": [count_record(0, "d-21")]}, CONTEXT) == {"batchItemFailures": []}
    assert discard_handler({"Records": [count_record(1, "d-21")]}, CONTEXT) == {"batchItemFailures": []}
    assert sqs_env.forwarded() == []


def test_sqs_without_a_next_queue_a_terminal_step_just_runs(sqs_env: Aws, function_env: pytest.MonkeyPatch) -> None:
    function_env.delenv("NEXT_QUEUE_URL")

    assert square_handler({"Records": [count_record(2, "d-23")]}, CONTEXT) == {"batchItemFailures": []}
    assert sqs_env.forwarded() == []


def test_sqs_a_batch_sqs_refuses_in_part_fails_the_record(sqs_env: Aws) -> None:
    refused = {
        "Successful": [{"Id": str(i), "MessageId": str(i), "MD5OfMessageBody": "x"} for i in range(9)],
        "Failed": [{"Id": "9", "SenderFault": False, "Code": "InternalError", "Message": "try again"}],
    }
    record = count_record(10, "d-22")
    with Stubber(dispatch.sqs_client()) as stubber:
        stubber.add_response("send_message_batch", refused)
        response = count_handler({"Records": [record]}, CONTEXT)

    assert response == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}


def test_sqs_a_failing_record_is_reported_and_the_others_still_forward(sqs_env: Aws) -> None:
    failing = count_record(-1, "d-31")
    event = {"Records": [count_record(2, "d-30"), failing, count_record(4, "d-32")]}

    response = square_handler(event, CONTEXT)

    assert response == {"batchItemFailures": [{"itemIdentifier": failing["messageId"]}]}
    assert sorted(body["value"] for _, body in sqs_env.forwarded()) == [4, 16]
    assert sqs_env.notified() == []  # not its last receive yet


def test_sqs_a_record_that_is_not_the_input_model_is_a_failure_not_a_crash(sqs_env: Aws) -> None:
    broken = sqs_record("{not json", correlation_id=None)
    event = {"Records": [broken, count_record(3, "d-33")]}

    assert square_handler(event, CONTEXT) == {"batchItemFailures": [{"itemIdentifier": broken["messageId"]}]}
    assert [body for _, body in sqs_env.forwarded()] == [{"correlationId": "d-33", "value": 9}]


@pytest.mark.parametrize("receive_count", range(1, MAX_RECEIVE_COUNT))
def test_sqs_no_notification_before_the_last_receive(receive_count: int, sqs_env: Aws) -> None:
    failing = count_record(-2, "d-40", receive_count=receive_count)

    response = square_handler({"Records": [failing]}, CONTEXT)

    assert response == {"batchItemFailures": [{"itemIdentifier": failing["messageId"]}]}
    assert sqs_env.notified() == []


@pytest.mark.parametrize("receive_count", [MAX_RECEIVE_COUNT, MAX_RECEIVE_COUNT + 1])
def test_sqs_the_last_receive_publishes_a_failure_notification(receive_count: int, sqs_env: Aws) -> None:
    failing = count_record(-2, "d-41", receive_count=receive_count)
    event = {"Records": [failing, count_record(5, "d-42", receive_count=receive_count)]}

    response = square_handler(event, CONTEXT)

    assert response == {"batchItemFailures": [{"itemIdentifier": failing["messageId"]}]}
    assert sqs_env.notified() == [
        {
            "subject": "square failed for delivery d-41",
            "message": {
                "step": "square",
                "correlationId": "d-41",
                "messageId": failing["messageId"],
                "receiveCount": receive_count,
                "errorType": "GitHubUnavailable",
                "error": "cannot square -2 today",
                "outcome": "the message goes to the dead-letter queue; redrive it once the cause is fixed",
            },
        }
    ]
    assert [body for _, body in sqs_env.forwarded()] == [{"correlationId": "d-42", "value": 25}]


def test_sqs_a_malformed_record_on_its_last_receive_is_notified_by_message_id(sqs_env: Aws) -> None:
    broken = sqs_record('{"upTo": 3}', correlation_id=None, receive_count=MAX_RECEIVE_COUNT)

    response = square_handler({"Records": [broken]}, CONTEXT)

    assert response == {"batchItemFailures": [{"itemIdentifier": broken["messageId"]}]}
    [notification] = sqs_env.notified()
    assert notification["subject"] == f"square failed for delivery {broken['messageId']}"
    assert notification["message"]["errorType"] == "ValidationError"
    assert "correlationId" in notification["message"]["error"]


def test_sqs_every_log_line_of_a_record_carries_its_correlation_id(
    sqs_env: Aws, function_env: pytest.MonkeyPatch
) -> None:
    log = io.StringIO()
    function_env.setattr(logger.registered_handler, "stream", log)

    square_handler({"Records": [count_record(-3, "d-50", receive_count=MAX_RECEIVE_COUNT)]}, CONTEXT)

    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["step failed"]
    assert lines[0]["correlation_id"] == "d-50"
    assert lines[0]["exception_name"] == "GitHubUnavailable"
    sqs_env.notified()


def _tracking_lines(log: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, log.getvalue().splitlines()) if line["message"].startswith("step ")]


def test_sqs_a_finished_record_logs_its_input_output_duration_and_queue_wait(
    sqs_env: Aws, function_env: pytest.MonkeyPatch
) -> None:
    """The application-level tracking `stackops trace` reads in the sqs architecture (functions/common/tracking.py)."""
    log = io.StringIO()
    function_env.setattr(logger.registered_handler, "stream", log)

    square_handler({"Records": [count_record(4, "d-60", receive_count=2)]}, CONTEXT)

    [line] = _tracking_lines(log)
    assert line["message"] == "step succeeded"
    assert line["correlation_id"] == "d-60"
    assert line["step"] == "square"
    assert line["input"] == {"correlationId": "d-60", "upTo": 4}
    assert line["output"] == {"correlationId": "d-60", "value": 16}
    assert line["receiveCount"] == 2
    assert line["queue"] == "toy"
    assert line["durationMs"] >= 0
    assert line["queuedMs"] > 0  # sent in 2023 (the record's SentTimestamp)


@pytest.mark.parametrize("receive_count", [1, MAX_RECEIVE_COUNT])
def test_sqs_a_failed_record_logs_its_input_error_and_whether_it_is_parked(
    receive_count: int, sqs_env: Aws, function_env: pytest.MonkeyPatch
) -> None:
    log = io.StringIO()
    function_env.setattr(logger.registered_handler, "stream", log)

    square_handler({"Records": [count_record(-5, "d-61", receive_count=receive_count)]}, CONTEXT)

    [line] = _tracking_lines(log)
    assert line["message"] == "step failed"
    assert line["input"] == {"correlationId": "d-61", "upTo": -5}
    assert line["errorType"] == "GitHubUnavailable"
    assert line["error"] == "cannot square -5 today"
    assert line["parked"] is (receive_count == MAX_RECEIVE_COUNT)
    assert "output" not in line


def _parked_counts(stdout: str) -> list[float]:
    """The ``StepParked`` values of the embedded metric format documents the handler printed."""
    documents = [json.loads(line) for line in stdout.splitlines() if line.startswith("{") and '"_aws"' in line]
    return [value for doc in documents for value in doc.get("StepParked", [])]


@pytest.mark.parametrize("receive_count", [MAX_RECEIVE_COUNT - 1, MAX_RECEIVE_COUNT])
def test_sqs_a_record_failing_its_last_receive_is_counted_as_parked(
    receive_count: int, sqs_env: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    square_handler({"Records": [count_record(-2, "d-43", receive_count=receive_count)]}, CONTEXT)

    parked = _parked_counts(capsys.readouterr().out)
    assert parked == ([1.0] if receive_count == MAX_RECEIVE_COUNT else [])


def _metric_documents(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_sqs_a_batch_s_metric_document_names_every_delivery_it_counts(
    sqs_env: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every line a function writes names its deliveries: the log lines one each, the metric document all."""
    capsys.readouterr()
    square_handler({"Records": [count_record(2, "d-70"), count_record(3, "d-71"), count_record(4, "d-70")]}, CONTEXT)

    (document,) = _metric_documents(capsys.readouterr().out)
    assert document["correlation_ids"] == ["d-70", "d-71"]
    assert "correlation_id" not in document


def test_step_functions_a_state_s_metric_document_names_its_delivery(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    square_handler({"correlationId": "d-72", "upTo": 2}, CONTEXT)

    (document,) = _metric_documents(capsys.readouterr().out)
    assert document["correlation_id"] == "d-72"
