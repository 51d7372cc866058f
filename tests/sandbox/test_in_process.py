"""The sandbox's own clients reach the emulator in process (sandbox/in_process.py) and get what HTTP gets."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox import in_process
from sandbox.api_calls import ENGINE_ACCESS_KEY, LOG_SHIPPER_ACCESS_KEY
from sandbox.aws import EmbeddedAws, emulator_client
from sandbox.deploy import ApiInvoker
from tests.sandbox.lambda_fixtures import create_function

NO_RETRIES = Config(retries={"total_max_attempts": 1})


def _in_process(response: dict[str, Any]) -> bool:
    return response["ResponseMetadata"]["HTTPHeaders"].get(in_process.IN_PROCESS_HEADER) == "1"


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(operation target or path, Authorization) of every request that went in process."""
    seen: list[tuple[str, str]] = []
    real = in_process.call_app

    def spy(app: in_process.WsgiApp, request: Any) -> Any:
        text = {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
        seen.append((text.get("X-Amz-Target") or request.url, text.get("Authorization", "")))
        return real(app, request)

    monkeypatch.setattr(in_process, "call_app", spy)
    return seen


def test_the_sandbox_clients_go_in_process_and_are_recorded_as_over_http(aws: EmbeddedAws) -> None:
    name = f"q-{uuid.uuid4().hex[:8]}"
    since = time.time()
    inside = aws.client("sqs", "someone").create_queue(QueueName=name)
    over_http = emulator_client(aws.endpoint_url, "sqs", access_key="someone").get_queue_url(QueueName=name)

    assert _in_process(inside)
    assert not _in_process(over_http)
    assert inside["QueueUrl"] == over_http["QueueUrl"]
    recorded = [(c.caller, c.service, c.operation, c.status) for c in aws.api_calls.calls(since)]
    assert ("someone", "sqs", "CreateQueue", 200) in recorded
    assert ("someone", "sqs", "GetQueueUrl", 200) in recorded
    created = next(c for c in aws.api_calls.calls(since) if c.operation == "CreateQueue")
    assert created.params["QueueName"] == name
    assert created.request_bytes > 0


def _error(call: Callable[[BaseClient], Any], client: BaseClient) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ClientError) as raised:
        call(client)
    response = raised.value.response
    error = {key: value for key, value in response["Error"].items() if key != "RequestId"}
    return response["ResponseMetadata"]["HTTPStatusCode"], error


