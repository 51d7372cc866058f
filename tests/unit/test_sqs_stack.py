"""The sqs example stack (``Pulumi.dev.yaml``) under Pulumi mocks: a queue and a dead-letter queue in front
of every consuming step, wired exactly as the functions were told (``components/wiring.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from components import sqs_pipeline, wiring
from components.catalog import BUSINESS_FUNCTIONS, RECEIVER, STORE_RECORDS, FunctionSpec, Needs
from components.config import StackConfig, parse_config
from components.naming import Naming
from tests.unit.program import ProgramRun, Resource, prepare_layer, run_program, stack_config

STACK_FILE = "Pulumi.dev.yaml"
QUEUE = "aws:sqs/queue:Queue"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
FUNCTION = "aws:lambda/function:Function"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
REDRIVE_ALLOW = "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
CONSUMERS: tuple[FunctionSpec, ...] = (*(s for s in BUSINESS_FUNCTIONS if s.key in wiring.NEXT_STEP), STORE_RECORDS)
CONSUME_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}
FOURTEEN_DAYS = 14 * 24 * 3600
# Not the defaults, so the tests see them wired through.
OVERRIDES = {
    "sqsBatchSize": "7",
    "sqsBatchWindowSeconds": "3",
    "maxReceiveCount": "4",
    "backfillMaxConcurrency": "6",
    "githubApiVersion": "2026-03-10",
    "githubRateLimitReserve": "40",
}


class Stack:
    def __init__(self, run: ProgramRun, config: StackConfig) -> None:
        self.run, self.config, self.naming = run, config, Naming("github-automation-dev")

    def queue(self, spec: FunctionSpec) -> Resource:
        (found,) = [q for q in self.run.of_type(QUEUE) if q.inputs["name"] == wiring.queue_name(self.naming, spec)]
        return found

    def dead_letter_queue(self, spec: FunctionSpec) -> Resource:
        name = wiring.dead_letter_queue_name(self.naming, spec)
        (found,) = [q for q in self.run.of_type(QUEUE) if q.inputs["name"] == name]
        return found

    def function(self, spec: FunctionSpec) -> Resource:
        (found,) = [f for f in self.run.of_type(FUNCTION) if f.inputs["name"] == self.naming(spec.key)]
        return found

    def statements_of(self, spec: FunctionSpec) -> list[dict[str, Any]]:
        """Every statement of every policy on the function's role."""
        role = self.function(spec).inputs["role"].rsplit("/", 1)[1]
        return [
            statement
            for policy, document in self.run.policies()
            if policy.inputs["role"] == role
            for statement in document["Statement"]
        ]

    def pipeline_statements(self, spec: FunctionSpec) -> list[dict[str, Any]]:
        (policy,) = [p for p in self.run.of_type(ROLE_POLICY) if p.name == f"sqs-{spec.key}-pipeline"]
        return json.loads(policy.inputs["policy"])["Statement"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    build_dir = tmp_path_factory.mktemp("build")
    config = stack_config(STACK_FILE) | OVERRIDES
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_AUTOMATION_BUILD_DIR", str(build_dir))
        prepare_layer(build_dir, config["lambdaArchitecture"])
        yield Stack(run_program(config), parse_config(config))


def test_the_sqs_stack_has_no_state_machine(stack: Stack) -> None:
    assert stack.run.of_type("aws:sfn/stateMachine:StateMachine") == []
    assert stack.config.architecture == "sqs"


def test_one_queue_and_one_dead_letter_queue_per_consuming_step(stack: Stack) -> None:
    names = sorted(q.inputs["name"] for q in stack.run.of_type(QUEUE))
    expected = [f(stack.naming, spec) for spec in CONSUMERS for f in (wiring.queue_name, wiring.dead_letter_queue_name)]
    assert names == sorted(expected)


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda s: s.key)
def test_every_queue_redrives_to_its_own_dead_letter_queue(stack: Stack, spec: FunctionSpec) -> None:
    queue, dlq = stack.queue(spec), stack.dead_letter_queue(spec)
    assert json.loads(queue.inputs["redrivePolicy"]) == {
        "deadLetterTargetArn": dlq.outputs["arn"],
        "maxReceiveCount": stack.config.max_receive_count,
    }
    assert dlq.inputs["messageRetentionSeconds"] == FOURTEEN_DAYS
    assert queue.inputs["messageRetentionSeconds"] < dlq.inputs["messageRetentionSeconds"], (
        "a message keeps its first enqueue time in the DLQ: it must outlive the source queue's retention"
    )
    (allow,) = [p for p in stack.run.of_type(REDRIVE_ALLOW) if p.inputs["queueUrl"] == dlq.outputs["url"]]
    assert json.loads(allow.inputs["redriveAllowPolicy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [queue.outputs["arn"]],
    }


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda s: s.key)
def test_visibility_timeout_is_at_least_six_times_the_consumer_timeout(stack: Stack, spec: FunctionSpec) -> None:
    queue_arn = stack.queue(spec).outputs["arn"]
    (mapping,) = [m for m in stack.run.of_type(MAPPING) if m.inputs["eventSourceArn"] == queue_arn]
    consumer = next(f for f in stack.run.of_type(FUNCTION) if f.outputs["arn"] == mapping.inputs["functionName"])
    assert consumer.inputs["name"] == stack.naming(spec.key)
    assert stack.queue(spec).inputs["visibilityTimeoutSeconds"] >= 6 * consumer.inputs["timeout"]


