"""One test per moto fix (sandbox/moto_fixes.py), each on the smallest state machine or call that needs it."""

from __future__ import annotations

import contextlib
import datetime
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from sandbox import moto_fixes
from sandbox.aws import EmbeddedAws
from tests.sandbox.lambda_fixtures import create_function

ROLE = "arn:aws:iam::123456789012:role/sandbox-tests-sfn"
CHILD = {
    "StartAt": "Echo",
    "States": {"Echo": {"Type": "Pass", "Parameters": {"name.$": "$$.Execution.Name", "input.$": "$"}, "End": True}},
}


def _state_machine(aws: EmbeddedAws, definition: dict[str, Any], kind: str = "STANDARD") -> str:
    return aws.client("stepfunctions").create_state_machine(
        name=f"m-{uuid.uuid4().hex[:12]}",
        definition=json.dumps(definition),
        roleArn=ROLE,
        type=kind,
    )["stateMachineArn"]


def _run(aws: EmbeddedAws, machine: str, execution_input: dict[str, Any]) -> dict[str, Any]:
    sfn = aws.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(execution_input))["executionArn"]
    deadline = time.monotonic() + 10
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still running"
        time.sleep(0.02)
    return execution


def _parent_of(resource: str, child: str) -> dict[str, Any]:
    """The backfill's OnboardMember task, reduced: a named child whose Input is a merged JSON object."""
    return {
        "StartAt": "StartChild",
        "States": {
            "StartChild": {
                "Type": "Task",
                "Resource": resource,
                "Parameters": {
                    "StateMachineArn": child,
                    "Name.$": "$.name",
                    "Input.$": "States.JsonMerge($.member, $.startedBy, false)",
                },
                "End": True,
            }
        },
    }


PARENT_INPUT = {"name": "octocat-0123", "member": {"login": "octocat"}, "startedBy": {"by": "parent"}}


def test_start_execution_sync2_runs_the_named_child_and_returns_its_output(aws: EmbeddedAws) -> None:
    child = _state_machine(aws, CHILD)
    parent = _state_machine(aws, _parent_of("arn:aws:states:::states:startExecution.sync:2", child))

    execution = _run(aws, parent, PARENT_INPUT)

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert output["Status"] == "SUCCEEDED"
    assert output["Name"] == "octocat-0123"
    assert output["Output"] == {"name": "octocat-0123", "input": {"login": "octocat", "by": "parent"}}
    assert isinstance(output["StartDate"], int)  # epoch milliseconds, as Step Functions returns them
    children = aws.client("stepfunctions").list_executions(stateMachineArn=child)["executions"]
    assert [(c["name"], c["status"]) for c in children] == [("octocat-0123", "SUCCEEDED")]


def test_start_sync_execution_runs_the_named_express_child(aws: EmbeddedAws) -> None:
    child = _state_machine(aws, CHILD, kind="EXPRESS")
    parent = _state_machine(aws, _parent_of("arn:aws:states:::aws-sdk:sfn:startSyncExecution", child))

    execution = _run(aws, parent, PARENT_INPUT)

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert output["Status"] == "SUCCEEDED"
    assert output["Name"] == "octocat-0123"
    assert ":express:" in output["ExecutionArn"]
    assert json.loads(output["Output"]) == {"name": "octocat-0123", "input": {"login": "octocat", "by": "parent"}}


def test_a_failed_express_child_is_a_status_not_a_task_failure(aws: EmbeddedAws) -> None:
    """What the backfill's CheckOnboarding relies on: startSyncExecution answers with the child's status."""
    failing_child = {"StartAt": "Fail", "States": {"Fail": {"Type": "Fail", "Error": "Boom", "Cause": "child"}}}
    child = _state_machine(aws, failing_child, kind="EXPRESS")
    parent = _state_machine(aws, _parent_of("arn:aws:states:::aws-sdk:sfn:startSyncExecution", child))

    execution = _run(aws, parent, PARENT_INPUT)

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert (output["Status"], output["Error"], output["Cause"]) == ("FAILED", "Boom", "child")


