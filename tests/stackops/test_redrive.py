"""redrive on sqs, against moto: one delivery's messages go back to their source queue, the others stay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stackops.redrive import Redriver, base_name
from stackops.stack_outputs import StackOutputs

REGION = "us-east-1"


@pytest.fixture
def queues(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, StackOutputs]]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        dlq = sqs.create_queue(QueueName="step-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
        source = sqs.create_queue(QueueName="step", Attributes={"RedrivePolicy": policy})["QueueUrl"]
        outputs = StackOutputs(
            stack="dev",
            architecture="sqs",
            queue_urls={"step": source},
            dead_letter_queue_urls={"step": dlq},
            function_log_groups={"receiver": "/aws/lambda/receiver"},
            region=REGION,
        )
        yield sqs, outputs


def park(sqs: Any, outputs: StackOutputs, *deliveries: str) -> None:
    for n, delivery in enumerate(deliveries):
        sqs.send_message(
            QueueUrl=outputs.dead_letter_queue_urls["step"],
            MessageBody=json.dumps({"correlationId": delivery, "n": n}),
            MessageAttributes={"correlationId": {"DataType": "String", "StringValue": delivery}},
        )


def bodies(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return sorted((json.loads(m["Body"]) for m in messages), key=lambda body: body["n"])


def test_one_delivery_is_moved_back_and_the_others_stay_parked_and_visible(queues: tuple[Any, StackOutputs]) -> None:
    sqs, outputs = queues
    park(sqs, outputs, "d-1", "d-2", "d-1", "d-3")

    done = Redriver(outputs, clients=lambda service: sqs).redrive(delivery_id="d-1")

    assert [(item.method, item.source, item.target, item.delivery_id) for item in done] == [
        ("moved", "step-dlq", "step", "d-1"),
        ("moved", "step-dlq", "step", "d-1"),
    ]
    assert [b["n"] for b in bodies(sqs, outputs.queue_urls["step"])] == [0, 2]
    assert [b["correlationId"] for b in bodies(sqs, outputs.dead_letter_queue_urls["step"])] == ["d-2", "d-3"]


def test_a_dry_run_moves_nothing(queues: tuple[Any, StackOutputs]) -> None:
    sqs, outputs = queues
    park(sqs, outputs, "d-1", "d-2")

    done = Redriver(outputs, dry_run=True, clients=lambda service: sqs).redrive(delivery_id="d-2")

    assert [(item.delivery_id, item.detail) for item in done] == [("d-2", "dry run")]
    assert bodies(sqs, outputs.queue_urls["step"]) == []
    assert len(bodies(sqs, outputs.dead_letter_queue_urls["step"])) == 2


def test_a_restart_is_named_after_the_first_attempt() -> None:
    guid = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert base_name(f"{guid}-3") == guid
    assert base_name(guid) == guid  # a GUID's last group is 12 hex digits, never an attempt number
    assert base_name("bob-0123456789abcdef0123456789abcdef-2") == "bob-0123456789abcdef0123456789abcdef"


def _standard_outputs() -> StackOutputs:
    return StackOutputs(
        stack="dev-sfn",
        architecture="stepfunctions",
        state_machine_arns={"ONBOARDING": MACHINE},
        function_log_groups={"receiver": "/aws/lambda/receiver"},
        region=REGION,
    )


MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:github-automation-dev-sfn-onboarding"
DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
EXECUTION = MACHINE.replace(":stateMachine:", ":execution:") + f":{DELIVERY}"


def _stubbed_standard(last_events: list[str]) -> tuple[Any, Any]:
    """A Standard machine whose delivery's only attempt ended unsuccessfully after ``last_events``."""
    from datetime import UTC, datetime

    from botocore.stub import Stubber

    sfn = boto3.client("stepfunctions", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(sfn)
    stub.add_response("describe_state_machine", _machine("STANDARD"), {"stateMachineArn": MACHINE})
    stub.add_response("describe_execution", _execution("TIMED_OUT"), {"executionArn": EXECUTION})
    stub.add_client_error("describe_execution", "ExecutionDoesNotExist", http_status_code=400)
    events = [
        {"id": n + 1, "previousEventId": n, "type": kind, "timestamp": datetime(2026, 12, 2, tzinfo=UTC)}
        for n, kind in enumerate(reversed(last_events))
    ]
    stub.add_response(
        "get_execution_history",
        {"events": events},
        {"executionArn": EXECUTION, "reverseOrder": True, "maxResults": 5},
    )
    return sfn, stub


def _machine(kind: str) -> dict[str, Any]:
    from datetime import UTC, datetime

    return {
        "stateMachineArn": MACHINE,
        "name": "onboarding",
        "definition": "{}",
        "roleArn": "arn:aws:iam::123456789012:role/r",
        "type": kind,
        "creationDate": datetime(2026, 12, 1, tzinfo=UTC),
    }


def _execution(status: str) -> dict[str, Any]:
    from datetime import UTC, datetime

    return {
        "executionArn": EXECUTION,
        "stateMachineArn": MACHINE,
        "name": DELIVERY,
        "status": status,
        "startDate": datetime(2026, 12, 2, tzinfo=UTC),
        "input": json.dumps({"correlationId": DELIVERY}),
    }


def test_a_standard_execution_that_stopped_in_a_task_is_redriven_in_place() -> None:
    """Timed out in AddTeamMember: RedriveExecution continues from there, the same ARN."""
    sfn, stub = _stubbed_standard(["ExecutionTimedOut", "TaskScheduled", "TaskStateEntered"])
    stub.add_response(
        "redrive_execution", {"redriveDate": _execution("RUNNING")["startDate"]}, {"executionArn": EXECUTION}
    )
    with stub:
        (done,) = Redriver(_standard_outputs(), clients=lambda service: sfn).redrive(delivery_id=DELIVERY)
    assert (done.method, done.delivery_id, done.detail) == ("redriven", DELIVERY, "RedriveExecution")


def test_a_standard_execution_that_ended_in_its_fail_state_is_restarted_as_the_next_attempt() -> None:
    """Caught and notified, then the Fail state: a redrive would enter the Fail state again."""
    sfn, stub = _stubbed_standard(["ExecutionFailed", "FailStateEntered", "TaskStateExited"])
    body = json.dumps({"correlationId": DELIVERY})
    # functions.common.dispatch.start_execution: the first name is taken by the failed attempt, so -2
    stub.add_client_error("start_execution", "ExecutionAlreadyExists", http_status_code=400)
    stub.add_response("describe_execution", _execution("FAILED"), {"executionArn": EXECUTION})
    stub.add_response(
        "start_execution",
        {"executionArn": EXECUTION + "-2", "startDate": _execution("RUNNING")["startDate"]},
        {"stateMachineArn": MACHINE, "name": f"{DELIVERY}-2", "input": body},
    )
    with stub:
        (done,) = Redriver(_standard_outputs(), clients=lambda service: sfn).redrive(delivery_id=DELIVERY)
    assert (done.method, done.target) == ("restarted", f"{DELIVERY}-2")


def test_an_express_machine_logging_errors_only_restarts_with_the_input_the_receiver_handed_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ERROR level logs no ExecutionStarted: the receiver's "webhook accepted" line holds the input; a backfill's
    child (which the receiver did not start) is skipped with the reason, not restarted with an empty input."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    child = "carol-0123456789abcdef0123456789abcdef"
    handed_over = {"correlationId": DELIVERY, "login": "carol", "org": "octo-org"}
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name=REGION)
        logs = boto3.client("logs", region_name=REGION)
        role = "arn:aws:iam::123456789012:role/r"
        definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
        machine = sfn.create_state_machine(name="onboarding", definition=definition, roleArn=role, type="EXPRESS")
        arn = machine["stateMachineArn"]
        express = arn.replace(":stateMachine:", ":express:")
        for group in ("/states/onboarding", "/aws/lambda/receiver"):
            logs.create_log_group(logGroupName=group)
            logs.create_log_stream(logGroupName=group, logStreamName="s")
        failed = [
            {"id": "3", "type": kind, "details": {"error": "GitHubRequestRejected", "cause": "403"},
             "previous_event_id": "2", "event_timestamp": "1796000000000", "execution_arn": f"{express}:{name}:run"}
            for name in (DELIVERY, child) for kind in ("TaskFailed", "ExecutionFailed")
        ]  # fmt: skip
        accepted = {"message": "webhook accepted", "correlation_id": DELIVERY, "input": handed_over}
        for group, lines in (("/states/onboarding", failed), ("/aws/lambda/receiver", [accepted])):
            events = [{"timestamp": 1796000000000, "message": json.dumps(line)} for line in lines]
            logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
        outputs = StackOutputs(
            stack="dev-sfn",
            architecture="stepfunctions",
            state_machine_arns={"ONBOARDING": arn},
            state_machine_log_groups={"ONBOARDING": "/states/onboarding"},
            function_log_groups={"receiver": "/aws/lambda/receiver"},
            region=REGION,
        )

        done = sorted(Redriver(outputs).redrive(), key=lambda item: item.method)

        assert [(item.method, item.source, item.delivery_id) for item in done] == [
            ("restarted", DELIVERY, DELIVERY),
            ("skipped", child, None),
        ]
        assert "receiver did not start it" in done[1].detail
        [started] = sfn.list_executions(stateMachineArn=arn)["executions"]
        assert json.loads(sfn.describe_execution(executionArn=started["executionArn"])["input"]) == handed_over
