"""One test per moto fix (sandbox/moto_fixes.py), each on the smallest state machine or call that needs it."""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import time
import types
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _queue_backend(aws: EmbeddedAws, name: str) -> tuple[Any, Any, str]:
    from moto.sqs.models import sqs_backends

    url = aws.client("sqs").create_queue(QueueName=name)["QueueUrl"]
    backend = sqs_backends["123456789012"]["us-east-1"]
    return backend, backend.get_queue(name), url


def _waited(queue: Any, timeout: int, meanwhile: Callable[[], Any] = lambda: None) -> float:
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        waiting = pool.submit(queue.wait_for_messages, timeout)
        meanwhile()
        waiting.result()
        return time.monotonic() - started


def test_a_long_poll_wakes_when_a_message_becomes_visible(aws: EmbeddedAws) -> None:
    """moto's long poll waits for new messages only: one whose visibility timeout ends, or that is handed
    back, was found a second later at best (here: after the whole 5 s)."""
    name = f"wake-{uuid.uuid4().hex[:8]}"
    backend, queue, url = _queue_backend(aws, name)
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=url, MessageBody="soon visible")
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)
    assert _waited(queue, 5) < 2.5  # due after 1 s

    sqs.send_message(QueueUrl=url, MessageBody="handed back")
    handle = sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"][0]["ReceiptHandle"]

    def hand_back() -> None:
        time.sleep(0.2)
        backend.change_message_visibility(name, handle, 0)

    assert _waited(queue, 5, hand_back) < 2.5


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


def test_concurrent_receives_never_return_the_same_message(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    """An event source mapping polls a queue with several receives at once; SQS hands each visible message
    to one of them. moto checked and marked a message without a lock, so two receives could both take it
    (here made likely by a slow mark)."""
    from moto.sqs.models import Message

    name = f"once-{uuid.uuid4().hex[:8]}"
    _, _, url = _queue_backend(aws, name)
    sqs = aws.client("sqs")
    for start in range(0, 60, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": f"m{n}"} for n in range(start, start + 10)]
        )
    mark_received = Message.mark_received

    def slow_mark(self: Any, visibility_timeout: int | None = None) -> None:
        time.sleep(0.002)
        mark_received(self, visibility_timeout)

    monkeypatch.setattr(Message, "mark_received", slow_mark)

    def receive(_: int) -> list[str]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=120)
        return [m["Body"] for m in messages.get("Messages", [])]

    with ThreadPoolExecutor(max_workers=6) as pool:
        bodies = [body for batch in pool.map(receive, range(12)) for body in batch]
    assert len(bodies) == len(set(bodies)), "a message went to two receives at once"
    assert set(bodies) == {f"m{n}" for n in range(60)}


@pytest.mark.parametrize(
    "names",
    [
        ["All"],
        ["QueueArn"],
        ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "VisibilityTimeout"],
        ["RedrivePolicy", "DelaySeconds"],  # a queue without a redrive policy: only DelaySeconds
    ],
)
def test_get_queue_attributes_reads_the_queues_attributes_once(
    aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch, names: list[str]
) -> None:
    """moto rebuilt every attribute (walking every message for the counts) two or three times per name."""
    from moto.sqs.models import Queue

    backend, queue, url = _queue_backend(aws, f"attributes-{uuid.uuid4().hex[:8]}")
    aws.client("sqs").send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": f"m{n}", "DelaySeconds": n % 2} for n in range(6)]
    )
    aws.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=2)
    built = Queue.attributes.fget
    reads: list[int] = []

    def counted(self: Any) -> dict[str, Any]:
        reads.append(1)
        return built(self)  # type: ignore[misc]

    monkeypatch.setattr(Queue, "attributes", property(counted))
    answer = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    assert len(reads) == 1
    everything = built(queue)  # type: ignore[misc]
    expected = everything if names == ["All"] else {n: everything[n] for n in names if n in everything}
    assert answer == {name: str(value) for name, value in expected.items() if value is not None}, "moto's answer"
    with pytest.raises(ClientError, match="InvalidAttributeName"):
        aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "Colour"])


def test_the_servers_backends_are_looked_up_without_listing_motos_package(
    aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import backends

    def no_listing(path: str) -> list[str]:
        raise AssertionError(f"listed {path}")

    monkeypatch.setattr(backends.os, "listdir", no_listing)
    assert "sqs" in backends.list_of_moto_modules() and "__pycache__" not in backends.list_of_moto_modules()
    assert aws.client("sqs").list_queues() is not None


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


def test_a_metric_with_several_dimensions_is_listed_once(aws: EmbeddedAws) -> None:
    cloudwatch = aws.client("cloudwatch")
    namespace = f"Test{uuid.uuid4().hex[:8]}"
    for use_case in ("member_added", "member_added", "member_added", "workflow_run"):
        dimensions = [{"Name": "Stack", "Value": "dev"}, {"Name": "UseCase", "Value": use_case}]
        cloudwatch.put_metric_data(
            Namespace=namespace, MetricData=[{"MetricName": "DeliveryLatency", "Dimensions": dimensions, "Value": 1.0}]
        )
    listed = cloudwatch.list_metrics(Namespace=namespace)["Metrics"]
    assert sorted(next(d["Value"] for d in m["Dimensions"] if d["Name"] == "UseCase") for m in listed) == [
        "member_added",
        "workflow_run",
    ]


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


def _queue_with_dead_letter_queue(sqs: Any) -> tuple[str, str, str]:
    suffix = uuid.uuid4().hex[:8]
    dlq = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    source = sqs.create_queue(QueueName=f"work-{suffix}", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    return source, dlq, dlq_arn


def test_a_message_move_task_sends_a_dead_letter_queue_back_to_its_source(aws: EmbeddedAws) -> None:
    sqs = aws.client("sqs")
    source, dlq, dlq_arn = _queue_with_dead_letter_queue(sqs)
    attributes = {"correlationId": {"DataType": "String", "StringValue": "d-1"}}
    for n in range(3):
        sqs.send_message(QueueUrl=dlq, MessageBody=f"m{n}", MessageAttributes=attributes)

    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]

    received = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert sorted(m["Body"] for m in received) == ["m0", "m1", "m2"]
    assert {m["MessageAttributes"]["correlationId"]["StringValue"] for m in received} == {"d-1"}
    attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    (task,) = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert (task["TaskHandle"], task["Status"], task["ApproximateNumberOfMessagesMoved"]) == (handle, "COMPLETED", 3)


def test_a_message_move_task_needs_a_dead_letter_queue_as_its_source(aws: EmbeddedAws) -> None:
    sqs = aws.client("sqs")
    source, _, _ = _queue_with_dead_letter_queue(sqs)
    source_arn = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with pytest.raises(sqs.exceptions.ClientError, match="Dead Letter Queue"):
        sqs.start_message_move_task(SourceArn=source_arn)


# --- CloudWatch Logs ----------------------------------------------------------------------------------------


def test_a_function_keeps_its_logging_config(aws: EmbeddedAws) -> None:
    lambda_ = aws.client("lambda")
    json_name, text_name = f"logcfg-{uuid.uuid4().hex[:8]}", f"logcfg-{uuid.uuid4().hex[:8]}"
    create_function(aws, json_name, logging_config={"LogFormat": "JSON", "LogGroup": "/custom/group"})
    create_function(aws, text_name)

    assert lambda_.get_function_configuration(FunctionName=json_name)["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": "/custom/group",
    }
    assert lambda_.get_function_configuration(FunctionName=text_name)["LoggingConfig"] == {
        "LogFormat": "Text",
        "LogGroup": f"/aws/lambda/{text_name}",
    }
    lambda_.update_function_configuration(FunctionName=text_name, LoggingConfig={"LogFormat": "JSON"})
    assert lambda_.get_function(FunctionName=text_name)["Configuration"]["LoggingConfig"]["LogFormat"] == "JSON"


def _log_group_with(aws: EmbeddedAws, streams: dict[str, list[str]]) -> str:
    logs = aws.client("logs")
    group = f"/test/filter-{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    now = int(time.time() * 1000)
    for stream, messages in streams.items():
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": now + i, "message": message} for i, message in enumerate(messages)],
        )
    return group