def test_every_queue_is_encrypted(stack: Stack) -> None:
    for queue in stack.run.of_type(QUEUE):
        assert queue.inputs["sqsManagedSseEnabled"] is True, queue.name


def test_every_mapping_reports_batch_item_failures_with_the_configured_batching(stack: Stack) -> None:
    mappings = stack.run.of_type(MAPPING)
    assert sorted(m.inputs["eventSourceArn"] for m in mappings) == sorted(
        stack.queue(spec).outputs["arn"] for spec in CONSUMERS
    )
    for mapping in mappings:
        assert mapping.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping.inputs["batchSize"] == stack.config.sqs_batch_size
        assert mapping.inputs["maximumBatchingWindowInSeconds"] == stack.config.sqs_batch_window_seconds
        concurrency = mapping.inputs["scalingConfig"]["maximumConcurrency"]
        assert 2 <= concurrency <= 1000 and concurrency == max(2, stack.config.backfill_max_concurrency)


def test_the_store_step_is_a_lambda_deployed_like_the_business_functions(stack: Stack) -> None:
    store, receiver = stack.function(STORE_RECORDS), stack.function(RECEIVER)
    assert store.inputs["handler"] == STORE_RECORDS.handler
    assert (store.inputs["timeout"], store.inputs["memorySize"]) == (
        STORE_RECORDS.timeout_seconds,
        STORE_RECORDS.memory_mb,
    )
    for key in ("runtime", "layers", "architectures", "tracingConfig"):
        assert store.inputs[key] == receiver.inputs[key], key
    assert sorted(store.inputs["code"].assets) == sorted(receiver.inputs["code"].assets)


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda s: s.key)
def test_each_consumer_may_consume_its_queue_and_feed_only_the_next_one(stack: Stack, spec: FunctionSpec) -> None:
    """...and send to its own queue: a rate-limited record is re-sent there with a delay."""
    own, next_step = stack.queue(spec).outputs["arn"], wiring.NEXT_STEP[spec.key]
    statements = stack.pipeline_statements(spec)
    consume = [s for s in statements if set(s["Action"]) == CONSUME_ACTIONS]
    assert [s["Resource"] for s in consume] == [[own]]
    sends = [s["Resource"] for s in statements if "sqs:SendMessage" in s["Action"]]
    assert sends == [[own]] + ([[stack.queue(next_step).outputs["arn"]]] if next_step else [])
    all_sqs = {a for s in stack.statements_of(spec) for a in s["Action"] if a.startswith("sqs:")}
    assert all_sqs == CONSUME_ACTIONS | {"sqs:SendMessage"}


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda s: s.key)
def test_each_consumer_knows_its_rate_limit_budget(stack: Stack, spec: FunctionSpec) -> None:
    environment = stack.function(spec).inputs["environment"]["variables"]
    assert environment["RATE_LIMIT_MAX_WAIT_SECONDS"] == str(stack.config.rate_limit_max_wait_seconds) == "3600"


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda s: s.key)
def test_each_consumer_may_publish_its_last_receive_failure(stack: Stack, spec: FunctionSpec) -> None:
    topic = stack.run.of_type("aws:sns/topic:Topic")[0].outputs["arn"]
    key = stack.run.of_type("aws:kms/key:Key")[0].outputs["arn"]
    statements = stack.statements_of(spec)
    assert any(s["Action"] == ["sns:Publish"] and s["Resource"] == [topic] for s in statements)
    assert any("kms:GenerateDataKey*" in s["Action"] and s["Resource"] == [key] for s in statements)


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda s: s.key)
def test_each_consumer_forwards_to_the_queue_that_was_created(stack: Stack, spec: FunctionSpec) -> None:
    env = stack.function(spec).inputs["environment"]["variables"]
    next_step = wiring.NEXT_STEP[spec.key]
    assert env.get("NEXT_QUEUE_URL") == (stack.queue(next_step).outputs["url"] if next_step else None)
    assert env["MAX_RECEIVE_COUNT"] == str(stack.config.max_receive_count)


@pytest.mark.parametrize(
    "spec", [s for s in (*BUSINESS_FUNCTIONS, STORE_RECORDS) if s.needs & {Needs.GITHUB_APP_SECRET}]
)
def test_each_github_caller_names_the_configured_api_version(stack: Stack, spec: FunctionSpec) -> None:
    env = stack.function(spec).inputs["environment"]["variables"]
    assert env["GITHUB_API_VERSION"] == stack.config.github_api_version == OVERRIDES["githubApiVersion"]
    assert env["GITHUB_API_URL"] == stack.config.github_api_url
    assert env["GITHUB_RATE_LIMIT_RESERVE"] == str(stack.config.github_rate_limit_reserve) == "40"


