"""`python -m stackops trace <delivery-id> --stack NAME`: the path of one delivery, step by step.

stepfunctions: the executions named after the delivery (``functions.common.dispatch.execution_name``, every
attempt), their histories (Standard) or log lines (Express, which has no history), and their child
executions. sqs: the functions' tracking lines (functions/common/tracking.py) found by delivery id in
every function's log group, and the dead-letter queue of a step that parked it. Both start with the
receiver's lines. What answering took (API calls by operation, seconds, places looked in) is part of the
answer: the comparison reads it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from functions.common.dispatch import execution_arn, execution_name
from functions.common.tracking import STEP_FAILED, STEP_SUCCEEDED, STEP_WAITING
from stackops.api_meter import ApiMeter
from stackops.error_log import MachineStates, lambda_requests, read_error_log, settle, settled_by
from stackops.execution_history import ExecutionSteps, from_history, from_log_lines, read_execution
from stackops.log_search import Found, LogLine, LogsMode, log_search
from stackops.stack_outputs import StackOutputs
from stackops.trace_model import Cost, Outcome, Place, Trace, TraceStep

#: Redeliveries and redrives of a failed Standard execution start ``<id>-2``, ``<id>-3``, ...
MAX_ATTEMPTS_LOOKED_UP = 10
DLQ_PEEKS = 5
RECEIVER = "receiver"
#: A name that ends with an attempt number the receiver or a restart gave it (``<id>-2``).
_ATTEMPT_SUFFIX = re.compile(r"-([2-9]|[1-9][0-9])$")
RECEIVER_MESSAGES = ("webhook accepted", "webhook ignored", "webhook rejected", "webhook not handed over")
_WORST: Mapping[Outcome, int] = {"not found": 0, "succeeded": 1, "failed": 2, "parked": 3, "running": 4}


class Tracer:
    """Reads one stack; ``clients`` builds a boto3 client per service (metered)."""

    def __init__(
        self,
        outputs: StackOutputs,
        *,
        logs_mode: LogsMode = "auto",
        since_ms: int | None = None,
        clients: Callable[[str], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outputs = outputs
        self._clock = clock
        #: Express machines that log errors only (use case -> their states), and their Lambda requests
        self._errors_only: dict[str, MachineStates] = {}
        self._lambda_lines: list[LogLine] | None = None
        self.meter = ApiMeter()
        make = clients or outputs.client
        self._clients: dict[str, Any] = {}
        self._make = make
        self._logs_mode = logs_mode
        now_ms = int(time.time() * 1000)
        self._window = (since_ms if since_ms is not None else now_ms - 14 * 24 * 3600 * 1000, now_ms + 60_000)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.meter.attach(self._make(service))
        return self._clients[service]

    def trace(self, delivery_id: str) -> Trace:
        started = time.perf_counter()
        places: list[Place] = []
        search = log_search(self.client("logs"), self._logs_mode, on_aws=self.outputs.endpoint_url is None)
        receiver_group = self.outputs.function_log_groups[RECEIVER]
        sqs = self.outputs.architecture == "sqs"
        # sqs: every function's lines (the steps' tracking); stepfunctions: the receiver's, then the executions
        groups = list(self.outputs.function_log_groups.values()) if sqs else [receiver_group]
        found = search.find(groups, delivery_id, *self._window)
        _note_groups(places, found, groups)
        steps = _receiver_steps(found.lines.get(receiver_group, []))
        if sqs:
            outcome, stopped_at, more = self._sqs_path(found, delivery_id, places)
        else:
            outcome, stopped_at, more = self._stepfunctions_path(delivery_id, search, places)
        steps += more
        notes = [
            f"{self.outputs.state_machine_arns[use_case].rsplit(':', 1)[1]} logs errors only: a step that succeeded "
            "leaves no line (stateMachineLogLevel ALL logs every step)"
            for use_case in self._errors_only
        ]
        if outcome == "not found" and steps and self._errors_only and _receiver_outcome(steps)[0] == "running":
            outcome, stopped_at = self._no_error_logged(steps)
        elif outcome == "not found" and steps:  # only the receiver's lines
            outcome, stopped_at = _receiver_outcome(steps)
        steps.sort(key=lambda step: step.started_at or float("inf"))
        return Trace(
            delivery_id=delivery_id,
            stack=self.outputs.stack,
            architecture=self.outputs.architecture,
            outcome=outcome,
            stopped_at=stopped_at,
            steps=steps,
            places=places,
            cost=Cost(api_calls=self.meter.calls(), seconds=round(time.perf_counter() - started, 3)),
            notes=notes,
        )

    # stepfunctions

    def _stepfunctions_path(
        self, delivery_id: str, search: Any, places: list[Place]
    ) -> tuple[Outcome, str, list[TraceStep]]:
        sfn = self.client("stepfunctions")
        executions: list[ExecutionSteps] = []
        self._errors_only, self._lambda_lines = {}, None
        described = {
            arn: sfn.describe_state_machine(stateMachineArn=arn) for arn in self.outputs.state_machine_arns.values()
        }
        for use_case, machine_arn in self.outputs.state_machine_arns.items():
            machine = described[machine_arn]
            if machine["type"] == "EXPRESS" and machine.get("loggingConfiguration", {}).get("level", "ALL") != "ALL":
                self._errors_only[use_case] = MachineStates.from_definition(machine["definition"])
        for use_case, machine_arn in self.outputs.state_machine_arns.items():
            places.append(Place(kind="state machine", name=machine_arn.rsplit(":", 1)[1], found=True))
            if described[machine_arn]["type"] == "EXPRESS":
                executions += self._express_executions(
                    use_case, execution_name(delivery_id), search, places, delivery_id=delivery_id
                )
            else:
                executions += self._standard_executions(machine_arn, delivery_id, places)
        seen: set[str] = set()  # child execution ARNs already read
        ended = {arn: outcome for execution in executions for arn, outcome in execution.child_outcomes.items()}
        pending = [child for execution in executions for child in self._children(execution)]
        while pending:
            child = pending.pop(0)
            if child in seen:
                continue
            seen.add(child)
            read = self._child_execution(child, search, places, delivery_id, ended.get(child))
            if read is not None:
                executions.append(read)
                pending += self._children(read)
                ended.update(read.child_outcomes)
        executions += self._later_attempts(executions, delivery_id, search)
        if not executions:
            return "not found", "", []
        steps = [step for execution in executions for step in execution.steps]
        worst = max(_latest_attempts(executions), key=lambda execution: _WORST[execution.outcome])
        stopped_at = ""
        if worst.outcome == "failed":
            stopped_at = f"{worst.name}: {_failing_step(worst)}"
        elif worst.outcome == "running":
            running = [s for s in worst.steps if s.status == "running"]
            stopped_at = f"{worst.name}: {running[-1].name}" if running else worst.name
        return worst.outcome, stopped_at, steps

    def _children(self, execution: ExecutionSteps) -> list[str]:
        """The executions ``execution`` started: by its tasks, and by its Distributed Maps (a map run's child
        executions, listed with ``ListExecutions(mapRunArn=...)``, oldest first)."""
        sfn = self.client("stepfunctions")
        by_map_runs: list[str] = []
        for map_run in execution.map_runs:
            listed = [
                listed
                for page in sfn.get_paginator("list_executions").paginate(mapRunArn=map_run)
                for listed in page["executions"]
            ]
            by_map_runs += [child["executionArn"] for child in sorted(listed, key=lambda child: child["startDate"])]
        return [*execution.child_executions, *by_map_runs]

    def _standard_executions(self, machine_arn: str, delivery_id: str, places: list[Place]) -> list[ExecutionSteps]:
        sfn = self.client("stepfunctions")
        described = list(attempts(sfn, machine_arn, delivery_id))
        if not described:
            first = execution_arn(machine_arn, execution_name(delivery_id))
            places.append(Place(kind="execution", name=_execution_label(first), found=False))
        return [self._standard_execution(execution["executionArn"], places) for execution in described]

    def _standard_execution(self, arn: str, places: list[Place]) -> ExecutionSteps:
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn, maxResults=1000):
            events += page["events"]
        name = _execution_label(arn)
        places.append(Place(kind="execution", name=name, found=True))
        return read_execution(name, from_history(events))

    def _express_executions(
        self,
        use_case: str,
        name: str,
        search: Any,
        places: list[Place],
        *,
        delivery_id: str,
        ended: Outcome | None = None,
        arn: str | None = None,
    ) -> list[ExecutionSteps]:
        """The executions named ``name`` in the machine's logs (an ERROR-level machine's: only those that logged
        an error; ``arn``, a child its parent started, is read even with no line, ``ended`` as the parent saw it)."""
        group = self.outputs.state_machine_log_groups.get(use_case)
        if group is None:
            return []
        found: Found = search.find([group], name, *self._window)
        _note_groups(places, found, [group])
        by_execution: dict[str, list[LogLine]] = {arn: []} if arn is not None and use_case in self._errors_only else {}
        for line in found.lines.get(group, []):
            line_arn = str(line.get("execution_arn", ""))
            if line_arn.split(":")[-2:-1] == [name] or line_arn.endswith(f":{name}"):
                by_execution.setdefault(line_arn, []).append(line)
        states = self._errors_only.get(use_case)
        if states is None:
            return [read_execution(_execution_label(a), from_log_lines(lines)) for a, lines in by_execution.items()]
        requests = self._lambda_requests(search, delivery_id)
        executions = []
        for execution_arn_, lines in by_execution.items():
            read = read_error_log(_execution_label(execution_arn_), from_log_lines(lines), states, requests)
            if read.outcome == "running":
                started = read.started_at if read.started_at is not None else self._clock()
                settle(read, states, ended or self._by_clock(settled_by(started, states)))
            executions.append(read)
        return executions

    def _lambda_requests(self, search: Any, delivery_id: str) -> dict[str, str]:
        """The delivery's Lambda requests (request id -> function), which name the states of an ERROR-level log."""
        return lambda_requests(self._delivery_lambda_lines(search, delivery_id))

    def _delivery_lambda_lines(self, search: Any, delivery_id: str) -> list[LogLine]:
        if self._lambda_lines is None:
            groups = [g for key, g in self.outputs.function_log_groups.items() if key != RECEIVER]
            found = search.find(groups, delivery_id, *self._window)
            self._lambda_lines = [line for lines in found.lines.values() for line in lines]
        return self._lambda_lines

    def _later_attempts(self, executions: list[ExecutionSteps], delivery_id: str, search: Any) -> list[ExecutionSteps]:
        """A redelivery's or a restart's attempt after a failed one, in a machine that logs errors only: it logs
        nothing unless it fails too, but its Lambda functions' lines for the delivery come after the failure."""
        later: list[ExecutionSteps] = []
        for use_case, states in self._errors_only.items():
            machine = self.outputs.state_machine_arns[use_case].rsplit(":", 1)[1]
            own = [
                e
                for e in executions
                if e.name.startswith(f"{machine}:") and base_name(e.name.split(":")[1]) == execution_name(delivery_id)
            ]
            last = max(own, key=lambda e: e.started_at or 0.0, default=None)
            if last is None or last.outcome != "failed":
                continue
            ended = max((step.ended_at or 0.0 for step in last.steps), default=last.started_at or 0.0)
            after = sorted(_seconds(line) for line in self._delivery_lambda_lines(search, delivery_id))
            after = [at for at in after if at > ended]
            if not after:
                continue
            outcome = self._by_clock(settled_by(after[0], states))
            # labelled <machine>:<name>:<run> as the executions are, so that it counts as the delivery's latest attempt
            run = "a later attempt (its Lambda functions ran after the failure)"
            name = f"{machine}:{execution_name(delivery_id)}:{run}"
            later.append(ExecutionSteps(name, outcome, [], started_at=after[0]))
        return later

    def _no_error_logged(self, receiver: list[TraceStep]) -> tuple[Outcome, str]:
        """An accepted delivery with no execution line in ERROR-level logs: succeeded, or running until its
        machine's timeout (a failure or a timeout would have been logged)."""
        accepted = max(step.started_at or 0.0 for step in receiver)
        ended_by = max(settled_by(accepted, states) for states in self._errors_only.values())
        if self._by_clock(ended_by) == "succeeded":
            return "succeeded", ""
        until = time.strftime("%H:%M:%S", time.gmtime(ended_by))
        return "running", f"no error logged so far: it has succeeded unless one is logged by {until} UTC (its timeout)"

    def _by_clock(self, ended_by: float) -> Outcome:
        """An execution that logged no error and no end: succeeded once ``ended_by`` (its timeout) has passed."""
        return "succeeded" if self._clock() >= ended_by else "running"

    def _child_execution(
        self, arn: str, search: Any, places: list[Place], delivery_id: str, ended: Outcome | None
    ) -> ExecutionSteps | None:
        if ":express:" in arn:  # an Express child (startSyncExecution): its machine's logs
            machine = arn.split(":")[6]
            use_case = next(
                (u for u, m in self.outputs.state_machine_arns.items() if m.rsplit(":", 1)[1] == machine), None
            )
            if use_case is None:
                return None
            name = arn.split(":")[7]
            read = self._express_executions(
                use_case, name, search, places, delivery_id=delivery_id, ended=ended, arn=arn
            )
            matches = [e for e in read if e.name == _execution_label(arn)]
            return matches[0] if matches else None
        return self._standard_execution(arn, places)

    # sqs

    def _sqs_path(self, found: Found, delivery_id: str, places: list[Place]) -> tuple[Outcome, str, list[TraceStep]]:
        keys_by_group = {group: key for key, group in self.outputs.function_log_groups.items()}
        steps: list[TraceStep] = []
        for group, lines in found.lines.items():
            if keys_by_group.get(group) == RECEIVER:
                continue
            steps += _tracked_steps(lines, keys_by_group.get(group, group))
        if not steps:
            return "not found", "", []
        parked = [s for s in steps if s.status == "failed" and s.parked]
        retrying = [s for s in steps if s.status == "failed" and not s.parked]
        waiting = _awaited_inputs(steps)
        if parked:
            stopped = []
            for step in parked:
                dlq_url = self.outputs.dead_letter_queue_urls.get(step.where)
                located = self._in_dead_letter_queue(dlq_url, delivery_id, places) if dlq_url else None
                queue = dlq_url.rsplit("/", 1)[1] if dlq_url else "its dead-letter queue"
                stopped.append(f"{step.where}: {queue}" + ("" if located is not False else " (no longer there)"))
            return "parked", "; ".join(stopped), steps
        if retrying or waiting:
            where = [f"{s.where}: retried (receive {s.attempts} failed)" for s in retrying]
            where += [f"waiting in the {step} queue" for step in waiting]
            return "running", "; ".join(where), steps
        return "succeeded", "", steps

    def _in_dead_letter_queue(self, queue_url: str, delivery_id: str, places: list[Place]) -> bool:
        """Peek (visibility 0: the message stays where it is) for a message of the delivery."""
        sqs = self.client("sqs")
        seen: set[str] = set()
        hit = False
        for _ in range(DLQ_PEEKS):
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=["correlationId"]
            ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                break
            seen.update(m["MessageId"] for m in fresh)
            if any(message_correlation_id(m) == delivery_id for m in fresh):
                hit = True
                break
        places.append(Place(kind="dead-letter queue", name=queue_url.rsplit("/", 1)[1], found=hit))
        return hit