def _filtered(aws: EmbeddedAws, group: str, pattern: str) -> list[str]:
    events = aws.client("logs").filter_log_events(logGroupName=group, filterPattern=pattern)["events"]
    return [event["message"] for event in events]


def test_filter_log_events_matches_json_property_patterns(aws: EmbeddedAws) -> None:
    one = json.dumps({"level": "INFO", "message": "received", "correlation_id": "7d1e-one"})
    two = json.dumps({"level": "ERROR", "message": "failed", "correlation_id": "9f2a-two"})
    group = _log_group_with(aws, {"a": [one, "START RequestId: r1 Version: $LATEST"], "b": [two]})

    assert _filtered(aws, group, '{ $.correlation_id = "7d1e-one" }') == [one]
    assert _filtered(aws, group, '{ $.correlation_id = "7d1e-one" || $.level = "ERROR" }') == [one, two]
    assert _filtered(aws, group, '{ $.correlation_id = "9f2a-two" && $.level = "INFO" }') == []
    assert _filtered(aws, group, '"9f2a-two"') == [two]
    assert _filtered(aws, group, "9f2a") == [two]  # moto matched everything for a term starting with a digit
    with pytest.raises(aws.client("logs").exceptions.InvalidParameterException):
        _filtered(aws, group, '{ $.correlation_id = "x"')


def test_filter_log_events_interleaves_the_streams_in_time_order(aws: EmbeddedAws) -> None:
    logs = aws.client("logs")
    group = f"/test/interleave-{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    now = int(time.time() * 1000)
    for stream, offsets in (("first", (0, 2, 4)), ("second", (1, 3, 5))):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": now + n, "message": str(n)} for n in offsets],
        )

    events = logs.filter_log_events(logGroupName=group)["events"]
    paged = logs.filter_log_events(logGroupName=group, limit=4)

    assert [e["message"] for e in events] == ["0", "1", "2", "3", "4", "5"]
    rest = logs.filter_log_events(logGroupName=group, limit=4, nextToken=paged["nextToken"])["events"]
    assert [e["message"] for e in paged["events"] + rest] == ["0", "1", "2", "3", "4", "5"]


LOGGED = {
    "StartAt": "Echo",
    "States": {
        "Echo": {"Type": "Pass", "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}


def _logged_state_machine(aws: EmbeddedAws, kind: str, level: str = "ALL", data: bool = True) -> tuple[str, str]:
    group = f"/aws/vendedlogs/states/test-{uuid.uuid4().hex[:8]}"
    logs = aws.client("logs")
    logs.create_log_group(logGroupName=group)
    arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["arn"]
    machine = aws.client("stepfunctions").create_state_machine(
        name=f"m-{uuid.uuid4().hex[:12]}",
        definition=json.dumps(LOGGED),
        roleArn=ROLE,
        type=kind,
        loggingConfiguration={
            "level": level,
            "includeExecutionData": data,
            "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": arn}}],
        },
    )["stateMachineArn"]
    return machine, group


def _execution_log(aws: EmbeddedAws, group: str, execution_arn: str) -> list[dict[str, Any]]:
    logs = aws.client("logs")
    deadline = time.monotonic() + 10
    while True:
        events = logs.filter_log_events(logGroupName=group)["events"]
        records = [json.loads(e["message"]) for e in events]
        mine = [r for r in records if r["execution_arn"] == execution_arn]
        if any(r["type"].startswith("Execution") and r["type"] != "ExecutionStarted" for r in mine):
            return mine
        assert time.monotonic() < deadline, f"no end of {execution_arn} in {records}"
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["STANDARD", "EXPRESS"])
def test_executions_log_their_events_to_the_state_machine_log_group(aws: EmbeddedAws, kind: str) -> None:
    machine, group = _logged_state_machine(aws, kind)

    execution_arn = aws.client("stepfunctions").start_execution(stateMachineArn=machine, input='{"a": 1}')[
        "executionArn"
    ]

    records = _execution_log(aws, group, execution_arn)
    assert [r["type"] for r in records] == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "SucceedStateEntered",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]
    assert [r["id"] for r in records] == [str(n) for n in range(1, 7)]
    if kind == "STANDARD":  # the same ids as the history (AWS keeps none of an Express execution)
        history = aws.client("stepfunctions").get_execution_history(executionArn=execution_arn)["events"]
        assert [(r["id"], r["previous_event_id"]) for r in records] == [
            (str(e["id"]), str(e["previousEventId"])) for e in history
        ]
    assert all(
        set(r) == {"id", "type", "details", "previous_event_id", "event_timestamp", "execution_arn", "redrive_count"}
        for r in records
    )
    assert all(r["event_timestamp"].isdigit() and r["redrive_count"] == "0" for r in records)
    assert json.loads(records[0]["details"]["input"]) == {"a": 1}
    (stream,) = aws.client("logs").describe_log_streams(logGroupName=group)["logStreams"]
    assert stream["logStreamName"].startswith(f"states/{machine.rsplit(':', 1)[-1]}/")


