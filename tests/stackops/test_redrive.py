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