def attempts(sfn: Any, machine_arn: str, base: str) -> Iterator[dict[str, Any]]:
    """DescribeExecution of ``<base>``, ``<base>-2``, ... of a Standard machine, oldest first, up to the first
    name no execution has."""
    for attempt in range(1, MAX_ATTEMPTS_LOOKED_UP + 1):
        try:
            yield sfn.describe_execution(executionArn=execution_arn(machine_arn, execution_name(base, attempt)))
        except sfn.exceptions.ExecutionDoesNotExist:
            return


def _latest_attempts(executions: list[ExecutionSteps]) -> list[ExecutionSteps]:
    """Each piece of work's latest execution: a failed attempt that a redelivery or a redrive followed is history."""
    latest: dict[str, ExecutionSteps] = {}
    for execution in sorted(executions, key=lambda e: e.started_at or 0.0):
        machine, _, name = execution.name.partition(":")
        latest[f"{machine}:{base_name(name.split(':')[0])}"] = execution
    return list(latest.values())


def base_name(name: str) -> str:
    """The name the receiver gave an execution's first attempt (``<id>`` of ``<id>-3``)."""
    return _ATTEMPT_SUFFIX.sub("", name)


def _failing_step(execution: ExecutionSteps) -> str:
    """The state whose error failed the execution: the one that caught it, not the Fail state it led to."""
    caught = [s for s in execution.steps if s.status == "caught" and s.error == execution.error]
    failed = [s for s in execution.steps if s.status == "failed"]
    candidates = caught or failed or execution.steps[-1:]
    if not candidates:
        return execution.error or "?"
    step = candidates[-1]
    return f"{step.name} ({step.error or execution.error})"