def test_a_sync_express_execution_logs_and_levels_filter_what_is_logged(aws: EmbeddedAws) -> None:
    machine, group = _logged_state_machine(aws, "EXPRESS", level="ALL", data=False)
    sfn = aws.client("stepfunctions")

    execution_arn = sfn.start_sync_execution(stateMachineArn=machine, input='{"secret": 1}')["executionArn"]

    records = _execution_log(aws, group, execution_arn)
    assert records[0]["type"] == "ExecutionStarted" and "input" not in records[0]["details"]

    quiet, quiet_group = _logged_state_machine(aws, "STANDARD", level="ERROR")
    _run(aws, quiet, {})
    assert aws.client("logs").filter_log_events(logGroupName=quiet_group)["events"] == []


def test_a_jsonata_state_evaluates_its_expressions_and_puts_a_metric(aws: EmbeddedAws) -> None:
    """The per-event machines' RecordLatency, reduced: a JSONata Task in a JSONPath machine."""
    namespace = f"Test{uuid.uuid4().hex[:8]}"
    record = {
        "Type": "Task",
        "QueryLanguage": "JSONata",
        "Resource": "arn:aws:states:::aws-sdk:cloudwatch:putMetricData",
        "Arguments": {
            "Namespace": namespace,
            "MetricData": [
                {
                    "MetricName": "DeliveryLatency",
                    "Unit": "Milliseconds",
                    "Value": "{% $max([0, $millis() - $states.input.receivedAt]) %}",
                    "Dimensions": [{"Name": "UseCase", "Value": "{% $states.input.useCase %}"}],
                }
            ],
        },
        "Output": "{% $merge([$states.input, {'recorded': true}]) %}",
        "End": True,
    }
    machine = _state_machine(aws, {"StartAt": "Record", "States": {"Record": record}})
    received_at = int(time.time() * 1000) - 2000

    execution = _run(aws, machine, {"receivedAt": received_at, "useCase": "member_added"})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["output"]) == {"receivedAt": received_at, "useCase": "member_added", "recorded": True}
    now = datetime.datetime.now(datetime.UTC)
    (datapoint,) = aws.client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName="DeliveryLatency",
        Dimensions=[{"Name": "UseCase", "Value": "member_added"}],
        StartTime=now - datetime.timedelta(minutes=5),
        EndTime=now + datetime.timedelta(minutes=5),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert 2000 <= datapoint["Maximum"] < 60_000
    assert datapoint["Unit"] == "Milliseconds"
    (put,) = [
        c for c in aws.api_calls.calls() if c.operation == "PutMetricData" and c.params.get("Namespace") == namespace
    ]
    # what the cost meter counts as the state machine's request (stackops/call_usage.py)
    assert (put.caller, put.service, put.params["MetricData"][0]["MetricName"]) == (
        "ak",
        "monitoring",
        "DeliveryLatency",
    )


def test_a_jsonata_evaluation_error_fails_the_state(aws: EmbeddedAws) -> None:
    """An expression that cannot be evaluated fails the state instead of crashing the engine (AWS names the
    error States.QueryEvaluationError; moto's engine, States.Runtime)."""
    divide = {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% 1 / $states.input.zero %}", "End": True}
    machine = _state_machine(aws, {"StartAt": "Divide", "States": {"Divide": divide}})
    execution = _run(aws, machine, {"zero": 0})
    assert execution["status"] == "FAILED"
    assert execution["error"] in ("States.Runtime", "States.QueryEvaluationError")
    assert "division by zero" in execution["cause"]


def test_a_jsonata_expression_is_parsed_once_and_sees_the_states_and_the_variables(
    aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto wrote $states and the variables into the expression's text, so each evaluation parsed the whole
    input again; they are bound to an expression parsed once, with the same results."""
    import jsonata as jsonata_python

    moto_fixes._parsed_jsonata.cache_clear()
    parses: list[str] = []
    init = jsonata_python.Jsonata.__init__

    def counted(self: Any, expression: str, *args: Any) -> None:
        parses.append(expression)
        init(self, expression, *args)

    monkeypatch.setattr(jsonata_python.Jsonata, "__init__", counted)
    states = {
        "Remember": {
            "Type": "Pass",
            "QueryLanguage": "JSONata",
            "Assign": {"greeting": "{% 'hello ' & $states.input.name %}"},
            "Next": "Answer",
        },
        "Answer": {
            "Type": "Pass",
            "QueryLanguage": "JSONata",
            "Output": "{% {'said': $greeting, 'length': $length($states.input.name), 'none': $states.input.absent} %}",
            "End": True,
        },
    }
    machine = _state_machine(aws, {"StartAt": "Remember", "States": states})
    outputs = [
        json.loads(_run(aws, machine, {"name": name, "padding": "x" * 5000})["output"]) for name in ("ada", "bo")
    ]
    assert outputs == [{"said": "hello ada", "length": 3}, {"said": "hello bo", "length": 2}]
    assert len(parses) == 3, "each expression parsed once, whatever the input (and the string's $type check)"
    assert all("x" * 100 not in expression for expression in parses), "the input is bound, not parsed"


def test_concurrent_evaluations_of_one_parsed_expression_keep_their_own_bindings_and_clock() -> None:
    moto_fixes._parsed_jsonata.cache_clear()
    expression = "($sleep := $states.input.n; {'n': $states.input.n, 'at': $millis()})"

    def evaluate(n: int) -> dict[str, Any]:
        return moto_fixes.evaluate_parsed_jsonata(expression, {"states": {"input": {"n": n}}})

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(evaluate, range(200)))
    assert [result["n"] for result in results] == list(range(200))
    now = time.time() * 1000
    assert all(now - 60_000 < result["at"] <= now for result in results)


def test_each_asl_parse_has_its_own_query_language_scopes(aws: EmbeddedAws) -> None:
    """Two definitions parsed at once (a JSONata state in one) must not see each other's scopes."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    first, second = Preprocessor(), Preprocessor()
    first._query_language_per_scope.append("a scope of the first parse")
    assert second._query_language_per_scope == []

    mixed = {
        "StartAt": "Latency",
        "States": {
            "Latency": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% 1 %}", "Next": "Plain"},
            "Plain": {"Type": "Pass", "Parameters": {"n.$": "$.n"}, "End": True},
        },
    }
    with ThreadPoolExecutor(max_workers=8) as pool:
        parsed = list(pool.map(lambda _: AmazonStateLanguageParser.parse(json.dumps(mixed)), range(64)))
    assert len(parsed) == 64


