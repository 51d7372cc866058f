"""The sandbox's logs are where AWS keeps them: each function's lines in its CloudWatch Logs group, one stream
per execution environment, every line of a delivery's invocations carrying its delivery id, and each
state machine's execution events in the group its logging configuration names."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from sandbox.environment import Sandbox
from sandbox.workload import Delivery, member_added

STREAM_NAME = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")


def _send(sandbox: Sandbox, architecture: str) -> tuple[Delivery, float]:
    sandbox.wait_until_idle()
    started = time.time()
    delivery = member_added(sandbox.seed, sandbox.seed.members[0])
    assert sandbox.send(architecture, delivery).status == 202
    sandbox.wait_until_idle()
    assert sandbox.aws is not None and sandbox.aws.runtime.flush_logs()
    return delivery, started


def _stack_functions(sandbox: Sandbox, architecture: str) -> dict[str, str]:
    """The stack's functions and the log group each writes to (from GetFunctionConfiguration)."""
    assert sandbox.aws is not None
    lambda_ = sandbox.aws.client("lambda")
    names = [r.id for r in sandbox.stacks[architecture].deployment.of_type("aws:lambda/function:Function")]
    return {name: lambda_.get_function_configuration(FunctionName=name)["LoggingConfig"]["LogGroup"] for name in names}


def _events(sandbox: Sandbox, group: str, **options: Any) -> list[dict[str, Any]]:
    assert sandbox.aws is not None
    pages = sandbox.aws.client("logs").get_paginator("filter_log_events").paginate(logGroupName=group, **options)
    return [event for page in pages for event in page["events"]]


def _invocation_lines(events: list[dict[str, Any]], request_id: str) -> list[str]:
    """The function's own lines between the invocation's platform.start and platform.report."""
    inside, lines = False, []
    for event in events:
        message = event["message"]
        record = _json(message)
        kind = record.get("type") if record else None
        if kind in ("platform.start", "platform.report") and record["record"]["requestId"] == request_id:
            if kind == "platform.report":
                return lines
            inside = True
        elif inside and not str(kind).startswith("platform."):
            lines.append(message)
    raise AssertionError(f"no platform.report for {request_id}")


def _json(message: str) -> dict[str, Any] | None:
    try:
        loaded = json.loads(message)
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


def _stream_holding(events: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    """The events of the one stream where the invocation started, in their order."""
    (stream,) = {
        e["logStreamName"] for e in events if '"platform.start"' in e["message"] and request_id in e["message"]
    }
    return [e for e in events if e["logStreamName"] == stream]


def test_the_function_logs_are_in_cloudwatch_logs_with_the_delivery_id_on_every_line(sandbox: Sandbox) -> None:
    delivery, started = _send(sandbox, "sqs")
    assert sandbox.aws is not None
    functions = _stack_functions(sandbox, "sqs")
    ran = [r for r in sandbox.aws.runtime.records() if r.started_at >= started and r.function in functions]
    assert len({r.function for r in ran}) >= 3, ran  # the receiver and the onboarding steps

    for name in sorted({r.function for r in ran}):
        group = functions[name]
        streams = sandbox.aws.client("logs").describe_log_streams(logGroupName=group)["logStreams"]
        assert streams and all(STREAM_NAME.match(s["logStreamName"]) for s in streams), (name, streams)
        events = _events(sandbox, group)
        for record in (r for r in ran if r.function == name):
            lines = _invocation_lines(_stream_holding(events, record.request_id), record.request_id)
            assert lines, f"{name} {record.request_id} logged nothing"
            for line in lines:
                parsed = _json(line)
                assert parsed is not None, (name, line)
                # an EMF metrics document counts all of an invocation's records: it names them all
                named = parsed.get("correlation_ids") or [parsed.get("correlation_id")]
                assert delivery.delivery_id in named, (name, line)

    receiver = next(name for name in functions if "receiver" in name)
    pattern = f'{{ $.correlation_id = "{delivery.delivery_id}" }}'
    found = _events(sandbox, functions[receiver], filterPattern=pattern)
    assert found and all(_json(e["message"])["correlation_id"] == delivery.delivery_id for e in found)


def test_the_state_machine_log_group_has_a_failure_s_events_and_nothing_of_a_success(sandbox: Sandbox) -> None:
    """The machines log at the default stateMachineLogLevel, ERROR: a succeeded execution writes no line, a
    failed one its failure (TaskFailed, FailStateEntered, ExecutionFailed) with its execution data, as on AWS."""
    assert sandbox.aws is not None and sandbox.github is not None
    seed = sandbox.seed
    refused = seed.members[1]
    sandbox.github.github.fail(
        "forbidden", times=None, path=rf"^/orgs/{seed.org}/teams/{seed.team}/memberships/{refused.login}$"
    )
    try:
        succeeded, started = _send(sandbox, "stepfunctions")
        failed = member_added(seed, refused)
        assert sandbox.send("stepfunctions", failed).status == 202
        sandbox.wait_until_idle()
        assert sandbox.aws.runtime.flush_logs()
    finally:
        sandbox.github.github.clear_faults()
    sfn = sandbox.aws.client("stepfunctions")
    records = []
    for machine_arn in sandbox.stacks["stepfunctions"].exports["stateMachineArns"].values():
        logging_config = sfn.describe_state_machine(stateMachineArn=machine_arn)["loggingConfiguration"]
        assert logging_config["level"] == "ERROR"
        group_arn = logging_config["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"]
        group = group_arn.split(":log-group:", 1)[1].split(":", 1)[0]
        records += [_json(e["message"]) for e in _events(sandbox, group, startTime=int(started * 1000))]
    assert not [r for r in records if r and succeeded.delivery_id in r["execution_arn"]]
    mine = [r for r in records if r and failed.delivery_id in r["execution_arn"]]
    assert [r["type"] for r in mine] == ["TaskFailed", "FailStateEntered", "ExecutionFailed"], mine
    assert refused.login in mine[0]["details"]["cause"]
    assert json.loads(mine[1]["details"]["input"])["login"] == refused.login  # Express: with execution data


@pytest.fixture(autouse=True)
def _no_leftover_work(sandbox: Sandbox) -> None:
    sandbox.wait_until_idle()
