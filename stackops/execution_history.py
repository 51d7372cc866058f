"""An execution's events (GetExecutionHistory, or an Express machine's log lines) as trace steps.

One reader for both sources: a history event (``id``, ``previousEventId``, ``type``, ``timestamp`` and one
``...EventDetails``) and a log event (``id``, ``previous_event_id``, ``type``, ``event_timestamp``,
``details``) are normalized to :class:`Event` first. Events of a state are found by following
``previousEventId`` back to its ``...StateEntered``, which keeps concurrent Map iterations apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stackops.trace_model import Outcome, TraceStep

SCHEDULED = ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled")
FAILED = ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut", "LambdaFunctionTimedOut", "TaskStartFailed")
SUCCEEDED = ("TaskSucceeded", "LambdaFunctionSucceeded")
CHILD_STATUS: Mapping[str, Outcome] = {"SUCCEEDED": "succeeded", "FAILED": "failed", "TIMED_OUT": "failed"}
SUBMITTED = "TaskSubmitted"  # a .sync task's job started (its output names the child execution)
MAP_RUN_STARTED = "MapRunStarted"  # a Distributed Map started its child executions (ListExecutions mapRunArn)
EXECUTION_END: Mapping[str, Outcome] = {
    "ExecutionSucceeded": "succeeded",
    "ExecutionFailed": "failed",
    "ExecutionTimedOut": "failed",
    "ExecutionAborted": "failed",
}


@dataclass(frozen=True)
class Event:
    id: int
    previous: int
    type: str
    timestamp: float  # epoch seconds
    details: Mapping[str, Any]


@dataclass
class ExecutionSteps:
    """One execution read: its steps, how it ended, the input it was started with and its children."""

    name: str
    outcome: Outcome
    steps: list[TraceStep]
    input: Any = None
    error: str | None = None
    cause: str | None = None
    child_executions: list[str] = field(default_factory=list)
    started_at: float | None = None
    #: how each child ended, as the task that waited for it saw it (startSyncExecution's ``Status``)
    child_outcomes: dict[str, Outcome] = field(default_factory=dict)
    #: the map runs a Distributed Map started (``MapRunStarted``): their child executions are its children too
    map_runs: list[str] = field(default_factory=list)


def from_history(events: Iterable[Mapping[str, Any]]) -> list[Event]:
    """GetExecutionHistory's events."""
    normalized = []
    for raw in events:
        details: Mapping[str, Any] = next((v for k, v in raw.items() if k.endswith("EventDetails")), {})
        stamp = raw["timestamp"]
        seconds = stamp.timestamp() if isinstance(stamp, datetime) else float(stamp)
        normalized.append(Event(int(raw["id"]), int(raw.get("previousEventId", 0)), raw["type"], seconds, details))
    return normalized


def from_log_lines(lines: Iterable[Mapping[str, Any]]) -> list[Event]:
    """A state machine's log lines (one execution's), as CloudWatch Logs holds them."""
    events = [
        Event(
            int(line["id"]),
            int(line.get("previous_event_id") or 0),
            line["type"],
            int(line["event_timestamp"]) / 1000,
            line.get("details") or {},
        )
        for line in lines
    ]
    return sorted(events, key=lambda event: event.id)


