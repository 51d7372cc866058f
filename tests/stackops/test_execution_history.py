"""Execution histories (and Express log lines) read as trace steps: retries, catches, Map iterations, running."""

from __future__ import annotations

import json
from typing import Any

from stackops.execution_history import from_history, from_log_lines, read_execution


class History:
    """A GetExecutionHistory in the making: each event follows the one before unless told otherwise."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, details: dict[str, Any] | None = None, previous: int | None = None) -> int:
        event_id = len(self.events) + 1
        event: dict[str, Any] = {"id": event_id, "type": kind, "timestamp": 1_700_000_000 + event_id / 10}
        event["previousEventId"] = event_id - 1 if previous is None else previous
        if details is not None:
            event[f"{kind[0].lower()}{kind[1:]}EventDetails"] = details
        self.events.append(event)
        return event_id

    def task(self, name: str, *errors: str, output: Any = None, previous: int | None = None) -> int:
        self.add("TaskStateEntered", {"name": name, "input": json.dumps({"n": name})}, previous)
        for error in errors:
            self.add("TaskScheduled", {"resource": "invoke"})
            self.add("TaskFailed", {"error": error, "cause": f"{error} cause"})
        if output is not None:
            self.add("TaskScheduled", {"resource": "invoke"})
            self.add("TaskSucceeded", {"output": json.dumps(output)})
        return self.add("TaskStateExited", {"name": name, "output": json.dumps(output or {})})


def test_a_retried_task_that_succeeds_keeps_the_earlier_error_and_counts_its_attempts() -> None:
    history = History()
    history.add("ExecutionStarted", {"input": '{"correlationId": "d-1"}'})
    history.task("AddTeamMember", "GitHubUnavailable", "GitHubUnavailable", output={"login": "bob"})
    history.add("ExecutionSucceeded", {"output": "{}"})

    read = read_execution("onboarding:d-1", from_history(history.events))

    assert read.outcome == "succeeded" and read.input == {"correlationId": "d-1"}
    (step,) = read.steps
    assert (step.status, step.attempts, step.retries, step.error) == ("succeeded", 3, 2, "GitHubUnavailable")
    assert step.output == {"login": "bob"} and step.duration_ms == 700.0  # entered to exited: 7 events, 0.1 s apart


def test_a_caught_error_that_leads_to_a_fail_state_fails_the_execution_at_that_task() -> None:
    history = History()
    history.add("ExecutionStarted", {"input": "{}"})
    history.task("AddTeamMember", "GitHubRequestRejected")
    history.add("FailStateEntered", {"name": "Failed", "input": "{}"})
    history.add("ExecutionFailed", {"error": "GitHubRequestRejected", "cause": "403"})

    read = read_execution("onboarding:d-2", from_history(history.events))

    assert read.outcome == "failed" and read.error == "GitHubRequestRejected"
    task, fail = read.steps
    assert (task.status, task.error, task.attempts) == ("caught", "GitHubRequestRejected", 1)
    assert (fail.kind, fail.status, fail.cause) == ("Fail", "failed", "403")


def test_map_iterations_keep_their_index_and_a_map_exit_closes_the_map() -> None:
    history = History()
    history.add("ExecutionStarted", {"input": "{}"})
    history.add("MapStateEntered", {"name": "OnboardMembers", "input": "{}"})
    started = history.add("MapStateStarted", {"length": 2})
    first = history.add("MapIterationStarted", {"name": "OnboardMembers", "index": 0}, previous=started)
    second = history.add("MapIterationStarted", {"name": "OnboardMembers", "index": 1}, previous=started)
    one = history.task("OnboardMember", output={"status": "SUCCEEDED"}, previous=first)
    two = history.task("OnboardMember", "States.TaskFailed", previous=second)
    history.add("MapIterationSucceeded", {"name": "OnboardMembers", "index": 0}, previous=one)
    last = history.add("MapIterationSucceeded", {"name": "OnboardMembers", "index": 1}, previous=two)
    history.add("MapStateSucceeded", previous=last)
    history.add("MapStateExited", {"name": "OnboardMembers", "output": "{}"})
    history.add("PassStateEntered", {"name": "Summarize", "input": "{}"})
    history.add("PassStateExited", {"name": "Summarize", "output": "{}"})
    history.add("ExecutionSucceeded", {"output": "{}"})

    steps = read_execution("backfill:d-3", from_history(history.events)).steps

    assert [(s.name, s.iteration, s.status) for s in steps] == [
        ("OnboardMembers", None, "succeeded"),
        ("OnboardMember", "0", "succeeded"),
        ("OnboardMember", "1", "caught"),
        ("Summarize", None, "succeeded"),
    ]
    assert steps[0].ended_at is not None and steps[0].ended_at > steps[2].ended_at  # type: ignore[operator]


def test_an_execution_without_an_end_is_running_in_its_last_state() -> None:
    history = History()
    history.add("ExecutionStarted", {"input": "{}"})
    history.task("AddTeamMember", output={"login": "bob"})
    history.add("TaskStateEntered", {"name": "LookupDirectory", "input": "{}"})
    history.add("TaskScheduled", {"resource": "invoke"})

    read = read_execution("onboarding:d-4", from_history(history.events))

    assert read.outcome == "running"
    assert [(s.name, s.status) for s in read.steps] == [("AddTeamMember", "succeeded"), ("LookupDirectory", "running")]


def test_a_child_execution_started_by_a_task_is_named_for_the_trace_to_follow() -> None:
    history = History()
    history.add("ExecutionStarted", {"input": "{}"})
    history.add("TaskStateEntered", {"name": "OnboardMember", "input": "{}"})
    history.add("TaskScheduled", {"resource": "startExecution.sync:2"})
    history.add("TaskSubmitted", {"output": json.dumps({"ExecutionArn": "arn:aws:states:r:1:execution:m:child"})})
    history.add("TaskSucceeded", {"output": json.dumps({"ExecutionArn": "arn:aws:states:r:1:execution:m:child"})})
    history.add("TaskStateExited", {"name": "OnboardMember", "output": "{}"})

    assert read_execution("backfill:d-5", from_history(history.events)).child_executions == [
        "arn:aws:states:r:1:execution:m:child"
    ]


def test_a_distributed_map_s_map_run_is_named_for_the_trace_to_list_its_children() -> None:
    map_run = "arn:aws:states:r:1:mapRun:backfill/Pages:0b1c"
    history = History()
    history.add("ExecutionStarted", {"input": "{}"})
    history.add("MapStateEntered", {"name": "OnboardPages", "input": "{}"})
    history.add("MapStateStarted", {"length": 0})
    history.add("MapRunStarted", {"mapRunArn": map_run})
    history.add("MapRunSucceeded")
    history.add("MapStateSucceeded")
    history.add("MapStateExited", {"name": "OnboardPages", "output": "[]"})
    history.add("ExecutionSucceeded", {"output": "{}"})

    read = read_execution("backfill:d-6", from_history(history.events))

    assert read.map_runs == [map_run] and read.child_executions == []
    assert [(step.name, step.status) for step in read.steps] == [("OnboardPages", "succeeded")]


def test_express_log_lines_read_like_a_history() -> None:
    """CloudWatch Logs' shape: snake_case keys, string ids, epoch-millisecond strings, out of order."""
    lines = [
        {"id": "2", "previous_event_id": "1", "type": "TaskStateEntered", "event_timestamp": "1700000000100",
         "details": {"name": "Store", "input": "{}"}},
        {"id": "1", "previous_event_id": "0", "type": "ExecutionStarted", "event_timestamp": "1700000000000",
         "details": {"input": '{"correlationId": "d-6"}'}},
        {"id": "3", "previous_event_id": "2", "type": "TaskStateExited", "event_timestamp": "1700000000300",
         "details": {"name": "Store", "output": "{}"}},
        {"id": "4", "previous_event_id": "3", "type": "ExecutionSucceeded", "event_timestamp": "1700000000400",
         "details": {"output": "{}"}},
    ]  # fmt: skip

    read = read_execution("onboarding:d-6:run", from_log_lines(lines))

    assert read.outcome == "succeeded" and read.input == {"correlationId": "d-6"}
    assert [(s.name, s.status, s.duration_ms) for s in read.steps] == [("Store", "succeeded", 200.0)]