def test_each_definition_is_parsed_once_and_an_ended_execution_s_program_serves_the_next(
    aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Executions of one machine parse its definition once; one after another they run the same program
    (no copy), and every one still computes its own output."""
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    parse = AmazonStateLanguageParser.parse
    parsed: list[str] = []
    copies: list[Any] = []
    deepcopy = moto_fixes.copy.deepcopy

    def counting(definition: str) -> Any:
        parsed.append(definition)
        return parse(definition)

    def copying(value: Any, *args: Any) -> Any:
        if isinstance(value, Program):
            copies.append(value)
        return deepcopy(value, *args)

    definition = {
        "StartAt": "Branches",
        "States": {
            "Branches": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "Twice", "States": {"Twice": {"Type": "Pass", "End": True}}}],
                "End": True,
            }
        },
    }
    machine = _state_machine(aws, definition)
    monkeypatch.setattr(AmazonStateLanguageParser, "parse", staticmethod(counting))
    monkeypatch.setattr(moto_fixes.copy, "deepcopy", copying)

    outputs = [json.loads(_run(aws, machine, {"n": n})["output"]) for n in range(3)]

    assert outputs == [[{"n": 0}], [{"n": 1}], [{"n": 2}]]
    assert parsed == [json.dumps(definition)]
    assert len(copies) == 1


@pytest.fixture
def programs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The id of the program each execution is given, in order."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    given: list[int] = []
    entrypoint = ExecutionWorker._get_evaluation_entrypoint

    def recording(self: ExecutionWorker) -> Any:
        program = entrypoint(self)
        given.append(id(program))
        return program

    monkeypatch.setattr(ExecutionWorker, "_get_evaluation_entrypoint", recording)
    return given


def test_executions_at_once_run_programs_of_their_own(aws: EmbeddedAws, programs: list[int]) -> None:
    machine = _state_machine(aws, {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}})
    sfn = aws.client("stepfunctions")
    arns = [sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"] for _ in range(3)]
    for arn in arns:
        while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            time.sleep(0.02)

    assert len(set(programs)) == 3


def test_a_reused_program_retries_afresh_and_a_failed_one_is_not_reused(aws: EmbeddedAws, programs: list[int]) -> None:
    """A Retry counts its attempts per execution, also on a program an earlier execution ran; a program
    whose execution failed is not given to the next one (its branches may still be running)."""
    failing = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": {"QueueUrl.$": "$.queue", "MessageBody": "x"},
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1}],
    }
    definition = {
        "StartAt": "Send",
        "States": {
            "Send": {
                **failing,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
                "End": True,
            },
            "Caught": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Fail"}],
                "Default": "Done",
            },
            "Fail": {"Type": "Fail", "Error": "Asked"},
            "Done": {"Type": "Succeed"},
        },
    }
    machine = _state_machine(aws, definition)
    sfn = aws.client("stepfunctions")
    missing = "http://localhost/123456789012/no-such-queue"

    def scheduled(execution: dict[str, Any]) -> int:
        events = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
        return sum(event["type"] == "TaskScheduled" for event in events)

    first = _run(aws, machine, {"queue": missing, "fail": False})
    second = _run(aws, machine, {"queue": missing, "fail": False})
    failed = _run(aws, machine, {"queue": missing, "fail": True})
    after_failure = _run(aws, machine, {"queue": missing, "fail": False})

    assert [e["status"] for e in (first, second, failed, after_failure)] == [
        "SUCCEEDED",
        "SUCCEEDED",
        "FAILED",
        "SUCCEEDED",
    ]
    assert [scheduled(e) for e in (first, second, after_failure)] == [3, 3, 3]
    assert programs[0] == programs[1] == programs[2]  # the ended executions' program, each time
    assert programs[3] != programs[2]  # the failed one's was not given back


def test_a_definition_that_fails_to_parse_fails_every_execution(aws: EmbeddedAws) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import ASLParserException
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    worker = ExecutionWorker.__new__(ExecutionWorker)
    worker._evaluation_details = types.SimpleNamespace(  # type: ignore[assignment]
        state_machine_details=types.SimpleNamespace(definition='{"StartAt": "Nowhere", "States": {')
    )
    for _ in range(2):  # not kept as a parsed program: the second execution fails as the first did
        with pytest.raises(ASLParserException):
            worker._get_evaluation_entrypoint()


def test_the_engine_keeps_one_client_per_service_and_port(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    first = lambda_eval_utils.boto_client_for(region="us-east-1", service="lambda")
    assert lambda_eval_utils.boto_client_for(region="us-east-1", service="lambda") is first
    assert lambda_eval_utils.boto_client_for(region="us-east-1", service="sqs") is not first
    assert lambda_eval_utils.boto_client_for(region="eu-west-1", service="lambda") is not first
    assert first.meta.endpoint_url.endswith(f":{aws.port}")
    monkeypatch.setenv("MOTO_PORT", str(aws.port + 1))
    other = lambda_eval_utils.boto_client_for(region="us-east-1", service="lambda")
    assert other is not first
    assert other.meta.endpoint_url.endswith(f":{aws.port + 1}")


def test_a_json_path_is_parsed_once_and_still_found(aws: EmbeddedAws) -> None:
    from moto.stepfunctions.parser.asl.utils import json_path

    assert json_path.parse("$.member.login") is json_path.parse("$.member.login")
    assert json_path.extract_json("$.member.login", {"member": {"login": "alice"}}) == "alice"
    assert json_path.extract_json("$.member.login", {"member": {"login": "bob"}}) == "bob"


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=30,
)


def _containers(value: Any) -> list[Any]:
    found = [value] if isinstance(value, (dict, list)) else []
    for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        found += _containers(item)
    return found


@settings(max_examples=200, deadline=None)
@given(_JSON_VALUES)
def test_a_json_value_is_copied_as_deepcopy_copies_it_with_no_container_shared(value: Any) -> None:
    copied = moto_fixes.copy_json_value(value)
    assert copied == copy.deepcopy(value)
    originals = {id(container) for container in _containers(value)}
    assert not originals & {id(container) for container in _containers(copied)}


def test_what_is_not_json_is_deep_copied() -> None:
    when = datetime.datetime(2026, 12, 5, tzinfo=datetime.UTC)
    marker = types.SimpleNamespace(items=[1])
    copied = moto_fixes.copy_json_value({"at": when, "marker": marker, "pair": (1, [2])})
    assert copied["at"] == when and copied["pair"] == (1, [2])
    assert (
        copied["marker"] is not marker and copied["marker"].items == [1] and copied["marker"].items is not marker.items
    )


def test_the_engine_copies_state_data_as_json_and_each_iteration_gets_its_own(aws: EmbeddedAws) -> None:
    from moto.stepfunctions.parser.asl.eval import states

    assert states.copy.deepcopy is moto_fixes.copy_json_value
    # every iteration writes its result into its own copy of the shared item: no iteration sees another's
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.members",
                "ItemSelector": {"member.$": "$$.Map.Item.Value", "page.$": "$.page"},
                "ItemProcessor": {
                    "StartAt": "Mark",
                    "States": {
                        "Mark": {
                            "Type": "Pass",
                            "Result": "marked",
                            "ResultPath": "$.page.mark",
                            "OutputPath": "$.page",
                            "End": True,
                        }
                    },
                },
                "End": True,
            }
        },
    }
    page = {"n": 1, "members": ["a", "b"]}
    execution = _run(aws, _state_machine(aws, definition), {"members": ["alice", "bob", "carol"], "page": page})
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == [{**page, "mark": "marked"}] * 3


# --- Distributed Map --------------------------------------------------------------------------------------


def _distributed(states: dict[str, Any], execution_type: str = "STANDARD", **fields: Any) -> dict[str, Any]:
    """A machine whose one state is a Distributed Map running ``states`` (starting at the first) per item."""
    processor = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
        "StartAt": next(iter(states)),
        "States": states,
    }
    return {"StartAt": "Pages", "States": {"Pages": {"Type": "Map", "ItemProcessor": processor, "End": True, **fields}}}


#: A child that fails (``Boom``) when its item says so, and otherwise answers the item's ``n``.
FAILING_CHILD = {
    "Check": {
        "Type": "Choice",
        "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Boom"}],
        "Default": "Done",
    },
    "Boom": {"Type": "Fail", "Error": "Boom", "Cause": "the item asked to fail"},
    "Done": {"Type": "Pass", "InputPath": "$.n", "End": True},
}


def _items(failing: int, total: int) -> dict[str, Any]:
    return {"items": [{"n": n, "fail": n < failing} for n in range(total)]}


def _map_runs(aws: EmbeddedAws, execution_arn: str) -> list[Any]:
    """moto's map run records of an execution (its worker's environment keeps them)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
    (execution,) = [e for m in backend.state_machines for e in m.executions if e.exec_arn == execution_arn]
    return execution.exec_worker.env.map_run_record_pool_manager.get_all()  # type: ignore[no-any-return]