def test_the_receiver_dispatches_to_the_entry_queues_that_were_created(stack: Stack) -> None:
    env = stack.function(RECEIVER).inputs["environment"]["variables"]
    for use_case, spec in wiring.ENTRY_STEP.items():
        assert env[f"{use_case}_TARGET"] == stack.queue(spec).outputs["url"]
    sends = [s for s in stack.statements_of(RECEIVER) if "sqs:SendMessage" in s["Action"]]
    assert [sorted(s["Resource"]) for s in sends] == [
        sorted(stack.queue(spec).outputs["arn"] for spec in wiring.ENTRY_STEP.values())
    ]


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda s: s.key)
def test_a_message_in_a_dead_letter_queue_raises_an_alarm_to_the_topic(stack: Stack, spec: FunctionSpec) -> None:
    topic = stack.run.of_type("aws:sns/topic:Topic")[0].outputs["arn"]
    dlq = stack.dead_letter_queue(spec).inputs["name"]
    (alarm,) = [
        a
        for a in stack.run.of_type(ALARM)
        if a.inputs["dimensions"] == {"QueueName": dlq}
        and a.inputs["metricName"] == "ApproximateNumberOfMessagesVisible"
    ]
    assert alarm.inputs["namespace"] == "AWS/SQS"
    assert (alarm.inputs["comparisonOperator"], alarm.inputs["threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm.inputs["alarmActions"] == [topic]


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda s: s.key)
def test_a_queue_nobody_consumes_raises_an_alarm(stack: Stack, spec: FunctionSpec) -> None:
    queue = stack.queue(spec)
    (alarm,) = [a for a in stack.run.of_type(ALARM) if a.inputs["dimensions"] == {"QueueName": queue.inputs["name"]}]
    assert alarm.inputs["metricName"] == "ApproximateAgeOfOldestMessage"
    retries_take = stack.config.max_receive_count * queue.inputs["visibilityTimeoutSeconds"]
    assert alarm.inputs["threshold"] >= retries_take, "a message still being retried is not an outage"
    assert alarm.inputs["alarmActions"] == [stack.run.of_type("aws:sns/topic:Topic")[0].outputs["arn"]]


def test_queue_urls_are_exported(stack: Stack) -> None:
    assert stack.run.exports["queueUrls"] == {spec.key: stack.queue(spec).outputs["url"] for spec in CONSUMERS}
    assert stack.run.exports["deadLetterQueueUrls"] == {
        spec.key: stack.dead_letter_queue(spec).outputs["url"] for spec in CONSUMERS
    }


def test_what_chargeback_reads_is_exported_and_no_secret_value(stack: Stack) -> None:
    """`python -m stackops chargeback [reconcile]` reads the table and the App's secret by these outputs."""
    exports = stack.run.exports
    runs_table = next(t for t in stack.run.of_type("aws:dynamodb/table:Table") if t.inputs["hashKey"] == "pk")
    (app_secret,) = [s for s in stack.run.of_type("aws:secretsmanager/secret:Secret") if s.name == "github-app"]
    assert exports["workflowRunsTable"] == runs_table.outputs["name"]
    assert exports["githubAppSecretArn"] == app_secret.outputs["arn"]
    assert (exports["githubOrg"], exports["githubApiUrl"]) == (stack.config.github_org, stack.config.github_api_url)
    assert exports["githubApiVersion"] == stack.config.github_api_version
    assert "BEGIN" not in json.dumps(exports), "no private key among the outputs"


def test_tables_and_topic_are_encrypted(stack: Stack) -> None:
    for table in stack.run.of_type("aws:dynamodb/table:Table"):
        assert table.inputs["serverSideEncryption"] == {"enabled": True}, table.name
    (topic,) = stack.run.of_type("aws:sns/topic:Topic")
    assert topic.inputs["kmsMasterKeyId"] == stack.run.of_type("aws:kms/key:Key")[0].outputs["arn"]


def test_visibility_timeout_covers_the_batching_window() -> None:
    config = parse_config(stack_config(STACK_FILE) | {"sqsBatchWindowSeconds": "20"})
    assert sqs_pipeline.visibility_timeout_seconds(config, STORE_RECORDS) == 6 * STORE_RECORDS.timeout_seconds + 20


def test_a_batch_above_ten_without_a_batching_window_fails_with_the_key(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_AUTOMATION_BUILD_DIR", str(tmp_path))
    config = stack_config(STACK_FILE) | {"sqsBatchSize": "11", "sqsBatchWindowSeconds": "0"}
    prepare_layer(tmp_path, config["lambdaArchitecture"])
    with pytest.raises(pulumi.RunError, match=r"github-automation:sqsBatchWindowSeconds = 0: at least 1 when"):
        run_program(config)
