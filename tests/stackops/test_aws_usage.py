"""``stackops.aws_usage`` against moto: two tagged stacks, CloudWatch metrics seeded inside the window, and
the UsageLines per delivery written out by hand from those figures."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sandbox import moto_fixes
from stackops.aws_resources import DiscoveryError
from stackops.aws_usage import read_usage, transitions
from stackops.cloudwatch import MAX_QUERIES_PER_REQUEST, Metric, metric_sums, window_period
from stackops.tags import ARCHITECTURE_TAG, STACK_TAG
from stackops.usage import UsageLine, UsageReport

NOW = datetime.now(UTC).replace(microsecond=0)
UNTIL = NOW + timedelta(hours=1)  # the Standard execution below starts now: keep it inside the window
SEEN_AT = NOW - timedelta(minutes=10)
ROLE = "arn:aws:iam::123456789012:role/functions"
GIB = 1024**3
NAMESPACE = "GitHubAutomation"
ALL_USE_CASES = ("member_added", "workflow_run", "installation")


def tags(stack: str, architecture: str) -> dict[str, str]:
    return {STACK_TAG: stack, ARCHITECTURE_TAG: architecture}


def code() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


class Seeder:
    def __init__(self, session: boto3.session.Session) -> None:
        self.session = session
        self.cloudwatch = session.client("cloudwatch")

    def metric(self, namespace: str, name: str, value: float, **dimensions: str) -> None:
        self.cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    "Timestamp": SEEN_AT,
                    "Value": value,
                }
            ],
        )

    def function(self, stack: str, architecture: str, key: str, memory: int) -> str:
        name = f"github-automation-{stack}-{key}"
        self.session.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=ROLE,
            Handler="handler.handler",
            Code={"ZipFile": code()},
            MemorySize=memory,
            Architectures=["arm64"],
            Environment={
                "Variables": {
                    "POWERTOOLS_SERVICE_NAME": key,
                    "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                }
            },
            Tags=tags(stack, architecture),
        )
        return name

    def deliveries(self, stack: str, **counts: int) -> None:
        for use_case, count in counts.items():
            self.metric(NAMESPACE, "WebhooksAccepted", count, service="receiver", Stack=stack, UseCase=use_case)


@pytest.fixture
def session() -> Iterator[boto3.session.Session]:
    patches = moto_fixes.Patches()
    moto_fixes.order_metric_dimensions(patches)  # without it moto misses metrics with several dimensions
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            session = boto3.session.Session(region_name="us-east-1")
            session.client("iam").create_role(RoleName="functions", AssumeRolePolicyDocument=json.dumps(trust))
            yield session
    finally:
        patches.uninstall()


def sqs_stack(seed: Seeder) -> None:
    """dev (sqs): 100 member_added and 50 workflow_run deliveries, no installation."""
    s = seed.session
    stack, arch = "dev", "sqs"
    receiver = seed.function(stack, arch, "receiver", 256)
    store = seed.function(stack, arch, "store-records", 512)
    queue = "github-automation-dev-store-records"
    queue_url = s.client("sqs").create_queue(QueueName=queue, tags=tags(stack, arch))["QueueUrl"]
    queue_arn = s.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    s.client("lambda").create_event_source_mapping(
        EventSourceArn=queue_arn["Attributes"]["QueueArn"], FunctionName=store, BatchSize=10
    )
    table = "github-automation-dev-members"
    s.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "login", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "login", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": k, "Value": v} for k, v in tags(stack, arch).items()],
    )
    topic = "github-automation-dev-notifications"
    topic_arn = s.client("sns").create_topic(
        Name=topic, Tags=[{"Key": k, "Value": v} for k, v in tags(stack, arch).items()]
    )["TopicArn"]
    s.client("sns").subscribe(TopicArn=topic_arn, Protocol="email", Endpoint="platform@example.com")
    api = s.client("apigatewayv2").create_api(
        Name="github-automation-dev-webhook", ProtocolType="HTTP", Tags=tags(stack, arch)
    )["ApiId"]
    # Another stack's API in the same account: not this stack's.
    s.client("apigatewayv2").create_api(Name="other-webhook", ProtocolType="HTTP", Tags=tags("other", arch))
    s.client("cloudwatch").put_metric_alarm(
        AlarmName="github-automation-dev-store-records-dlq-not-empty",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": f"{queue}-dlq"}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": k, "Value": v} for k, v in tags(stack, arch).items()],
    )
    s.client("secretsmanager").create_secret(
        Name="github-automation-dev-webhook-x",
        SecretString="s",
        Tags=[{"Key": k, "Value": v} for k, v in tags(stack, arch).items()],
    )
    s.client("kms").create_key(Tags=[{"TagKey": k, "TagValue": v} for k, v in tags(stack, arch).items()])

    seed.deliveries(stack, member_added=100, workflow_run=50)
    seed.metric("AWS/Lambda", "Invocations", 150, FunctionName=receiver)
    seed.metric("AWS/Lambda", "Duration", 150 * 12.5, FunctionName=receiver)
    seed.metric("AWS/Lambda", "Invocations", 30, FunctionName=store)
    seed.metric("AWS/Lambda", "Duration", 30 * 40.0, FunctionName=store)
    for name, value in (
        ("NumberOfMessagesSent", 150),
        ("NumberOfMessagesReceived", 150),
        ("NumberOfMessagesDeleted", 150),
        ("NumberOfEmptyReceives", 8640),
    ):
        seed.metric("AWS/SQS", name, value, QueueName=queue)
    seed.metric("AWS/DynamoDB", "ConsumedWriteCapacityUnits", 200, TableName=table)
    seed.metric("AWS/DynamoDB", "ConsumedReadCapacityUnits", 100, TableName=table)
    seed.metric("AWS/SNS", "NumberOfMessagesPublished", 150, TopicName=topic)
    seed.metric("AWS/SNS", "NumberOfNotificationsDelivered", 150, TopicName=topic)
    seed.metric("AWS/ApiGateway", "Count", 160, ApiId=api)
    seed.metric("AWS/Logs", "IncomingBytes", 1.5 * GIB, LogGroupName=f"/aws/lambda/{receiver}")
    # Outside the window, or another stack's: never counted.
    seed.cloudwatch.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [{"Name": "FunctionName", "Value": receiver}],
                "Timestamp": UNTIL - timedelta(days=2),
                "Value": 1e6,
            }
        ],
    )
    seed.deliveries("other", member_added=1e6)


PASS_TWICE = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": True}}}


def sfn_stack(seed: Seeder) -> None:
    """dev-sfn (stepfunctions, EXPRESS): 10 workflow_run and 2 installation deliveries."""
    s = seed.session
    stack, arch = "dev-sfn", "stepfunctions"
    receiver = seed.function(stack, arch, "receiver", 256)
    sfn = s.client("stepfunctions")
    chargeback = sfn.create_state_machine(
        name="github-automation-dev-sfn-chargeback",
        definition=json.dumps(PASS_TWICE),
        roleArn=ROLE,
        type="EXPRESS",
        tags=[{"key": k, "value": v} for k, v in tags(stack, arch).items()],
    )["stateMachineArn"]
    onboarding = sfn.create_state_machine(
        name="github-automation-dev-sfn-onboarding",
        definition=json.dumps(PASS_TWICE),
        roleArn=ROLE,
        type="EXPRESS",
        tags=[{"key": k, "value": v} for k, v in tags(stack, arch).items()],
    )["stateMachineArn"]
    backfill = sfn.create_state_machine(
        name="github-automation-dev-sfn-backfill",
        definition=json.dumps(PASS_TWICE),
        roleArn=ROLE,
        type="STANDARD",
        tags=[{"key": k, "value": v} for k, v in tags(stack, arch).items()],
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=backfill, input="{}")["executionArn"]
    deadline = time.monotonic() + 10
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)

    seed.deliveries(stack, workflow_run=10, installation=2)
    seed.metric("AWS/Lambda", "Invocations", 12, FunctionName=receiver)
    seed.metric("AWS/Lambda", "Duration", 12 * 10.0, FunctionName=receiver)
    seed.metric("AWS/States", "ExecutionsStarted", 10, StateMachineArn=chargeback)
    seed.metric("AWS/States", "ExecutionTime", 10 * 250.0, StateMachineArn=chargeback)
    seed.metric("AWS/States", "ExecutionsStarted", 2, StateMachineArn=backfill)
    # the backfill's children; no ExecutionTime point (all of them under CloudWatch's resolution, say)
    seed.metric("AWS/States", "ExecutionsStarted", 4, StateMachineArn=onboarding)
    # RecordLatency: one PutMetricData per run priced and per member onboarded by the backfills
    for use_case, count in (("workflow_run", 10), ("installation", 4)):
        seed.cloudwatch.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[
                {
                    "MetricName": "DeliveryLatency",
                    "Dimensions": [{"Name": "Stack", "Value": stack}, {"Name": "UseCase", "Value": use_case}],
                    "Timestamp": SEEN_AT,
                    "StatisticValues": {"SampleCount": count, "Sum": count * 1234.0, "Minimum": 1e3, "Maximum": 2e3},
                    "Unit": "Milliseconds",
                }
            ],
        )


@pytest.fixture
def report(session: boto3.session.Session) -> UsageReport:
    seed = Seeder(session)
    sqs_stack(seed)
    sfn_stack(seed)
    return read_usage(
        ["dev", "dev-sfn"], since=timedelta(days=1), until=UNTIL, session=session, command="stackops compare --since 1d"
    )


def lines_of(report: UsageReport, stack: str, use_case: str) -> list[UsageLine]:
    (found,) = [s for s in report.stacks if s.stack == stack]
    (usage,) = [u for u in found.use_cases if u.use_case == use_case]
    return usage.lines


def line(service: str, unit: str, quantity: float, resource: str = "", **attributes: str | float) -> UsageLine:
    return UsageLine(service=service, unit=unit, quantity=quantity, resource=resource, attributes=attributes)


def test_the_report_names_its_source_command_and_window(report: UsageReport) -> None:
    start = UNTIL.replace(second=0) - timedelta(days=1)
    assert report.source == "aws"
    assert report.command == "stackops compare --since 1d"
    assert report.period == f"{start:%Y-%m-%dT%H:%M:%SZ}/{UNTIL.replace(second=0):%Y-%m-%dT%H:%M:%SZ}"
    assert any("mean Duration" in note for note in report.notes)
    assert [(s.stack, s.architecture, s.workflow_type, s.lambda_architecture) for s in report.stacks] == [
        ("dev", "sqs", None, "arm64"),
        ("dev-sfn", "stepfunctions", "EXPRESS", "arm64"),
    ]


def test_deliveries_per_use_case_come_from_the_stacks_own_metric(report: UsageReport) -> None:
    assert [(s.stack, [(u.use_case, u.deliveries) for u in s.use_cases]) for s in report.stacks] == [
        ("dev", [("member_added", 100), ("workflow_run", 50), ("installation", 0)]),
        ("dev-sfn", [("member_added", 0), ("workflow_run", 10), ("installation", 2)]),
    ]
    assert lines_of(report, "dev", "installation") == []


# dev: 150 deliveries pass through the receiver, store-records, the topic and the API; 100 through the
# members table (member_added and installation: 100 + 0).
RECEIVER_DEV = [
    line("lambda", "requests", 1.0, "receiver", trigger="http"),
    # 150 invokes x 12.5 ms x 256 MB = 0.46875 GB-s, over 150 deliveries
    line(
        "lambda",
        "gb_seconds",
        0.003125,
        "receiver",
        architecture="arm64",
        memoryMb=256.0,
        billedMsPerInvoke=12.5,
        invokesPerDelivery=1.0,
    ),
]
STORE_DEV = [
    # 30 invokes of 5 records (150 received / 30)
    line("lambda", "requests", 0.2, "store-records", trigger="sqs", recordsPerInvoke=5.0),
    # 30 x 40 ms x 512 MB = 0.6 GB-s / 150
    line(
        "lambda",
        "gb_seconds",
        0.004,
        "store-records",
        architecture="arm64",
        memoryMb=512.0,
        billedMsPerInvoke=40.0,
        invokesPerDelivery=0.2,
    ),
]
QUEUE_DEV = [
    line("sqs", "requests", 1.0, "store-records", operation="SendMessage", caller="function"),
    # 150 received in batches of 5: 30 receives, 30 batch deletes
    line("sqs", "requests", 0.2, "store-records", operation="ReceiveMessage", caller="poller", empty="false"),
    line("sqs", "requests", 0.2, "store-records", operation="DeleteMessageBatch", caller="poller"),
]
SHARED_DEV = [
    line("sns", "publishes", 1.0, "notifications"),
    line("sns", "email_deliveries", 1.0, "notifications"),
    line("apigateway", "http_requests", 160 / 150, "webhook"),
    # 1.5 GiB over 150 deliveries
    line("logs", "ingested_gb", 0.01, "receiver", source="lambda", level="INFO"),
]
MEMBERS_DEV = [
    line("dynamodb", "write_request_units", 2.0, "members"),
    line("dynamodb", "read_request_units", 1.0, "members"),
]


def key(usage_line: UsageLine) -> tuple[str, str, str, str]:
    return usage_line.service, usage_line.unit, usage_line.resource, json.dumps(usage_line.attributes, sort_keys=True)


def assert_lines(actual: list[UsageLine], expected: list[UsageLine]) -> None:
    assert sorted(map(key, actual)) == sorted(map(key, expected))
    by_key = {key(x): x for x in expected}
    for got in actual:
        want = by_key[key(got)]
        assert got.quantity == pytest.approx(want.quantity), key(got)
        for name, value in want.attributes.items():
            assert got.attributes[name] == (pytest.approx(value) if isinstance(value, float) else value)


def test_member_added_on_the_sqs_stack(report: UsageReport) -> None:
    expected = RECEIVER_DEV + STORE_DEV + QUEUE_DEV + SHARED_DEV + MEMBERS_DEV
    assert_lines(lines_of(report, "dev", "member_added"), expected)


def test_workflow_run_on_the_sqs_stack_shares_only_what_it_runs_through(report: UsageReport) -> None:
    assert_lines(lines_of(report, "dev", "workflow_run"), RECEIVER_DEV + STORE_DEV + QUEUE_DEV + SHARED_DEV)


def test_the_express_machine_is_billed_per_request_and_100_ms_at_64_mb(report: UsageReport) -> None:
    receiver = [
        line("lambda", "requests", 1.0, "receiver", trigger="http"),
        # 12 x 10 ms x 256 MB = 0.03 GB-s / 12 deliveries
        line(
            "lambda",
            "gb_seconds",
            0.0025,
            "receiver",
            architecture="arm64",
            memoryMb=256.0,
            billedMsPerInvoke=10.0,
            invokesPerDelivery=1.0,
        ),
    ]
    # 10 executions, mean 250 ms billed as 300 ms, at 64 MB: 10 x 0.3 x 0.0625 = 0.1875 GB-s / 10 deliveries
    chargeback = [
        line("states", "express_requests", 1.0, "chargeback"),
        line(
            "states",
            "express_gb_seconds",
            0.01875,
            "chargeback",
            billedMsPerExecution=300.0,
            billedMemoryMb=64.0,
        ),
    ]
    latency = [line("cloudwatch", "metric_api_requests", 1.0, operation="PutMetricData")]
    assert_lines(lines_of(report, "dev-sfn", "workflow_run"), receiver + chargeback + latency)


def test_the_latency_requests_are_counted_from_the_metrics_datapoints(report: UsageReport) -> None:
    """4 datapoints of the backfills' children over the 2 installation deliveries; none in the sqs stack."""
    requests = [x for x in lines_of(report, "dev-sfn", "installation") if x.unit == "metric_api_requests"]
    assert requests == [line("cloudwatch", "metric_api_requests", 2.0, operation="PutMetricData")]
    assert not [x for u in ALL_USE_CASES for x in lines_of(report, "dev", u) if x.unit == "metric_api_requests"]