def test_start_sync_execution_through_the_api(aws: EmbeddedAws) -> None:
    child = _state_machine(aws, CHILD, kind="EXPRESS")
    standard = _state_machine(aws, CHILD)
    sfn = aws.client("stepfunctions")

    response = sfn.start_sync_execution(stateMachineArn=child, input='{"a": 1}')

    assert response["status"] == "SUCCEEDED"
    assert json.loads(response["output"])["input"] == {"a": 1}
    with pytest.raises(sfn.exceptions.StateMachineTypeNotSupported):
        sfn.start_sync_execution(stateMachineArn=standard, input="{}")


def test_every_express_execution_is_kept_for_the_cost_meter(aws: EmbeddedAws) -> None:
    """AWS lists no Express executions and moto none of the synchronous ones: the sandbox keeps them all."""
    child = _state_machine(aws, CHILD, kind="EXPRESS")
    sfn = aws.client("stepfunctions")

    synchronous = sfn.start_sync_execution(stateMachineArn=child, input="{}")["executionArn"]
    asynchronous = sfn.start_execution(stateMachineArn=child, input="{}")["executionArn"]

    kept = [execution.exec_arn for execution in aws.express_executions]
    assert synchronous in kept and asynchronous in kept


def test_executions_started_without_a_name_get_distinct_names(aws: EmbeddedAws) -> None:
    machine = _state_machine(aws, CHILD)
    sfn = aws.client("stepfunctions")

    first = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    second = sfn.start_execution(stateMachineArn=machine)["executionArn"]

    assert first != second
    names = {sfn.describe_execution(executionArn=arn)["name"] for arn in (first, second)}
    assert len(names) == 2 and "None" not in names
    assert all(uuid.UUID(name) for name in names)


def test_express_names_are_not_unique_and_standard_names_are(aws: EmbeddedAws) -> None:
    """AWS: a reused name is ExecutionAlreadyExists on STANDARD only; every Express StartExecution runs."""
    express, standard = _state_machine(aws, CHILD, kind="EXPRESS"), _state_machine(aws, CHILD)
    sfn = aws.client("stepfunctions")

    first = sfn.start_execution(stateMachineArn=express, name="delivery", input='{"n": 1}')["executionArn"]
    second = sfn.start_execution(stateMachineArn=express, name="delivery", input='{"n": 1}')["executionArn"]
    sfn.start_execution(stateMachineArn=standard, name="delivery", input='{"n": 1}')
    deadline = time.monotonic() + 10
    while sfn.list_executions(stateMachineArn=standard, statusFilter="RUNNING")["executions"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)

    assert first != second
    assert all(arn.split(":")[5:8] == ["express", express.rsplit(":", 1)[1], "delivery"] for arn in (first, second))
    assert len(sfn.list_executions(stateMachineArn=express)["executions"]) == 2
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):  # closed, same name: Standard keeps it 90 days
        sfn.start_execution(stateMachineArn=standard, name="delivery", input='{"n": 1}')
    with pytest.raises(sfn.exceptions.InvalidExecutionInput):
        sfn.start_execution(stateMachineArn=express, name="delivery", input="not json")


def test_retry_waits_are_scaled(aws: EmbeddedAws) -> None:
    slept: list[float] = []
    recording = moto_fixes.Patches()
    moto_fixes.scale_retry_sleeps(recording, 0.01, sleep=slept.append)
    failing = {
        "StartAt": "GetMissingItem",
        "States": {
            "GetMissingItem": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
                "Parameters": {"TableName": "no-such-table", "Key": {"id": {"S": "1"}}},
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "BackoffRate": 2, "MaxAttempts": 2}],
                "End": True,
            }
        },
    }
    try:
        execution = _run(aws, _state_machine(aws, failing), {})
    finally:
        recording.uninstall()

    assert execution["status"] == "FAILED"
    assert slept == pytest.approx([0.02, 0.04])  # 2 s then 4 s, scaled by 0.01