ERRORS: dict[str, tuple[str, Callable[[BaseClient], Any]]] = {
    "sqs (JSON)": ("sqs", lambda c: c.get_queue_url(QueueName="no-such-queue")),
    "dynamodb": ("dynamodb", lambda c: c.get_item(TableName="no-such-table", Key={"pk": {"S": "x"}})),
    "lambda (REST)": ("lambda", lambda c: c.invoke(FunctionName="no-such-function", Payload=b"{}")),
    "logs": (
        "logs",
        lambda c: c.put_log_events(
            logGroupName="/no/such/group", logStreamName="s", logEvents=[{"timestamp": 1, "message": "m"}]
        ),
    ),
    "sns (query)": ("sns", lambda c: c.publish(TopicArn="arn:aws:sns:us-east-1:123456789012:none", Message="m")),
    "states": (
        "stepfunctions",
        lambda c: c.describe_execution(executionArn="arn:aws:states:us-east-1:123456789012:execution:none:x"),
    ),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_an_error_is_the_same_in_process_as_over_http(aws: EmbeddedAws, case: str) -> None:
    service, call = ERRORS[case]
    inside = aws.new_client(service, NO_RETRIES)
    over_http = emulator_client(aws.endpoint_url, service, NO_RETRIES)

    assert _error(call, inside) == _error(call, over_http)


def test_an_invoke_is_the_same_in_process_as_over_http(aws: EmbeddedAws, spied: list[tuple[str, str]]) -> None:
    """A function's error (FunctionError, the error payload) and its result, through the Invoke API."""
    function = create_function(aws, f"in-process-{uuid.uuid4().hex[:6]}")
    over_http = emulator_client(aws.endpoint_url, "lambda", NO_RETRIES)
    invoke = ApiInvoker(aws)

    for event in ({"action": "raise", "message": "GitHub is down"}, {"action": "print", "text": "hello"}):
        payload = json.dumps(event).encode()
        inside = invoke.through_api(function, payload)
        http = over_http.invoke(FunctionName=function, Payload=payload)
        http_payload = json.loads(http["Payload"].read())
        assert inside.function_error == http.get("FunctionError")
        inside_payload = json.loads(inside.payload)
        if event["action"] == "raise":
            assert inside_payload.pop("requestId") != http_payload.pop("requestId")
            assert inside_payload == http_payload
            assert inside_payload["errorType"] == "GitHubUnavailable"
        else:
            assert inside_payload["event"] == http_payload["event"] == event
    assert any(f"{function}/invocations" in unquote(target) for target, _ in spied)


def test_the_engine_task_calls_go_in_process_signed_as_the_engine(
    aws: EmbeddedAws, spied: list[tuple[str, str]]
) -> None:
    queue = aws.client("sqs").create_queue(QueueName=f"engine-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    definition = {
        "StartAt": "Send",
        "States": {
            "Send": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl": queue, "MessageBody": "from the engine"},
                "End": True,
            }
        },
    }
    sfn = aws.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"m-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/r",
    )["stateMachineArn"]
    since = time.time()
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + 10
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)

    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    assert any(f"Credential={ENGINE_ACCESS_KEY}/" in authorization for _, authorization in spied)
    sent = [c for c in aws.api_calls.calls(since) if c.operation == "SendMessage"]
    assert [(c.caller, c.status, c.params.get("MessageBody")) for c in sent] == [
        (ENGINE_ACCESS_KEY, 200, "from the engine")
    ]


def test_the_log_shipper_ships_without_a_request(aws: EmbeddedAws, spied: list[tuple[str, str]]) -> None:
    name = f"shipped-{uuid.uuid4().hex[:6]}"
    function = create_function(aws, name)
    since = time.time()
    aws.client("lambda").invoke(FunctionName=function, Payload=json.dumps({"action": "print", "text": "a line"}))
    assert aws.runtime.flush_logs()

    assert not any(f"Credential={LOG_SHIPPER_ACCESS_KEY}/" in authorization for _, authorization in spied)
    puts = [c for c in aws.api_calls.calls(since) if c.operation == "PutLogEvents"]
    assert puts and {c.caller for c in puts} == {LOG_SHIPPER_ACCESS_KEY}
    events = aws.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    assert any("a line" in event["message"] for event in events)


def _as_recorded(call: Any) -> tuple[Any, ...]:
    return (call.caller, call.service, call.operation, dict(call.params), call.request_bytes, call.status)


def test_the_invoker_goes_straight_to_the_function_and_is_recorded_as_the_api_call(
    aws: EmbeddedAws, spied: list[tuple[str, str]]
) -> None:
    function = create_function(aws, f"direct-{uuid.uuid4().hex[:6]}")
    invoke = ApiInvoker(aws)
    for event in ({"action": "print", "text": "hello"}, {"action": "raise", "message": "GitHub is down"}):
        payload = json.dumps(event).encode()
        since = time.time()
        through_api = invoke.through_api(function, payload)
        api_call = [c for c in aws.api_calls.calls(since) if c.service == "lambda"]
        spied.clear()
        since = time.time()
        direct = invoke(function, payload)
        direct_call = [c for c in aws.api_calls.calls(since) if c.service == "lambda"]

        assert not any("invocations" in target for target, _ in spied)  # no request was made
        assert [_as_recorded(c) for c in direct_call] == [_as_recorded(c) for c in api_call]
        assert direct_call[0].response == direct.payload
        assert direct.function_error == through_api.function_error
        if event["action"] == "raise":
            assert direct.function_error == "Unhandled"
            assert json.loads(direct.payload)["errorType"] == json.loads(through_api.payload)["errorType"]