def test_standard_transitions_are_counted_from_the_histories_and_scaled_to_executions(report: UsageReport) -> None:
    # the sampled execution entered 2 states; 2 executions started over 2 installation deliveries
    (transitions_line,) = [x for x in lines_of(report, "dev-sfn", "installation") if x.unit == "standard_transitions"]
    assert transitions_line == line("states", "standard_transitions", 2.0, "backfill", sampledExecutions=1.0)


def test_an_express_execution_is_billed_100_ms_at_least(report: UsageReport) -> None:
    # 4 executions with no measured time, billed 100 ms each at 64 MB: 4 x 0.1 x 0.0625 = 0.025 GB-s, over the 2
    # installation deliveries (member_added, which shares the machine, had none)
    onboarding = [x for x in lines_of(report, "dev-sfn", "installation") if x.resource == "onboarding"]
    assert_lines(
        onboarding,
        [
            line("states", "express_requests", 2.0, "onboarding"),
            line("states", "express_gb_seconds", 0.0125, "onboarding", billedMsPerExecution=100.0, billedMemoryMb=64.0),
        ],
    )


def test_idle_usage_is_per_month(report: UsageReport) -> None:
    (dev, sfn) = report.stacks
    assert_lines(
        dev.idle.lines,
        [
            # 8640 empty receives in one day, times 30
            line("sqs", "requests", 259200.0, operation="ReceiveMessage", empty="true", caller="poller"),
            line("cloudwatch", "alarms", 1.0),
            # WebhooksAccepted for member_added and for workflow_run, under Stack=dev
            line("cloudwatch", "custom_metrics", 2.0),
            line("secretsmanager", "secrets", 1.0),
            line("kms", "keys", 1.0),
        ],
    )
    # WebhooksAccepted and DeliveryLatency, each for workflow_run and installation, under Stack=dev-sfn
    assert_lines(sfn.idle.lines, [line("cloudwatch", "custom_metrics", 4.0)])