def test_wait_states_are_scaled(aws: EmbeddedAws) -> None:
    waited: list[float] = []
    recording = moto_fixes.Patches()
    moto_fixes.scale_wait_states(recording, 0.01, wait=lambda env, seconds: waited.append(seconds))
    waiting = {
        "StartAt": "WaitForReset",
        "States": {"WaitForReset": {"Type": "Wait", "SecondsPath": "$.seconds", "End": True}},
    }
    try:
        execution = _run(aws, _state_machine(aws, waiting), {"seconds": 1800})
    finally:
        recording.uninstall()

    assert execution["status"] == "SUCCEEDED"
    assert waited == pytest.approx([18.0])  # half an hour, scaled by 0.01


def test_message_delays_are_scaled(aws: EmbeddedAws) -> None:
    """A 15-minute delay at 0.001 is 0.9 s: delayed at first, then received (unscaled: 15 minutes)."""
    recording = moto_fixes.Patches()
    moto_fixes.scale_message_delays(recording, 0.001)
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"delayed-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        sqs.send_message(QueueUrl=queue_url, MessageBody="later", DelaySeconds=900)
        counts = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
        assert counts["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
        received = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=10).get("Messages", [])
    finally:
        recording.uninstall()

    assert [message["Body"] for message in received] == ["later"]


def test_batch_entries_keep_their_trace_header(aws: EmbeddedAws) -> None:
    """moto alone drops a batch entry's MessageSystemAttributes; with the fix each entry keeps its own."""
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"traced-{uuid.uuid4().hex[:8]}")["QueueUrl"]

    def header(n: int) -> dict[str, Any]:
        return {"AWSTraceHeader": {"DataType": "String", "StringValue": f"Root=1-5759e988-{n:024x}"}}

    def sent_and_received() -> dict[str, str | None]:
        sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": "a", "MessageBody": "a", "MessageSystemAttributes": header(1)},
                {"Id": "b", "MessageBody": "b"},
                {"Id": "c", "MessageBody": "c", "MessageSystemAttributes": header(3)},
            ],
        )
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["AWSTraceHeader"]
        )["Messages"]
        for message in received:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return {m["Body"]: m.get("Attributes", {}).get("AWSTraceHeader") for m in received}

    unfixed = moto_fixes.Patches()
    from moto.sqs.models import SQSBackend

    unfixed.replace(SQSBackend, "send_message", SQSBackend.__dict__["send_message"].__wrapped__)
    unfixed.replace(SQSBackend, "send_message_batch", SQSBackend.__dict__["send_message_batch"].__wrapped__)
    try:
        assert sent_and_received() == {"a": None, "b": None, "c": None}
    finally:
        unfixed.uninstall()
    assert sent_and_received() == {"a": f"Root=1-5759e988-{1:024x}", "b": None, "c": f"Root=1-5759e988-{3:024x}"}


def test_send_message_no_longer_invokes_the_mapped_function(aws: EmbeddedAws) -> None:
    function = create_function(aws, "queue-consumer")
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="mapped")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("lambda").create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=function, BatchSize=5)

    sqs.send_message(QueueUrl=queue_url, MessageBody="hello")

    assert not [r for r in aws.runtime.records() if r.function == "queue-consumer"]
    received = sqs.receive_message(QueueUrl=queue_url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in received] == [("hello", "1")]
    mappings = aws.client("lambda").list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"]
    assert [(m["FunctionArn"], m["BatchSize"]) for m in mappings] == [(function, 5)]