def test_the_invoker_leaves_an_unknown_function_to_the_api(aws: EmbeddedAws) -> None:
    invoke = ApiInvoker(aws)
    over_http = emulator_client(aws.endpoint_url, "lambda", NO_RETRIES)

    with pytest.raises(ClientError) as direct:
        invoke("no-such-function", b"{}")
    assert _error(lambda c: c.invoke(FunctionName="no-such-function", Payload=b"{}"), over_http) == (
        direct.value.response["ResponseMetadata"]["HTTPStatusCode"],
        {k: v for k, v in direct.value.response["Error"].items() if k != "RequestId"},
    )


def test_the_log_shipper_writes_straight_into_the_logs_backend_as_the_api_would(
    aws: EmbeddedAws, spied: list[tuple[str, str]]
) -> None:
    """The same calls recorded (and the same errors raised) as a client of the Logs API gets."""
    from sandbox.aws import ACCOUNT_ID, REGION
    from sandbox.direct import DirectLogs

    api = aws.new_client("logs", NO_RETRIES, access_key=LOG_SHIPPER_ACCESS_KEY)
    direct = DirectLogs(aws.api_calls, caller=LOG_SHIPPER_ACCESS_KEY, account_id=ACCOUNT_ID, region=REGION)
    recorded: dict[str, list[tuple[Any, ...]]] = {}
    for name, client in (("api---", api), ("direct", direct)):
        group = f"/test/{name}"  # the same length: the same request sizes
        since = time.time()
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.create_log_stream(logGroupName=group, logStreamName="s")
        client.create_log_group(logGroupName=group)
        client.create_log_stream(logGroupName=group, logStreamName="s")
        with pytest.raises(client.exceptions.ResourceAlreadyExistsException):
            client.create_log_stream(logGroupName=group, logStreamName="s")
        answer = client.put_log_events(
            logGroupName=group, logStreamName="s", logEvents=[{"timestamp": 1_796_000_000_000, "message": "m"}]
        )
        assert answer["nextSequenceToken"]
        recorded[name] = [
            (*_as_recorded(c)[:3], c.request_bytes, c.status, c.response.replace(name.encode(), b"<name>"))
            for c in aws.api_calls.calls(since)
            if c.caller == LOG_SHIPPER_ACCESS_KEY
        ]
        assert [
            e["message"] for e in aws.client("logs").get_log_events(logGroupName=group, logStreamName="s")["events"]
        ] == ["m"]

    assert not any(f"Credential={LOG_SHIPPER_ACCESS_KEY}/" in a for _, a in spied[len(recorded["api---"]) :])
    assert [r[:5] for r in recorded["direct"]] == [r[:5] for r in recorded["api---"]]
    assert [r[2] for r in recorded["direct"]] == [
        "CreateLogStream",
        "CreateLogGroup",
        "CreateLogStream",
        "CreateLogStream",
        "PutLogEvents",
    ]


def test_threads_sharing_a_new_client_catch_its_errors(aws: EmbeddedAws) -> None:
    """botocore makes a client's exception classes on first use: two threads could each make their own,
    and one's ``except client.exceptions.X`` would miss the other's error."""
    client = aws.client("sqs", f"new-{uuid.uuid4().hex[:6]}")
    exceptions = client._exceptions  # made already, before any thread used it
    assert exceptions is not None
    with ThreadPoolExecutor(max_workers=8) as pool:
        caught = list(pool.map(lambda _: _catches(client), range(16)))
    assert all(caught) and client.exceptions is exceptions


def _catches(client: BaseClient) -> bool:
    try:
        client.get_queue_url(QueueName="no-such-queue")
    except client.exceptions.QueueDoesNotExist:
        return True
    return False