def test_a_distributed_map_runs_express_children(aws: EmbeddedAws) -> None:
    """AWS accepts ``"ExecutionType": "EXPRESS"``; moto's grammar knew only STANDARD. The map run says which."""
    who = {"Who": {"Type": "Pass", "Parameters": {"id.$": "$$.Execution.Id", "n.$": "$.n"}, "End": True}}
    definition = json.dumps(_distributed(who, "EXPRESS", ItemsPath="$.items"))
    sfn = aws.client("stepfunctions")
    machine = sfn.create_state_machine(name=f"m-{uuid.uuid4().hex[:12]}", definition=definition, roleArn=ROLE)[
        "stateMachineArn"
    ]

    execution = _run(aws, machine, _items(0, 2))

    assert sfn.describe_state_machine(stateMachineArn=machine)["definition"] == definition  # as created
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert [child["n"] for child in output] == [0, 1]
    assert all(":express:" in child["id"] for child in output)
    assert [run.execution_type for run in _map_runs(aws, execution["executionArn"])] == ["EXPRESS"]


def test_express_children_cannot_wait_for_a_job(aws: EmbeddedAws) -> None:
    """AWS: Express workflows don't support ``.sync`` (nor ``.waitForTaskToken``): refused at creation."""
    sync = {
        "Start": {
            "Type": "Task",
            "Resource": "arn:aws:states:::states:startExecution.sync:2",
            "Parameters": {"StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:c"},
            "End": True,
        }
    }
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="Express workflows don't support.*startExecution.sync:2"):  # (moto's
        _state_machine(aws, _distributed(sync, "EXPRESS"))  # InvalidDefinition answers with no error code)
    assert _state_machine(aws, _distributed(sync, "STANDARD"))


def test_an_integer_tolerated_failure_percentage_is_accepted(aws: EmbeddedAws) -> None:
    """AWS documents the percentage as 0 to 100 (``10``); moto's grammar took only ``10.0``."""
    sfn = aws.client("stepfunctions")
    definition = json.dumps(_distributed(FAILING_CHILD, ItemsPath="$.items", ToleratedFailurePercentage=10))
    machine = sfn.create_state_machine(name=f"m-{uuid.uuid4().hex[:12]}", definition=definition, roleArn=ROLE)[
        "stateMachineArn"
    ]

    assert sfn.describe_state_machine(stateMachineArn=machine)["definition"] == definition
    execution = _run(aws, machine, _items(0, 3))
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert _state_machine(aws, _distributed(FAILING_CHILD, ToleratedFailureCount=1))  # (an INT: always parsed)


