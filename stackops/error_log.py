"""An Express execution whose machine logs only errors (``stateMachineLogLevel: ERROR`` or FATAL), as trace steps.

At ERROR level Step Functions logs a failure's events and nothing else: ``TaskFailed`` (and its Lambda
and timeout kin), ``FailStateEntered``, ``ExecutionFailed`` / ``TimedOut`` / ``Aborted``. A succeeded
execution, and a running one, write no line; a ``TaskFailed`` does not name its state. So:

- a failure is put back in its state from the machine's definition: an AWS SDK or service task by its
  resource (``resourceType`` + ``resource``, unique in these machines), a Lambda task by the function that
  failed, found through the ``requestId`` of the error's cause in the function's own log lines (each
  carries ``function_request_id`` and ``function_name``);
- an execution with no end event logged has either succeeded or is still running; it cannot have failed
  without logging it, nor run past its ``TimeoutSeconds`` (a timeout is logged too). The caller decides
  with the clock (:func:`settled_by`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stackops.execution_history import EXECUTION_END, FAILED, Event, ExecutionSteps, json_or_text
from stackops.trace_model import Outcome, TraceStep

#: Express executions run five minutes at most (AWS's limit; components.config has it too, but importing it
#: would load pulumi into every `trace`).
EXPRESS_MAX_SECONDS = 300

_SERVICE_PREFIX = "arn:aws:states:::"
_LAMBDA_RESOURCES = ("lambda:invoke", "lambda")


@dataclass(frozen=True)
class TaskState:
    """A ``Task`` state of a definition: what it calls, and how often it retries each error."""

    name: str
    resource: str  # "lambda:invoke", "aws-sdk:dynamodb:transactWriteItems", "sns:publish", ...
    function: str | None  # a Lambda task's function name
    retries: tuple[tuple[tuple[str, ...], int], ...]  # (ErrorEquals, MaxAttempts) in order

    def max_retries(self, error: str) -> int:
        for errors, attempts in self.retries:
            if (
                error in errors
                or "States.ALL" in errors
                or (error != "States.Timeout" and "States.TaskFailed" in errors)
            ):
                return attempts
        return 0


@dataclass(frozen=True)
class MachineStates:
    """The ``Task`` states of a state machine (nested Map and Parallel states included), and its timeout."""

    tasks: tuple[TaskState, ...]
    timeout_seconds: int

    @classmethod
    def from_definition(cls, definition: str | Mapping[str, Any], *, express: bool = True) -> MachineStates:
        parsed = json.loads(definition) if isinstance(definition, str) else definition
        tasks = tuple(_tasks(parsed.get("States", {})))
        timeout = int(parsed.get("TimeoutSeconds") or EXPRESS_MAX_SECONDS)
        return cls(tasks, min(timeout, EXPRESS_MAX_SECONDS) if express else timeout)

    def state_of(self, details: Mapping[str, Any], functions: Mapping[str, str]) -> str:
        """The state a failure event happened in; ``functions`` maps a Lambda request id to its function."""
        resource = ":".join(str(details[k]) for k in ("resourceType", "resource") if details.get(k))
        request_id = _request_id(details.get("cause"))
        function = functions.get(request_id) if request_id else None
        if function is not None:
            named = [task for task in self.tasks if task.function == function]
        elif resource and resource not in _LAMBDA_RESOURCES:
            named = [task for task in self.tasks if task.resource == resource]
        else:
            named = [task for task in self.tasks if task.resource in _LAMBDA_RESOURCES]
        return " or ".join(dict.fromkeys(task.name for task in named)) or "?"

    def task(self, name: str) -> TaskState | None:
        return next((task for task in self.tasks if task.name == name), None)


def read_error_log(
    name: str, events: list[Event], states: MachineStates, functions: Mapping[str, str]
) -> ExecutionSteps:
    """One execution's ERROR-level events as steps: one per state that failed, the Fail state, the end."""
    steps: list[TraceStep] = []
    outcome: Outcome = "running"  # no end logged: running or succeeded (settled_by says which)
    error = cause = None
    for event in events:
        details = event.details
        if event.type in FAILED:
            state = states.state_of(details, functions)
            last = steps[-1] if steps else None
            step_error = str(details.get("error") or event.type)
            if last is not None and last.name == state and last.kind == "Task" and last.error == step_error:
                last.attempts += 1
                last.cause, last.ended_at = details.get("cause"), event.timestamp
                continue
            steps.append(
                TraceStep(
                    name=state,
                    kind="Task",
                    where=name,
                    started_at=event.timestamp,
                    ended_at=event.timestamp,
                    status="caught",
                    error=step_error,
                    cause=details.get("cause"),
                )
            )
        elif event.type == "FailStateEntered":
            steps.append(
                TraceStep(
                    name=str(details.get("name", "?")),
                    kind="Fail",
                    where=name,
                    started_at=event.timestamp,
                    ended_at=event.timestamp,
                    status="failed",
                    input=json_or_text(details.get("input")),
                )
            )
        elif event.type in EXECUTION_END:
            outcome = EXECUTION_END[event.type]
            error, cause = details.get("error"), details.get("cause")
            if event.type == "ExecutionTimedOut":
                error = error or "States.Timeout"
    for step in steps:
        if step.kind == "Fail":
            step.error, step.cause = error, cause
    first = events[0].timestamp if events else None
    execution = ExecutionSteps(name, outcome, steps, None, error, cause, [], first)
    if outcome == "failed":
        _mark_failing(execution)
    return execution


