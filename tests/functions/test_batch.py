"""An SQS batch never times out as a whole: its records run at once and answer within the invocation.

A slow GitHub (the fake's ``slow_down``) and a Lambda context whose remaining time runs out in real time,
as Lambda's does: ten records of one slow call each finish within a timeout that ten calls one after
another would exceed, and a record still running when the invocation must answer is reported alone.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from functions import add_team_member
from functions.common import adapter, batch, dispatch
from functions.common.models import Message
from functions.common.observability import logger
from tests.functions.fake_github import FakeGitHub, github_app  # noqa: F401  (fixture)
from tests.functions.test_adapter import MAX_RECEIVE_COUNT, Aws, sqs_record
from tests.functions.webhooks import FakeLambdaContext

ORG = "Octocoders"
TEAM = "platform"
BATCH = 10
GITHUB_LATENCY_SECONDS = 2.0
# Ten calls one after another (20 s) outlast it; ten at once (2 s) leave it most of its time.
FUNCTION_TIMEOUT_MS = batch.REPLY_MARGIN_MS + 3 * 1000 * GITHUB_LATENCY_SECONDS


@dataclass(frozen=True)
class RunningContext(FakeLambdaContext):
    """A Lambda context whose remaining time runs down from ``timeout_ms`` as Lambda's does."""

    timeout_ms: float = FUNCTION_TIMEOUT_MS
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return int(self.timeout_ms - 1000 * (time.monotonic() - self.started))


