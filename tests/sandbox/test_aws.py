"""The embedded AWS as a whole: lifecycle, real functions reaching the emulator, errors Step Functions sees."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from moto.awslambda.models import LambdaFunction

from sandbox.aws import EmbeddedAws
from tests.functions.webhooks import FIXTURES, signed_delivery
from tests.sandbox.lambda_fixtures import create_function, functions_package_zip, invoke


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(time_scale=0.01) as embedded:
        yield embedded


def test_it_serves_on_loopback_and_undoes_everything_on_exit() -> None:
    moto_invoke = LambdaFunction.invoke
    previous_port = os.environ.get("MOTO_PORT")

    with EmbeddedAws() as aws:
        assert aws.endpoint_url == f"http://127.0.0.1:{aws.port}"
        assert os.environ["MOTO_PORT"] == str(aws.port)
        assert aws.client("sts").get_caller_identity()["Account"] == "123456789012"
        assert aws.client("sqs").meta.region_name == "us-east-1"
        assert LambdaFunction.invoke is not moto_invoke
        aws.client("sqs").create_queue(QueueName="left-behind")

    assert os.environ.get("MOTO_PORT") == previous_port
    assert LambdaFunction.invoke is moto_invoke
    with EmbeddedAws() as again:
        assert again.client("sqs").list_queues().get("QueueUrls", []) == []


def test_only_one_runs_at_a_time(aws: EmbeddedAws) -> None:
    with pytest.raises(RuntimeError, match="already running"), EmbeddedAws():
        pass
    assert aws.client("sts").get_caller_identity()["Account"] == "123456789012"


def test_a_real_function_reaches_the_emulator(aws: EmbeddedAws) -> None:
    """The receiver from the real package: its secret from Secrets Manager, its message into SQS."""
    secret_arn = aws.client("secretsmanager").create_secret(Name="webhook", SecretString="s3cret")["ARN"]
    queue_url = aws.client("sqs").create_queue(QueueName="onboarding")["QueueUrl"]
    body = (FIXTURES / "organization" / "member_added.payload.json").read_bytes()
    create_function(
        aws,
        "receiver",
        code=functions_package_zip(),
        handler="functions.receiver.handler",
        timeout=10,
        environment={
            "ARCHITECTURE": "sqs",
            "WEBHOOK_SECRET_ARN": secret_arn,
            "GITHUB_ORG": json.loads(body)["organization"]["login"],
            "ONBOARDING_TARGET": queue_url,
            "POWERTOOLS_METRICS_NAMESPACE": "SandboxTests",
        },
    )

    error, response = invoke(
        aws, "receiver", signed_delivery(body, event_name="organization", secret="s3cret", delivery_id="delivery-1")
    )

    assert error is None, response
    assert response["statusCode"] == 202, response
    messages = aws.client("sqs").receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])["Messages"]
    assert len(messages) == 1
    assert messages[0]["MessageAttributes"]["correlationId"]["StringValue"] == "delivery-1"


def test_step_functions_retry_and_catch_see_the_function_error_by_name(aws: EmbeddedAws) -> None:
    function = create_function(aws, "flaky")
    definition = {
        "StartAt": "CallGitHub",
        "States": {
            "CallGitHub": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function, "Payload": {"action": "raise", "message": "502"}},
                "Retry": [{"ErrorEquals": ["GitHubUnavailable"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                "Catch": [{"ErrorEquals": ["GitHubUnavailable"], "ResultPath": "$.error", "Next": "Parked"}],
                "End": True,
            },
            "Parked": {"Type": "Pass", "End": True},
        },
    }
    sfn = aws.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="flaky", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]

    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + 10
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)

    assert execution["status"] == "SUCCEEDED"
    error = json.loads(execution["output"])["error"]
    assert error["Error"] == "GitHubUnavailable"
    assert json.loads(error["Cause"])["errorMessage"] == "502"
    attempts = [r for r in aws.runtime.records() if r.function == "flaky"]
    assert [r.error_type for r in attempts] == ["GitHubUnavailable"] * 3  # the first try and two retries


def test_every_request_is_logged_with_its_caller_service_and_operation(aws: EmbeddedAws) -> None:
    """The cost meter counts requests where they reach the emulator; the access key says who sent them."""
    since = time.time()
    sqs = aws.client("sqs", caller="sandbox-tests")
    url = sqs.create_queue(QueueName="logged")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x" * 100)
    aws.client("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=0)

    calls = [(c.caller, c.service, c.operation) for c in aws.api_calls.calls(since) if c.service == "sqs"]
    assert calls == [
        ("sandbox-tests", "sqs", "CreateQueue"),
        ("sandbox-tests", "sqs", "SendMessage"),
        ("testing", "sqs", "ReceiveMessage"),
    ]
    send = next(c for c in aws.api_calls.calls(since) if c.operation == "SendMessage")
    assert send.params["QueueUrl"] == url and send.params["MessageBody"] == "x" * 100 and send.status == 200
    assert "MessageId" in json.loads(send.response) and send.at <= send.finished


def test_a_client_of_a_stopped_emulator_fails_as_over_http() -> None:
    with EmbeddedAws() as aws:
        client = aws.new_client("sqs", Config(retries={"total_max_attempts": 1}))
        client.list_queues()
    with pytest.raises(EndpointConnectionError):
        client.list_queues()


def test_running_executions_are_counted_per_machine_as_list_executions_counts_them(aws: EmbeddedAws) -> None:
    sfn = aws.client("stepfunctions")
    role = "arn:aws:iam::123456789012:role/sandbox-tests-sfn"

    def machine(name: str, seconds: int) -> str:
        definition = {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": seconds, "End": True}}}
        return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)["stateMachineArn"]

    slow, quick, other = machine("slow", 300), machine("quick", 0), machine("other", 300)  # 3 s scaled
    for arn in (slow, slow, quick, other):
        sfn.start_execution(stateMachineArn=arn)
    deadline = time.monotonic() + 10
    while sfn.list_executions(stateMachineArn=quick, statusFilter="RUNNING")["executions"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)

    def listed(arns: tuple[str, ...]) -> int:
        return sum(len(sfn.list_executions(stateMachineArn=a, statusFilter="RUNNING")["executions"]) for a in arns)

    assert aws.running_executions([slow, quick]) == listed((slow, quick)) == 2
    assert aws.running_executions([other]) == 1
    assert aws.running_executions([]) == 0
    deadline = time.monotonic() + 10
    while listed((slow, other)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert aws.running_executions([slow, quick, other]) == 0