@pytest.mark.parametrize(
    ("tolerance", "failing", "status"),
    [
        ({}, 1, "FAILED"),  # default 0: any failure
        ({}, 0, "SUCCEEDED"),
        ({"ToleratedFailureCount": 1}, 1, "SUCCEEDED"),
        ({"ToleratedFailureCount": 1}, 2, "FAILED"),
        ({"ToleratedFailurePercentage": 50}, 2, "SUCCEEDED"),  # 2 of 4: not beyond 50 %
        ({"ToleratedFailurePercentage": 50}, 3, "FAILED"),
        ({"ToleratedFailurePercentage": 50, "ToleratedFailureCount": 1}, 2, "FAILED"),  # beyond either one
    ],
)
def test_failed_children_beyond_the_tolerance_fail_the_map(
    aws: EmbeddedAws, tolerance: dict[str, Any], failing: int, status: str
) -> None:
    machine = _state_machine(aws, _distributed(FAILING_CHILD, ItemsPath="$.items", **tolerance))

    execution = _run(aws, machine, _items(failing, 4))

    assert execution["status"] == status, execution.get("cause")
    if status == "FAILED":
        assert execution["error"] == "States.ExceedToleratedFailureThreshold"
        events = aws.client("stepfunctions").get_execution_history(executionArn=execution["executionArn"])["events"]
        assert [e["type"] for e in events if e["type"].startswith("Map")][-2:] == ["MapRunFailed", "MapStateFailed"]
        assert [run.status for run in _map_runs(aws, execution["executionArn"])] == ["FAILED"]


def test_a_failed_child_within_the_tolerance_leaves_its_execution_result(aws: EmbeddedAws) -> None:
    """AWS (ResultWriter, COMPACT): a succeeded child's place holds its output, a failed one's its execution
    result unchanged (the NONE transformation's fields); moto left ``null`` there."""
    machine = _state_machine(aws, _distributed(FAILING_CHILD, ItemsPath="$.items", ToleratedFailureCount=1))

    execution = _run(aws, machine, _items(1, 2))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    failed, succeeded = json.loads(execution["output"])
    assert succeeded == 1
    assert (failed["Status"], failed["Error"], failed["Cause"]) == ("FAILED", "Boom", "the item asked to fail")
    assert json.loads(failed["Input"]) == {"n": 0, "fail": True}
    child_machine = failed["StateMachineArn"]  # <machine>/<map run label>
    assert failed["ExecutionArn"] == f"{child_machine.replace(':stateMachine:', ':execution:')}:{failed['Name']}"
    assert {"InputDetails", "StartDate", "StopDate"} <= set(failed)


def test_a_map_run_counts_its_failed_children_as_ended(aws: EmbeddedAws) -> None:
    machine = _state_machine(aws, _distributed(FAILING_CHILD, ItemsPath="$.items", ToleratedFailureCount=2))
    sfn = aws.client("stepfunctions")

    execution = _run(aws, machine, _items(2, 3))

    (run,) = sfn.list_map_runs(executionArn=execution["executionArn"])["mapRuns"]
    counts = sfn.describe_map_run(mapRunArn=run["mapRunArn"])["executionCounts"]
    assert (counts["total"], counts["running"], counts["failed"], counts["succeeded"]) == (3, 0, 2, 1)


def test_a_catch_on_the_map_catches_the_exceeded_threshold(aws: EmbeddedAws) -> None:
    definition = _distributed(
        FAILING_CHILD,
        ItemsPath="$.items",
        Catch=[{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "ResultPath": "$.error", "Next": "Caught"}],
    )
    del definition["States"]["Pages"]["End"]
    definition["States"]["Pages"]["Next"] = "Done"
    definition["States"]["Done"] = {"Type": "Succeed"}
    definition["States"]["Caught"] = {"Type": "Pass", "OutputPath": "$.error", "End": True}

    execution = _run(aws, _state_machine(aws, definition), _items(1, 2))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["output"])["Error"] == "States.ExceedToleratedFailureThreshold"


def test_a_distributed_child_runs_as_an_execution_of_its_own(aws: EmbeddedAws) -> None:
    """In a child ``$$.Execution`` is the child's (AWS starts an execution per item); the ItemSelector is
    evaluated in the parent's context: its ``$$.Execution.Name`` and ``$$.Map.Item``. MaxConcurrency is
    accepted on a distributed map."""
    who = {
        "Who": {
            "Type": "Pass",
            "Parameters": {"selected.$": "$", "name.$": "$$.Execution.Name", "input.$": "$$.Execution.Input"},
            "End": True,
        }
    }
    selector = {"parent.$": "$$.Execution.Name", "value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"}
    machine = _state_machine(aws, _distributed(who, ItemsPath="$.items", ItemSelector=selector, MaxConcurrency=1))
    sfn = aws.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, name="the-parent", input='{"items": ["a", "b"]}')["executionArn"]
    deadline = time.monotonic() + 10
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    children = json.loads(execution["output"])
    assert [child["selected"] for child in children] == [
        {"parent": "the-parent", "value": "a", "index": 0},
        {"parent": "the-parent", "value": "b", "index": 1},
    ]
    assert [child["input"] for child in children] == [child["selected"] for child in children]
    names = [child["name"] for child in children]
    assert len(set(names)) == 2 and "the-parent" not in names


def test_the_list_objects_reader_gives_every_object_as_aws_does(aws: EmbeddedAws) -> None:
    """Every object under the prefix (all pages: here two to a page), each as ``{Etag, Key, LastModified
    (epoch seconds), Size, StorageClass}``; moto gave boto3's first page, datetimes and all."""
    s3 = aws.client("s3")
    bucket = f"pages-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for n in range(3):
        s3.put_object(Bucket=bucket, Key=f"members/{n}.json", Body=b"[]")
    echo = {"Echo": {"Type": "Pass", "End": True}}

    def reading(prefix: str) -> dict[str, Any]:
        reader = {
            "Resource": "arn:aws:states:::s3:listObjectsV2",
            "Parameters": {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 2},
        }
        return _run(aws, _state_machine(aws, _distributed(echo, ItemReader=reader)), {})

    listed, none = reading("members/"), reading("nothing/")

    assert listed["status"] == "SUCCEEDED", listed.get("cause")
    items = json.loads(listed["output"])
    assert [item["Key"] for item in items] == ["members/0.json", "members/1.json", "members/2.json"]
    assert all(set(item) == {"Etag", "Key", "LastModified", "Size", "StorageClass"} for item in items)
    assert all(isinstance(item["LastModified"], int) and item["Size"] == 2 for item in items)
    assert abs(items[0]["LastModified"] - time.time()) < 600
    assert (none["status"], json.loads(none.get("output") or "null")) == ("SUCCEEDED", [])