@pytest.fixture
def slow_github(github_app: FakeGitHub, function_env: pytest.MonkeyPatch) -> Iterator[tuple[FakeGitHub, Aws]]:  # noqa: F811
    """The fake GitHub answering team membership PUTs late, with a next queue and a notification topic."""
    function_env.setenv("ONBOARDING_TEAM", TEAM)
    function_env.setenv("MAX_RECEIVE_COUNT", str(MAX_RECEIVE_COUNT))
    dispatch.sqs_client.cache_clear()
    adapter.sns_client.cache_clear()
    parameters.clear_caches()
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    next_queue = sqs.create_queue(QueueName="lookup-directory")["QueueUrl"]
    notifications = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    topic = sns.create_topic(Name="notifications")["TopicArn"]
    arn = sqs.get_queue_attributes(QueueUrl=notifications, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    function_env.setenv("NEXT_QUEUE_URL", next_queue)
    function_env.setenv("NOTIFICATION_TOPIC_ARN", topic)
    github_app.add_team(ORG, TEAM)
    # a warm function: githubkit's modules imported, the installation token issued
    add_team_member.handler({"Records": [member_record(BATCH)]}, RunningContext(timeout_ms=60_000))
    Aws(next_queue=next_queue, notifications=notifications).forwarded()
    github_app.slow_down(GITHUB_LATENCY_SECONDS, path=r"/teams/[^/]+/memberships/")
    yield github_app, Aws(next_queue=next_queue, notifications=notifications)
    _join_record_threads()
    dispatch.sqs_client.cache_clear()
    adapter.sns_client.cache_clear()


def _join_record_threads() -> None:
    """Wait for the steps a test left running, so none outlives the fake GitHub and the moto mock."""
    for thread in threading.enumerate():
        if thread.name.startswith("record"):
            thread.join()


def member_record(index: int, receive_count: int = 1) -> dict[str, Any]:
    login = f"member-{index}"
    body = json.dumps({"correlationId": f"d-{index}", "org": ORG, "login": login, "userId": 1000 + index})
    return sqs_record(body, correlation_id=f"d-{index}", receive_count=receive_count)


def test_a_batch_of_ten_slow_github_calls_answers_within_the_timeout(slow_github: tuple[FakeGitHub, Aws]) -> None:
    github, aws = slow_github
    records = [member_record(index) for index in range(BATCH)]
    context = RunningContext()

    response = add_team_member.handler({"Records": records}, context)

    assert context.get_remaining_time_in_millis() > 0, "the function would have timed out"
    assert response == {"batchItemFailures": []}
    assert sorted(body["login"] for _, body in aws.forwarded()) == sorted(f"member-{i}" for i in range(BATCH))
    assert github.teams[(ORG, TEAM)] == {f"member-{i}": "member" for i in range(BATCH + 1)}  # + the warm-up


def test_a_record_still_running_at_the_deadline_is_reported_alone(slow_github: tuple[FakeGitHub, Aws]) -> None:
    github, aws = slow_github
    # member-0 waits long enough to outlast the invocation; the others answer as fast as the rest
    github.slow_down(FUNCTION_TIMEOUT_MS / 1000, path=r"/memberships/member-0$")
    records = [member_record(0, receive_count=MAX_RECEIVE_COUNT), *(member_record(i) for i in range(1, BATCH))]
    context = RunningContext()

    response = add_team_member.handler({"Records": records}, context)

    assert context.get_remaining_time_in_millis() > 0, "the function would have timed out"
    assert response == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    assert sorted(body["login"] for _, body in aws.forwarded()) == sorted(f"member-{i}" for i in range(1, BATCH))
    [notification] = aws.notified()  # its last receive: it goes to the dead-letter queue
    assert notification["message"]["correlationId"] == "d-0"
    assert notification["message"]["errorType"] == "RecordTimedOut"
    _join_record_threads()
    assert aws.forwarded() == [], "a step that finished after the deadline must not forward its result"


class Tick(Message):
    n: int


def test_records_run_at_once_and_each_logs_its_own_correlation_id(function_env: pytest.MonkeyPatch) -> None:
    """Ten steps that each wait for all ten to be running: they only finish if they run concurrently."""
    all_running = threading.Barrier(BATCH, timeout=30)

    def tick(message: Tick) -> None:
        all_running.wait()
        logger.info("ticked", extra={"n": message.n})

    log = io.StringIO()
    function_env.setattr(logger.registered_handler, "stream", log)
    records = [
        sqs_record(json.dumps({"correlationId": f"d-{n}", "n": n}), correlation_id=f"d-{n}") for n in range(BATCH)
    ]

    response = adapter.step_handler(tick, Tick)({"Records": records}, RunningContext(timeout_ms=60_000))

    assert response == {"batchItemFailures": []}
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    ticks = [line for line in lines if line["message"] == "ticked"]
    assert sorted((line["correlation_id"], line["n"]) for line in ticks) == sorted((f"d-{n}", n) for n in range(BATCH))
    tracked = [line for line in lines if line["message"] == "step succeeded"]  # functions/common/tracking.py
    assert sorted((line["correlation_id"], line["input"]["n"]) for line in tracked) == sorted(
        (f"d-{n}", n) for n in range(BATCH)
    )


class Keyed(Message):
    key: str
    n: int


def test_records_with_one_serial_key_run_one_after_another_in_order(function_env: pytest.MonkeyPatch) -> None:
    """Keys a and b: each key's records never overlap and run in receive order; the two keys overlap."""
    lock, running, order = threading.Lock(), {"a": 0, "b": 0}, []
    both_keys_running = threading.Barrier(2, timeout=30)
    overlaps: list[str] = []

    def step(message: Keyed) -> None:
        with lock:
            running[message.key] += 1
            if running[message.key] > 1:
                overlaps.append(message.key)
            order.append((message.key, message.n))
        if message.n == 0:
            both_keys_running.wait()  # the first of each key: only returns if a and b run at once
        time.sleep(0.05)
        with lock:
            running[message.key] -= 1

    messages = [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2)]
    records = [
        sqs_record(json.dumps({"correlationId": f"d-{k}{n}", "key": k, "n": n}), correlation_id=f"d-{k}{n}")
        for k, n in messages
    ]
    handler = adapter.step_handler(step, Keyed, serial_key=lambda message: message.key)

    assert handler({"Records": records}, RunningContext(timeout_ms=60_000)) == {"batchItemFailures": []}
    assert overlaps == []
    assert [n for k, n in order if k == "a"] == [0, 1, 2] and [n for k, n in order if k == "b"] == [0, 1]


def test_a_record_waiting_for_its_turn_at_the_deadline_is_reported_and_never_run(
    function_env: pytest.MonkeyPatch,
) -> None:
    ran: list[int] = []

    def step(message: Keyed) -> None:
        ran.append(message.n)
        time.sleep(1.5)

    records = [
        sqs_record(json.dumps({"correlationId": f"d-{n}", "key": "a", "n": n}), correlation_id=f"d-{n}")
        for n in range(2)
    ]
    handler = adapter.step_handler(step, Keyed, serial_key=lambda message: message.key)
    response = handler({"Records": records}, RunningContext(timeout_ms=batch.REPLY_MARGIN_MS + 1_000))

    assert response == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
    _join_record_threads()
    assert ran == [0], "the second record's turn came after the handler answered: it did not run"