def test_a_stack_without_tagged_resources_is_one_clear_line(session: boto3.session.Session) -> None:
    with pytest.raises(RuntimeError, match=r"^stack 'prod': no resource tagged github-automation:stack=prod in"):
        read_usage(["prod"], since=timedelta(days=1), session=session)


def test_transitions_count_every_state_entered_and_every_retry() -> None:
    history = [
        {"type": "ExecutionStarted"},
        {"type": "TaskStateEntered"},
        {"type": "LambdaFunctionScheduled"},
        {"type": "LambdaFunctionFailed"},
        {"type": "LambdaFunctionScheduled"},  # retry 1
        {"type": "LambdaFunctionFailed"},
        {"type": "LambdaFunctionScheduled"},  # retry 2
        {"type": "LambdaFunctionSucceeded"},
        {"type": "TaskStateExited"},
        {"type": "MapStateEntered"},
        {"type": "PassStateEntered"},
        {"type": "PassStateEntered"},
        {"type": "TaskStateEntered"},
        {"type": "TaskScheduled"},
        {"type": "SucceedStateEntered"},
        {"type": "ExecutionSucceeded"},
    ]
    assert transitions(history) == 1 + 2 + 1 + 2 + 1 + 1


def test_get_metric_data_is_batched_by_500_and_paginated() -> None:
    class CloudWatch:
        def __init__(self) -> None:
            self.requests: list[dict[str, Any]] = []

        def get_metric_data(self, **request: Any) -> dict[str, Any]:
            self.requests.append(request)
            queries = request["MetricDataQueries"]
            if "NextToken" not in request:
                return {
                    "MetricDataResults": [{"Id": q["Id"], "Values": [1.0]} for q in queries],
                    "NextToken": "more",
                }
            return {"MetricDataResults": [{"Id": q["Id"], "Values": [2.0, 0.5]} for q in queries]}

    metrics = [Metric.of("AWS/Lambda", "Invocations", {"FunctionName": f"f{i}"}) for i in range(1001)]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    cloudwatch = CloudWatch()
    sums = metric_sums(cloudwatch, metrics + metrics[:3], start, start + timedelta(days=30))
    assert [len(r["MetricDataQueries"]) for r in cloudwatch.requests] == [500, 500, 500, 500, 1, 1]
    assert MAX_QUERIES_PER_REQUEST == 500
    assert set(sums.values()) == {3.5}
    assert len(sums) == 1001
    assert {q["MetricStat"]["Period"] for r in cloudwatch.requests for q in r["MetricDataQueries"]} == {30 * 86400}


def test_the_period_is_the_window_in_whole_hours() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    assert window_period(start, start + timedelta(hours=12)) == 12 * 3600
    assert window_period(start, start + timedelta(minutes=61)) == 2 * 3600
    assert window_period(start, start + timedelta(minutes=1)) == 3600
    with pytest.raises(ValueError, match="empty"):
        window_period(start, start)


def test_a_stack_without_its_receiver_is_one_clear_line(session: boto3.session.Session) -> None:
    session.client("sqs").create_queue(QueueName="github-automation-half-store-records", tags=tags("half", "sqs"))
    with pytest.raises(DiscoveryError, match=r"^stack 'half': no receiver function among its tagged resources$"):
        read_usage(["half"], since=timedelta(days=1), session=session)