def test_an_sdk_get_object_gives_the_body_as_text(aws: EmbeddedAws) -> None:
    """AWS gives ``aws-sdk:s3:getObject``'s Body as the object's content (``States.StringToJson($.Body)``
    reads it); moto passed on boto3's stream."""
    s3 = aws.client("s3")
    bucket = f"bodies-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="page.json", Body=json.dumps([{"login": "octocat"}]).encode())
    read = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
        "Parameters": {"Bucket": bucket, "Key": "page.json"},
        "ResultSelector": {"members.$": "States.StringToJson($.Body)", "body.$": "$.Body"},
        "End": True,
    }

    execution = _run(aws, _state_machine(aws, {"StartAt": "Read", "States": {"Read": read}}), {})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["output"]) == {"members": [{"login": "octocat"}], "body": '[{"login": "octocat"}]'}


# --- Distributed Map: the children as executions ----------------------------------------------------------


def _children(sfn: Any, map_run_arn: str, **filters: Any) -> list[dict[str, Any]]:
    """Every child of the map run, two to a page (ListExecutions' own pagination)."""
    pages = sfn.get_paginator("list_executions").paginate(
        mapRunArn=map_run_arn, PaginationConfig={"PageSize": 2}, **filters
    )
    return [child for page in pages for child in page["executions"]]


def _map_run_started(sfn: Any, execution_arn: str) -> str:
    """The map run ARN of the execution's MapRunStarted event, as ``stackops trace`` finds it."""
    events = sfn.get_execution_history(executionArn=execution_arn)["events"]
    (started,) = [e for e in events if e["type"] == "MapRunStarted"]
    return str(started["mapRunStartedEventDetails"]["mapRunArn"])


def test_a_map_run_s_children_are_executions_to_list_describe_and_read(aws: EmbeddedAws) -> None:
    """AWS: ``ListExecutions(mapRunArn=...)`` lists the children, each one is described and has a history of
    its own; moto crashed on the listing and dropped the children's events. The parent machine's listing
    keeps its own executions only; ListMapRuns and DescribeMapRun say what the Map declared."""
    definition = _distributed(FAILING_CHILD, ItemsPath="$.items", MaxConcurrency=2, ToleratedFailureCount=1)
    machine = _state_machine(aws, definition)
    sfn = aws.client("stepfunctions")

    execution = _run(aws, machine, _items(1, 3))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    map_run = _map_run_started(sfn, execution["executionArn"])
    (listed_run,) = sfn.list_map_runs(executionArn=execution["executionArn"])["mapRuns"]
    assert (listed_run["mapRunArn"], listed_run["executionArn"]) == (map_run, execution["executionArn"])
    described_run = sfn.describe_map_run(mapRunArn=map_run)
    assert (described_run["maxConcurrency"], described_run["toleratedFailureCount"]) == (2, 1)
    children = _children(sfn, map_run)
    assert len(children) == 3 and len({child["executionArn"] for child in children}) == 3
    child_machine = listed_run["stateMachineArn"]  # <machine>/<map run label>
    for child in children:
        assert child["stateMachineArn"] == child_machine and child["mapRunArn"] == map_run
        assert child["executionArn"] == f"{child_machine.replace(':stateMachine:', ':execution:')}:{child['name']}"
        assert child["startDate"] <= child["stopDate"]
    assert sorted(child["status"] for child in children) == ["FAILED", "SUCCEEDED", "SUCCEEDED"]
    assert [c["status"] for c in _children(sfn, map_run, statusFilter="FAILED")] == ["FAILED"]
    assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]] == [
        execution["executionArn"]
    ]

    described = {
        json.loads(d["input"])["n"]: d
        for d in (sfn.describe_execution(executionArn=child["executionArn"]) for child in children)
    }
    failed, succeeded = described[0], described[2]
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "Boom", "the item asked to fail")
    assert (succeeded["status"], json.loads(succeeded["output"])) == ("SUCCEEDED", 2)
    assert all(d["mapRunArn"] == map_run and d["stateMachineArn"] == child_machine for d in described.values())

    def history(child: dict[str, Any]) -> list[dict[str, Any]]:
        return sfn.get_execution_history(executionArn=child["executionArn"])["events"]  # type: ignore[no-any-return]

    failed_events, succeeded_events = history(failed), history(succeeded)
    assert [e["type"] for e in failed_events] == [
        "ExecutionStarted",
        "ChoiceStateEntered",
        "ChoiceStateExited",
        "FailStateEntered",
        "ExecutionFailed",
    ]
    assert failed_events[-1]["executionFailedEventDetails"] == {"error": "Boom", "cause": "the item asked to fail"}
    assert [e["type"] for e in succeeded_events][-3:] == ["PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
    assert json.loads(succeeded_events[0]["executionStartedEventDetails"]["input"]) == {"n": 2, "fail": False}
    assert [e["id"] for e in succeeded_events] == list(range(1, len(succeeded_events) + 1))
    assert all(isinstance(e["timestamp"], datetime.datetime) for e in succeeded_events)
    parent_types = [e["type"] for e in sfn.get_execution_history(executionArn=execution["executionArn"])["events"]]
    assert "ChoiceStateEntered" not in parent_types  # (the children's events are theirs only)
    assert sfn.list_map_runs(executionArn=failed["executionArn"])["mapRuns"] == []


def test_a_backfill_shaped_map_run_s_children_are_read_as_on_aws(aws: EmbeddedAws) -> None:
    """The backfill's shape: a child per S3 object (listObjectsV2 ItemReader) that reads its page and runs an
    inline Map over its members; each child's history has its task's and its inline Map's events."""
    s3 = aws.client("s3")
    bucket = f"backfill-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for page in range(3):
        s3.put_object(Bucket=bucket, Key=f"pages/members-{page}.json", Body=json.dumps([{"login": f"m{page}"}]))
    page_states = {
        "ReadPage": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
            "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.key"},
            "ResultSelector": {"members.$": "States.StringToJson($.Body)"},
            "ResultPath": "$.page",
            "Next": "OnboardMembers",
        },
        "OnboardMembers": {
            "Type": "Map",
            "ItemsPath": "$.page.members",
            "MaxConcurrency": 5,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "MemberOnboarded",
                "States": {
                    "MemberOnboarded": {
                        "Type": "Pass",
                        "Parameters": {"login.$": "$.login", "status": "SUCCEEDED"},
                        "End": True,
                    }
                },
            },
            "ResultSelector": {"count.$": "States.ArrayLength($)"},
            "End": True,
        },
    }
    definition = _distributed(
        page_states,
        ItemReader={
            "Resource": "arn:aws:states:::s3:listObjectsV2",
            "Parameters": {"Bucket": bucket, "Prefix": "pages/"},
        },
        ItemSelector={"bucket": bucket, "key.$": "$$.Map.Item.Value.Key"},
        MaxConcurrency=2,
        ToleratedFailurePercentage=10,
    )
    sfn = aws.client("stepfunctions")

    execution = _run(aws, _state_machine(aws, definition), {})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    map_run = _map_run_started(sfn, execution["executionArn"])
    (listed_run,) = sfn.list_map_runs(executionArn=execution["executionArn"])["mapRuns"]
    assert listed_run["executionArn"] == execution["executionArn"]
    described_run = sfn.describe_map_run(mapRunArn=map_run)
    assert (described_run["maxConcurrency"], described_run["toleratedFailurePercentage"]) == (2, 10)
    children = _children(sfn, map_run)
    assert [child["status"] for child in children] == ["SUCCEEDED"] * 3
    keys = []
    for child in children:
        described = sfn.describe_execution(executionArn=child["executionArn"])
        keys.append(json.loads(described["input"])["key"])
        assert json.loads(described["output"])["count"] == 1
        events = sfn.get_execution_history(executionArn=child["executionArn"])["events"]
        types = [e["type"] for e in events]
        assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
        assert types.index("TaskScheduled") < types.index("TaskStarted") < types.index("TaskSucceeded")
        assert {"MapStateEntered", "MapIterationStarted", "MapIterationSucceeded", "MapStateExited"} <= set(types)
        (scheduled,) = [e for e in events if e["type"] == "TaskScheduled"]
        assert scheduled["taskScheduledEventDetails"]["resource"] == "getObject"
    assert sorted(keys) == [f"pages/members-{page}.json" for page in range(3)]