def test_every_invoke_path_runs_in_the_local_runtime(aws: EmbeddedAws) -> None:
    function = create_function(aws, "every-path")
    lam = aws.client("lambda")
    lam.invoke(FunctionName=function, Payload=b'{"path": "invoke"}')
    assert lam.invoke(FunctionName=function, InvocationType="Event", Payload=b'{"path": "event"}')["StatusCode"] == 202
    topic = aws.client("sns").create_topic(Name="every-path")["TopicArn"]
    aws.client("sns").subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function)
    aws.client("sns").publish(TopicArn=topic, Message="from sns")
    task = {
        "StartAt": "Invoke",
        "States": {
            "Invoke": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function, "Payload": {"path": "stepfunctions"}},
                "End": True,
            }
        },
    }
    execution = _run(aws, _state_machine(aws, task), {})

    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["Payload"]["event"] == {"path": "stepfunctions"}
    deadline = time.monotonic() + 10
    while len([r for r in aws.runtime.records() if r.function == "every-path"]) < 4:
        assert time.monotonic() < deadline, aws.runtime.records()
        time.sleep(0.02)


def test_patches_are_undone_in_reverse_order(aws: EmbeddedAws) -> None:
    from moto.sqs.models import Queue
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    installed = StepFunctionsParserBackend.start_execution
    patches = moto_fixes.Patches()
    moto_fixes.name_unnamed_executions(patches)
    patches.replace(Queue, "a_new_attribute", 1)
    assert StepFunctionsParserBackend.start_execution is not installed

    patches.uninstall()

    assert StepFunctionsParserBackend.start_execution is installed
    assert not hasattr(Queue, "a_new_attribute")
    with pytest.raises(RuntimeError, match="already installed"):
        moto_fixes.install(aws.runtime)


def test_concurrent_transactions_never_undo_each_other(aws: EmbeddedAws) -> None:
    """The store step's shape: a conditional Put of a run plus ADD to its totals, all or nothing. Threads
    storing the same runs at once (redeliveries racing their originals) must count each run once."""
    dynamodb = aws.client("dynamodb")
    table = f"runs-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )

    def store(run: int) -> None:
        with contextlib.suppress(dynamodb.exceptions.TransactionCanceledException):  # already stored
            dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": table,
                            "Item": {"pk": {"S": f"RUN#{run}"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": table,
                            "Key": {"pk": {"S": "TOTAL"}},
                            "UpdateExpression": "ADD runs :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
            )

    runs = [run for run in range(40) for _ in range(3)]  # every run stored three times
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(store, runs))
    items = {item["pk"]["S"]: item for item in dynamodb.scan(TableName=table)["Items"]}
    assert {pk for pk in items if pk.startswith("RUN#")} == {f"RUN#{run}" for run in range(40)}
    assert items["TOTAL"]["runs"]["N"] == "40"


def _no_retry_sns(aws: EmbeddedAws) -> Any:
    """An SNS client that sends each call once, so every refused publish is seen."""
    from botocore.config import Config

    from sandbox.aws import emulator_client

    return emulator_client(aws.endpoint_url, "sns", Config(retries={"total_max_attempts": 1}))


def _publish_error(sns: Any, topic: str, subject: str) -> str | None:
    from botocore.exceptions import ClientError

    try:
        sns.publish(TopicArn=topic, Subject=subject, Message="m")
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return None


@pytest.mark.parametrize(
    ("subject", "refused"),
    [
        ("x" * 99, False),
        ("x" * 100, True),  # moto 5.2.5 publishes it; SNS wants fewer than 100
        ("Onboarded mona (employee E1)", False),
        ("Déploiement", True),
        ("two\nlines", True),
        ("tab\there", True),
        (" leading space", True),
        ("[bracketed] punctuation first", False),
    ],
)
def test_sns_refuses_the_subjects_sns_refuses(aws: EmbeddedAws, subject: str, refused: bool) -> None:
    sns = _no_retry_sns(aws)
    topic = sns.create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]
    assert _publish_error(sns, topic, subject) == ("InvalidParameter" if refused else None)
    assert (moto_fixes.sns_subject_problem(subject) is not None) is refused