def settle(execution: ExecutionSteps, states: MachineStates, outcome: Outcome) -> None:
    """An execution with no end logged, once known to have ``outcome`` (succeeded, or still running):
    a task that failed no more often than its ``Retry`` allows ran again, and (in a succeeded execution)
    that attempt succeeded; one that failed more often was caught and the execution went on."""
    execution.outcome = outcome
    for step in execution.steps:
        task = states.task(step.name)
        retried = task is not None and step.error is not None and step.attempts <= task.max_retries(step.error)
        if retried:
            step.attempts += 1
            step.status = "succeeded" if outcome == "succeeded" else "running"


def settled_by(started_at: float, states: MachineStates) -> float:
    """When an execution that started at ``started_at`` has ended for sure: its timeout."""
    return started_at + states.timeout_seconds


def lambda_requests(lines: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Request id -> function name, from Lambda functions' JSON log lines."""
    found: dict[str, str] = {}
    for line in lines:
        request, function = line.get("function_request_id"), line.get("function_name")
        if isinstance(request, str) and isinstance(function, str):
            found[request] = function
    return found


def _mark_failing(execution: ExecutionSteps) -> None:
    """An execution that failed with no Fail state failed in its last task failure (one that reached a Fail
    state was caught, as a history shows it)."""
    tasks = [step for step in execution.steps if step.kind == "Task"]
    if tasks and not any(step.kind == "Fail" for step in execution.steps):
        tasks[-1].status = "failed"


def _tasks(states: Mapping[str, Any]) -> Iterable[TaskState]:
    for name, state in states.items():
        if state.get("Type") == "Task":
            resource = str(state.get("Resource", "")).removeprefix(_SERVICE_PREFIX)
            arguments = state.get("Parameters") or state.get("Arguments") or {}
            function = None
            if resource in _LAMBDA_RESOURCES:
                function = str(arguments.get("FunctionName", "")).split(":function:")[-1].split(":")[0] or None
            elif resource.startswith("arn:aws:lambda:"):
                function, resource = resource.split(":function:")[-1].split(":")[0], "lambda"
            retries = tuple(
                (tuple(retrier.get("ErrorEquals", [])), int(retrier.get("MaxAttempts", 3)))
                for retrier in state.get("Retry", [])
            )
            yield TaskState(name, resource, function, retries)
        for branch in state.get("Branches", []):
            yield from _tasks(branch.get("States", {}))
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _tasks(processor.get("States", {}))


def _request_id(cause: Any) -> str | None:
    """A Lambda error's ``requestId`` (its cause is the function's error document)."""
    if not isinstance(cause, str) or not cause.startswith("{"):
        return None
    try:
        value = json.loads(cause).get("requestId")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
