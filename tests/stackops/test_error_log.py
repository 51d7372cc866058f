"""An Express machine that logs errors only, read as trace steps: failures put back in their states."""

from __future__ import annotations

import json
from typing import Any

from stackops.error_log import MachineStates, lambda_requests, read_error_log, settle, settled_by
from stackops.execution_history import from_log_lines

ARN = "arn:aws:states:us-east-1:123456789012:express:onboarding:d-1:run-1"
DEFINITION: dict[str, Any] = {
    "TimeoutSeconds": 120,
    "StartAt": "AddTeamMember",
    "States": {
        "AddTeamMember": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:add-team-member"},
            "Retry": [{"ErrorEquals": ["GitHubUnavailable"], "MaxAttempts": 2}],
            "Next": "LookupDirectory",
        },
        "LookupDirectory": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:lookup-directory"},
            "Next": "Members",
        },
        "Members": {
            "Type": "Map",
            "ItemProcessor": {
                "StartAt": "Store",
                "States": {
                    "Store": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems",
                        "Retry": [{"ErrorEquals": ["DynamoDb.TransactionCanceledException"], "MaxAttempts": 2}],
                        "End": True,
                    }
                },
            },
            "End": True,
        },
    },
}
STATES = MachineStates.from_definition(json.dumps(DEFINITION))


def lambda_error(error: str, request_id: str) -> dict[str, Any]:
    return {"error": error, "cause": json.dumps({"errorMessage": "GitHub said no", "requestId": request_id})}


def lines(*events: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"id": str(n + 2), "previous_event_id": str(n + 1), "type": kind, "details": details,
         "event_timestamp": str(1_700_000_000_000 + n * 100), "execution_arn": ARN}
        for n, (kind, details) in enumerate(events)
    ]  # fmt: skip


def test_the_definition_gives_every_task_its_resource_function_retries_and_the_timeout() -> None:
    tasks = {task.name: task for task in STATES.tasks}

    assert set(tasks) == {"AddTeamMember", "LookupDirectory", "Store"}  # the Map's processor included
    assert tasks["AddTeamMember"].function == "add-team-member"
    assert tasks["Store"].resource == "aws-sdk:dynamodb:transactWriteItems" and tasks["Store"].function is None
    assert tasks["AddTeamMember"].max_retries("GitHubUnavailable") == 2
    assert tasks["AddTeamMember"].max_retries("GitHubRequestRejected") == 0
    assert STATES.timeout_seconds == 120
    assert MachineStates.from_definition({"States": {}}).timeout_seconds == 300  # Express's own limit


def test_a_lambda_failure_is_named_by_the_function_whose_request_failed() -> None:
    requests = lambda_requests([{"function_request_id": "r-2", "function_name": "lookup-directory", "message": "x"}])

    assert STATES.state_of(lambda_error("DirectoryUnavailable", "r-2"), requests) == "LookupDirectory"
    # no line of the function found: every Lambda task it can have been
    assert STATES.state_of(lambda_error("DirectoryUnavailable", "r-9"), requests) == "AddTeamMember or LookupDirectory"
    sdk = {"resourceType": "aws-sdk:dynamodb", "resource": "transactWriteItems", "error": "DynamoDb.X", "cause": "no"}
    assert STATES.state_of(sdk, requests) == "Store"


def test_a_failed_execution_shows_the_task_that_failed_it_caught_and_the_fail_state() -> None:
    requests = {"r-1": "add-team-member"}
    events = from_log_lines(
        lines(
            ("TaskFailed", lambda_error("GitHubRequestRejected", "r-1")),
            ("FailStateEntered", {"name": "Failed", "input": json.dumps({"login": "carol"})}),
            ("ExecutionFailed", {"error": "GitHubRequestRejected", "cause": "403 for carol"}),
        )
    )

    read = read_error_log("onboarding:d-1", events, STATES, requests)

    assert read.outcome == "failed" and read.error == "GitHubRequestRejected"
    assert [(s.name, s.kind, s.status, s.error) for s in read.steps] == [
        ("AddTeamMember", "Task", "caught", "GitHubRequestRejected"),
        ("Failed", "Fail", "failed", "GitHubRequestRejected"),
    ]
    assert read.steps[1].input == {"login": "carol"} and read.steps[1].cause == "403 for carol"


def test_a_failure_no_catch_handles_fails_its_task() -> None:
    events = from_log_lines(
        lines(
            ("TaskFailed", lambda_error("Boom", "r-1")),
            ("ExecutionFailed", {"error": "Boom", "cause": "boom"}),
        )
    )

    read = read_error_log("onboarding:d-1", events, STATES, {"r-1": "add-team-member"})

    assert [(s.name, s.status) for s in read.steps] == [("AddTeamMember", "failed")]


def test_with_no_end_logged_retried_failures_succeed_and_failures_beyond_the_retries_were_caught() -> None:
    store = {"resourceType": "aws-sdk:dynamodb", "resource": "transactWriteItems", "error": "DynamoDb.Cancelled"}
    events = from_log_lines(
        lines(
            ("TaskFailed", lambda_error("GitHubUnavailable", "r-1")),
            ("TaskFailed", lambda_error("GitHubUnavailable", "r-2")),
            *[("TaskFailed", {**store, "error": "DynamoDb.TransactionCanceledException"})] * 3,
        )
    )
    read = read_error_log("onboarding:d-1", events, STATES, {"r-1": "add-team-member", "r-2": "add-team-member"})
    assert read.outcome == "running"

    settle(read, STATES, "succeeded")

    team, store_step = read.steps
    assert (team.name, team.status, team.attempts, team.retries) == ("AddTeamMember", "succeeded", 3, 2)
    assert (store_step.name, store_step.status, store_step.attempts) == ("Store", "caught", 3)
    assert read.outcome == "succeeded"
    assert settled_by(1_000.0, STATES) == 1_120.0