def test_sns_faults_fail_publishes_to_one_topic_then_recover(aws: EmbeddedAws) -> None:
    sns = _no_retry_sns(aws)
    topic, other = (sns.create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"] for _ in range(2))
    try:
        aws.sns_faults.fail(topic, times=2)
        assert [_publish_error(sns, topic, "a"), _publish_error(sns, other, "b")] == ["InternalError", None]
        assert _publish_error(sns, topic, "c") == "InternalError"
        assert _publish_error(sns, topic, "d") is None, "two failures, then it recovers"
        aws.sns_faults.fail(topic)  # until cleared
        assert all(_publish_error(sns, topic, "e") == "InternalError" for _ in range(5))
        aws.sns_faults.clear()
        assert _publish_error(sns, topic, "f") is None
        assert [subject for arn, subject in aws.sns_faults.rejected if arn == topic] == ["a", "c", *"eeeee"]
    finally:
        aws.sns_faults.clear()
    with pytest.raises(ValueError, match="times must be a positive number"):
        aws.sns_faults.fail(topic, times=0)


def test_cost_allocation_tags_are_listed_with_the_status_last_set(aws: EmbeddedAws) -> None:
    ce = aws.client("ce")
    key = f"test:{uuid.uuid4().hex[:8]}"
    assert ce.list_cost_allocation_tags(TagKeys=[key])["CostAllocationTags"] == []
    for status in ("Inactive", "Active"):
        ce.update_cost_allocation_tags_status(CostAllocationTagsStatus=[{"TagKey": key, "Status": status}])
        (tag,) = ce.list_cost_allocation_tags(TagKeys=[key], Type="UserDefined")["CostAllocationTags"]
        assert (tag["TagKey"], tag["Type"], tag["Status"]) == (key, "UserDefined", status)
    assert ce.list_cost_allocation_tags(TagKeys=[key], Status="Inactive")["CostAllocationTags"] == []


def test_a_metric_with_several_dimensions_is_found_whatever_their_values(aws: EmbeddedAws) -> None:
    cloudwatch = aws.client("cloudwatch")
    namespace = f"Test{uuid.uuid4().hex[:8]}"
    now = datetime.datetime.now(datetime.UTC)
    for use_case, value in (("member_added", 3.0), ("workflow_run", 5.0)):
        dimensions = {"service": "receiver", "Stack": "dev", "UseCase": use_case}
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": "WebhooksAccepted",
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    "Timestamp": now,
                    "Value": value,
                }
            ],
        )
    queries = [
        {
            "Id": f"q{i}",
            "MetricStat": {
                "Metric": {
                    "Namespace": namespace,
                    "MetricName": "WebhooksAccepted",
                    "Dimensions": [
                        {"Name": "Stack", "Value": "dev"},
                        {"Name": "UseCase", "Value": use_case},
                        {"Name": "service", "Value": "receiver"},
                    ],
                },
                "Period": 3600,
                "Stat": "Sum",
            },
        }
        for i, use_case in enumerate(("member_added", "workflow_run"))
    ]
    results = cloudwatch.get_metric_data(
        MetricDataQueries=queries,
        StartTime=now - datetime.timedelta(minutes=30),
        EndTime=now + datetime.timedelta(minutes=30),
    )["MetricDataResults"]
    assert {r["Id"]: r["Values"] for r in results} == {"q0": [3.0], "q1": [5.0]}


def test_query_definitions_are_kept_and_updated_by_id(aws: EmbeddedAws) -> None:
    logs = aws.client("logs")
    name = f"test-{uuid.uuid4().hex[:8]}/one-delivery"
    query_id = logs.put_query_definition(name=name, queryString="fields @message", logGroupNames=["/aws/lambda/x"])[
        "queryDefinitionId"
    ]
    logs.put_query_definition(name=name, queryDefinitionId=query_id, queryString="fields @timestamp")
    (stored,) = logs.describe_query_definitions(queryDefinitionNamePrefix=name)["queryDefinitions"]
    assert (stored["queryDefinitionId"], stored["queryString"], stored["logGroupNames"]) == (
        query_id,
        "fields @timestamp",
        [],
    )