def _deny_unless(bucket: str, secure_transport: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": secure_transport}},
                }
            ],
        }
    )


def test_a_bucket_denying_insecure_transport_serves_requests_made_over_tls(aws: EmbeddedAws) -> None:
    """The deny-insecure-transport statement denies what does not use TLS only; moto ignored its Bool
    condition and denied every request (PutObject 403)."""
    s3 = aws.client("s3")
    secure, insecure = f"tls-{uuid.uuid4().hex[:8]}", f"plain-{uuid.uuid4().hex[:8]}"
    for bucket in (secure, insecure):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=secure, Policy=_deny_unless(secure, "false"))
    # the same statement turned round (deny what does use TLS), so the condition is evaluated, not dropped
    s3.put_bucket_policy(Bucket=insecure, Policy=_deny_unless(insecure, "true"))

    s3.put_object(Bucket=secure, Key="page.json", Body=b"[]")
    assert s3.get_object(Bucket=secure, Key="page.json")["Body"].read() == b"[]"
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=insecure, Key="page.json", Body=b"[]")
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_an_sdk_s3_task_s_error_is_named_as_step_functions_names_it(aws: EmbeddedAws) -> None:
    """``S3.<Error>Exception``, so a Catch written for AWS catches it; moto said ``s3.NoSuchBucketException``."""
    read = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
        "Parameters": {"Bucket": f"missing-{uuid.uuid4().hex[:8]}", "Key": "page.json"},
        "Catch": [{"ErrorEquals": ["S3.NoSuchBucketException"], "ResultPath": "$.error", "Next": "Caught"}],
        "End": True,
    }
    caught = {"Type": "Pass", "End": True}
    definition = {"StartAt": "Read", "States": {"Read": read, "Caught": caught}}

    execution = _run(aws, _state_machine(aws, definition), {})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["output"])["error"]["Error"] == "S3.NoSuchBucketException"


def _runs_table(dynamodb: Any) -> str:
    table = f"totals-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    return table


def test_a_cancelled_transaction_leaves_every_item_it_named_as_it_was(aws: EmbeddedAws) -> None:
    dynamodb = aws.client("dynamodb")
    table = _runs_table(dynamodb)
    total = {"pk": {"S": "REPO#a"}, "sk": {"S": "TOTAL"}}
    dynamodb.put_item(TableName=table, Item={**total, "runs": {"N": "1"}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "REPO#a"}, "sk": {"S": "RUN#1"}})

    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "REPO#a"}, "sk": {"S": "RUN#2"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": total,
                        "UpdateExpression": "ADD runs :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": "REPO#a"}, "sk": {"S": "RUN#1"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )

    items = dynamodb.scan(TableName=table)["Items"]
    assert sorted(item["sk"]["S"] for item in items) == ["RUN#1", "TOTAL"], "the new run is gone again"
    assert next(item for item in items if item["sk"]["S"] == "TOTAL")["runs"] == {"N": "1"}, "the ADD undone"


def test_a_transaction_copies_the_items_it_names_not_their_tables(
    aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto deep-copied every table a transaction touched: a write cost the size of its table."""
    from moto.dynamodb.models.table import Table

    def refuse(self: Any, memo: Any) -> Any:
        raise AssertionError("a whole table was copied for one transaction")

    dynamodb = aws.client("dynamodb")
    table = _runs_table(dynamodb)
    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    dynamodb.transact_write_items(
        TransactItems=[{"Put": {"TableName": table, "Item": {"pk": {"S": "REPO#a"}, "sk": {"S": "RUN#1"}}}}]
    )
    assert len(dynamodb.scan(TableName=table)["Items"]) == 1