def read_execution(name: str, events: list[Event]) -> ExecutionSteps:
    steps: list[TraceStep] = []
    owner: dict[int, TraceStep | None] = {}
    iteration: dict[int, str | None] = {}
    children: list[str] = []
    child_outcomes: dict[str, Outcome] = {}
    map_runs: list[str] = []
    outcome: Outcome = "running"
    started_input: Any = None
    error = cause = None
    for event in events:
        parent = owner.get(event.previous)
        iteration[event.id] = iteration.get(event.previous)
        details = event.details
        kind = event.type
        if kind == "ExecutionStarted":
            started_input = json_or_text(details.get("input"))
        elif kind == "MapIterationStarted":
            iteration[event.id] = str(details.get("index"))
            parent = None
        elif kind.endswith("StateEntered"):
            parent = TraceStep(
                name=str(details.get("name", "?")),
                kind=kind.removesuffix("StateEntered"),
                where=name,
                started_at=event.timestamp,
                status="running",
                attempts=0,
                input=json_or_text(details.get("input")),
                iteration=iteration[event.id],
            )
            steps.append(parent)
        elif parent is not None and kind in SCHEDULED:
            parent.attempts += 1
        elif parent is not None and kind in FAILED:
            parent.error = details.get("error") or kind
            parent.cause = details.get("cause")
            parent.status = "caught"  # until the state exits or the execution fails with it
        elif parent is not None and kind in SUCCEEDED:
            parent.status = "succeeded"  # after retries, if any: the error kept is the earlier attempts'
            children.extend(_child_executions(details.get("output")))
            child_outcomes.update(_child_outcomes(details.get("output")))
        elif kind == SUBMITTED:
            children.extend(_child_executions(details.get("output")))
        elif kind == MAP_RUN_STARTED and isinstance(details.get("mapRunArn"), str):
            map_runs.append(details["mapRunArn"])
        elif kind.endswith("StateExited"):
            parent = _exiting(steps, parent, str(details.get("name", "?")))
            if parent is None:
                owner[event.id] = None
                continue
            iteration[event.id] = parent.iteration  # a Map's exit follows its last iteration's events
            parent.ended_at = event.timestamp
            parent.output = json_or_text(details.get("output"))
            if parent.status == "running":
                parent.status = "succeeded"
        elif kind in EXECUTION_END:
            outcome = EXECUTION_END[kind]
            error, cause = details.get("error"), details.get("cause")
            if kind == "ExecutionTimedOut":
                error = error or "States.Timeout"
        owner[event.id] = parent
    _close(steps, outcome, error, cause, events[-1].timestamp if events else None)
    first = events[0].timestamp if events else None
    return ExecutionSteps(
        name,
        outcome,
        steps,
        started_input,
        error,
        cause,
        list(dict.fromkeys(children)),
        first,
        child_outcomes,
        list(dict.fromkeys(map_runs)),
    )


def _exiting(steps: list[TraceStep], parent: TraceStep | None, name: str) -> TraceStep | None:
    """The step a ``...StateExited`` event closes: its own state's, which a Map's exit reaches only by name."""
    if parent is not None and parent.name == name and parent.ended_at is None:
        return parent
    return next((step for step in reversed(steps) if step.name == name and step.ended_at is None), None)


def _close(steps: list[TraceStep], outcome: Outcome, error: str | None, cause: str | None, last: float | None) -> None:
    """States the history never exited: a Fail state, the state the execution died in, or still running."""
    for index, step in enumerate(steps):
        step.attempts = max(1, step.attempts)
        if step.ended_at is not None:
            continue
        following = next((later.started_at for later in steps[index + 1 :] if later.where == step.where), None)
        if step.kind == "Fail":
            step.status, step.error, step.cause, step.ended_at = "failed", error, cause, step.started_at
        elif outcome == "running" and following is None:
            step.status = "running"
        else:
            step.ended_at = following if following is not None else last
            if step.status in ("running", "caught") and outcome == "failed" and following is None:
                step.status = "failed"
                step.error, step.cause = step.error or error, step.cause or cause
            elif step.status == "running":
                step.status = "succeeded"


def _child_executions(output: Any) -> list[str]:
    """The ARN of a child execution a task started (startExecution.sync:2, startSyncExecution)."""
    data = json_or_text(output)
    if isinstance(data, dict):
        arn = data.get("ExecutionArn") or data.get("executionArn")
        if isinstance(arn, str):
            return [arn]
    return []


def _child_outcomes(output: Any) -> dict[str, Outcome]:
    """A synchronously started child's ARN and how it ended (startSyncExecution's ``Status``)."""
    data = json_or_text(output)
    if isinstance(data, dict) and isinstance(data.get("ExecutionArn"), str):
        status = CHILD_STATUS.get(str(data.get("Status")))
        if status is not None:
            return {data["ExecutionArn"]: status}
    return {}


def json_or_text(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
