"""GitHub rate limits in the adapter: sqs re-sends a rate-limited record with a delay (moto), Step Functions
carries the execution's rate-limit bookkeeping from step to step; the error's machine-readable wait."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from functions.common import adapter, dispatch, rate_limits
from functions.common.errors import DEFAULT_RATE_LIMIT_WAIT_SECONDS, GitHubRateLimited
from functions.common.models import Message
from tests.functions.test_adapter import count_record
from tests.functions.webhooks import FakeLambdaContext

CONTEXT = FakeLambdaContext(function_name="toy-step")
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:toy"  # the eventSourceARN of tests.functions.test_adapter's records
BUDGET = 3600


class Count(Message):
    up_to: int


class Number(Message):
    value: int


calls: list[int] = []


def limited_square(message: Count) -> Number:
    """GitHub rate-limits a negative number for -up_to seconds (-1: without saying how long)."""
    calls.append(message.up_to)
    if message.up_to < 0:
        raise GitHubRateLimited(
            "GitHub answered 403 (API rate limit exceeded)", None if message.up_to == -1 else -message.up_to
        )
    return Number(correlation_id=message.correlation_id, value=message.up_to**2)


handler = adapter.step_handler(limited_square, Count)


def _clear_clients() -> None:
    dispatch.sqs_client.cache_clear()
    adapter.sns_client.cache_clear()
    parameters.clear_caches()


@pytest.fixture
def toy_queue(function_env: pytest.MonkeyPatch) -> Iterator[str]:
    with mock_aws():
        _clear_clients()
        sqs, sns = dispatch.sqs_client(), adapter.sns_client()
        function_env.setenv("NOTIFICATION_TOPIC_ARN", sns.create_topic(Name="notifications")["TopicArn"])
        function_env.setenv("NEXT_QUEUE_URL", sqs.create_queue(QueueName="next")["QueueUrl"])
        function_env.setenv("MAX_RECEIVE_COUNT", "3")
        function_env.setenv("RATE_LIMIT_MAX_WAIT_SECONDS", str(BUDGET))
        calls.clear()
        yield sqs.create_queue(QueueName="toy")["QueueUrl"]
        _clear_clients()


@pytest.fixture
def sent() -> Iterator[list[dict[str, Any]]]:
    """The parameters of every SendMessage the adapter makes."""
    sent_params: list[dict[str, Any]] = []
    events = dispatch.sqs_client().meta.events
    record = lambda params, **_: sent_params.append(dict(params))  # noqa: E731
    events.register("provide-client-params.sqs.SendMessage", record)
    yield sent_params
    events.unregister("provide-client-params.sqs.SendMessage", record)


def _with_wait(record: dict[str, Any], waited: int, left: int) -> dict[str, Any]:
    for name, value in ((rate_limits.WAITED, waited), (rate_limits.WAIT_LEFT, left)):
        record["messageAttributes"][name] = {"stringValue": str(value), "dataType": "Number", "stringListValues": []}
    return record


def _attributes(params: dict[str, Any]) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in params["MessageAttributes"].items()}


def _delayed(queue_url: str) -> int:
    attributes = dispatch.sqs_client().get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesDelayed"])


def test_a_rate_limited_record_is_resent_to_its_queue_delayed_instead_of_failed(
    toy_queue: str, sent: list[dict[str, Any]]
) -> None:
    """A failure would spend one of maxReceiveCount receives per wait; the copy starts from a receive count
    of 1, even when the original was on its last receive (no failure notification either)."""
    record = count_record(-600, "d-1", receive_count=3)

    assert handler({"Records": [record]}, CONTEXT) == {"batchItemFailures": []}

    (resent,) = sent
    assert resent["QueueUrl"] == "https://sqs.us-east-1.amazonaws.com/123456789012/toy"
    assert resent["MessageBody"] == record["body"] and resent["DelaySeconds"] == 600
    assert _attributes(resent) == {"correlationId": "d-1", rate_limits.WAITED: "600", rate_limits.WAIT_LEFT: "0"}
    assert _delayed(toy_queue) == 1


def test_a_wait_longer_than_sqs_can_delay_takes_hops_that_do_not_call_github(
    toy_queue: str, sent: list[dict[str, Any]]
) -> None:
    assert handler({"Records": [count_record(-2000, "d-2")]}, CONTEXT) == {"batchItemFailures": []}
    hop = _attributes(sent[-1])
    assert sent[-1]["DelaySeconds"] == rate_limits.MAX_DELAY_SECONDS == 900
    assert (hop[rate_limits.WAITED], hop[rate_limits.WAIT_LEFT]) == ("2000", "1100")

    calls.clear()
    for left, delay, rest in ((1100, 900, "200"), (200, 200, "0")):
        record = _with_wait(count_record(-2000, "d-2"), waited=2000, left=left)
        assert handler({"Records": [record]}, CONTEXT) == {"batchItemFailures": []}
        assert sent[-1]["DelaySeconds"] == delay
        assert _attributes(sent[-1])[rate_limits.WAIT_LEFT] == rest
        assert _attributes(sent[-1])[rate_limits.WAITED] == "2000"
    assert calls == [], "GitHub is not called before the wait is over"

    done = _with_wait(count_record(4, "d-2"), waited=2000, left=0)
    assert handler({"Records": [done]}, CONTEXT) == {"batchItemFailures": []}
    assert calls == [4], "the last hop calls GitHub again"


def test_past_the_budget_a_rate_limited_record_fails_as_any_other(toy_queue: str, sent: list[dict[str, Any]]) -> None:
    record = _with_wait(count_record(-601, "d-3"), waited=BUDGET - 600, left=0)

    response = handler({"Records": [record]}, CONTEXT)

    assert response == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert sent == [] and _delayed(toy_queue) == 0


def test_without_advice_a_record_waits_githubs_minute(toy_queue: str, sent: list[dict[str, Any]]) -> None:
    assert handler({"Records": [count_record(-1, "d-4")]}, CONTEXT) == {"batchItemFailures": []}
    assert sent[-1]["DelaySeconds"] == DEFAULT_RATE_LIMIT_WAIT_SECONDS == 60


def test_step_functions_steps_pass_the_executions_rate_limit_waits_on() -> None:
    state = {"correlationId": "d-5", "upTo": 3, "rateLimit": {"waitedSeconds": 1800, "waits": 1, "waitSeconds": 1800}}
    assert handler(state, CONTEXT) == {"correlationId": "d-5", "value": 9, "rateLimit": state["rateLimit"]}
    assert handler({"correlationId": "d-6", "upTo": 2}, CONTEXT) == {"correlationId": "d-6", "value": 4}


@pytest.mark.parametrize(
    ("retry_after", "wait"), [(1799.2, 1800), (37, 37), (0, 1), (0.2, 1), (None, DEFAULT_RATE_LIMIT_WAIT_SECONDS)]
)
def test_the_error_message_says_the_wait_in_whole_seconds_for_the_state_machines(
    retry_after: float | None, wait: int
) -> None:
    error = GitHubRateLimited("list jobs of run 42: GitHub answered 429", retry_after)
    assert json.loads(str(error)) == {"message": "list jobs of run 42: GitHub answered 429", "retryAfterSeconds": wait}
    assert error.wait_seconds == wait and error.retry_after == retry_after


@pytest.mark.parametrize("arn", ["", "arn:aws:sns:us-east-1:123456789012:toy", "arn:aws:sqs:us-east-1:toy"])
def test_a_record_from_no_sqs_queue_is_an_error_naming_the_arn(arn: str) -> None:
    with pytest.raises(ValueError, match="eventSourceARN .* is not an SQS queue ARN"):
        rate_limits.queue_url(arn)