def _note_groups(places: list[Place], found: Found, groups: Sequence[str]) -> None:
    for group in groups:
        places.append(Place(kind="log group", name=group, found=bool(found.lines.get(group))))


def _receiver_steps(lines: list[LogLine]) -> list[TraceStep]:
    steps = []
    for line in lines:
        message = str(line.get("message", ""))
        if not message.startswith(RECEIVER_MESSAGES):
            continue
        at = _seconds(line)
        failed = message.startswith(("webhook rejected", "webhook not handed over"))
        steps.append(
            TraceStep(
                name=RECEIVER,
                kind="Lambda",
                where=RECEIVER,
                started_at=at,
                ended_at=at,
                status="failed" if failed else "succeeded",
                input={k: line[k] for k in ("github_event", "action") if k in line} or None,
                output=message,
                error=line.get("reason") if failed else None,
            )
        )
    return steps


def _receiver_outcome(steps: list[TraceStep]) -> tuple[Outcome, str]:
    last = steps[-1]
    if last.status == "failed":
        return "failed", f"{RECEIVER}: {last.output}"
    if str(last.output).startswith("webhook ignored"):
        return "succeeded", f"{RECEIVER}: ignored (nothing to do for this event)"
    return "running", f"{RECEIVER}: accepted, no step has received it yet"


def _tracked_steps(lines: list[LogLine], function: str) -> list[TraceStep]:
    """One step per work item (step and input): its receives, the last deciding its status."""
    by_item: dict[tuple[str, str], TraceStep] = {}
    for line in sorted(lines, key=_seconds):
        message = line.get("message")
        if message not in (STEP_SUCCEEDED, STEP_FAILED, STEP_WAITING) or "input" not in line:
            continue
        ended = _seconds(line)
        duration = float(line.get("durationMs") or 0) / 1000
        key = (str(line.get("step", function)), json.dumps(line["input"], sort_keys=True))
        step = by_item.get(key)
        if step is None:
            step = by_item[key] = TraceStep(
                name=key[0],
                kind="Lambda",
                where=function,
                started_at=ended - duration,
                status="running",
                attempts=0,
                input=line["input"],
                queued_ms=line.get("queuedMs"),
            )
        step.attempts = max(step.attempts + 1, int(line.get("receiveCount") or 1))
        step.ended_at = ended
        if message == STEP_SUCCEEDED:
            step.status, step.output = "succeeded", line.get("output")
        elif message == STEP_WAITING:
            step.status, step.error = "waiting", f"rate limited: waits {line.get('waitSeconds')} s"
        else:
            step.status = "failed"
            step.error, step.cause = str(line.get("errorType", "")), str(line.get("error", ""))
        step.parked = message == STEP_FAILED and bool(line.get("parked"))
    return list(by_item.values())


def _awaited_inputs(steps: list[TraceStep]) -> list[str]:
    """Outputs of succeeded steps no step has received yet: messages still in a queue (or lost)."""
    received = {json.dumps(step.input, sort_keys=True) for step in steps}
    waiting = []
    for step in steps:
        if step.status != "succeeded" or step.output is None:
            continue
        items = step.output.get("items") if isinstance(step.output, dict) and "items" in step.output else [step.output]
        for item in items or []:
            if json.dumps(item, sort_keys=True) not in received:
                waiting.append(f"next step after {step.name}")
    return sorted(set(waiting))


def message_correlation_id(message: Mapping[str, Any]) -> str | None:
    """The delivery id an SQS message carries (its ``correlationId`` attribute, as ReceiveMessage returns it)."""
    attribute = message.get("MessageAttributes", {}).get("correlationId", {})
    value = attribute.get("StringValue")
    return str(value) if value else None


def _execution_label(arn: str) -> str:
    """``<machine>:<name>`` (Express ARNs end with a run id: kept, names are not unique there)."""
    parts = arn.split(":")
    return ":".join(parts[6:])


def _seconds(line: Mapping[str, Any]) -> float:
    stamp = line.get("@timestamp")
    return int(stamp) / 1000 if stamp is not None else 0.0
