"""Meter the sandbox stacks: replay each use case through every design and count what AWS would bill.

:func:`meter_sandbox` deploys three stacks into one sandbox (sqs from ``Pulumi.dev.yaml``; stepfunctions
with EXPRESS per-event machines from ``Pulumi.dev-sfn.yaml``; the same with STANDARD ones) and runs each
use case's deliveries through each stack as a phase of its own: tables emptied, deliveries sent, the
stack waited on until idle. Everything the stack did in that window is its use case's:

- the AWS API calls that reached the emulator (``sandbox/api_calls.py``, metered by ``stackops.call_usage``)
  with DynamoDB item sizes noted around each request (``stackops.dynamodb_sizes``);
- the Lambda invokes the local runtime recorded and the lines the functions wrote
  (``stackops.lambda_usage``);
- the executions of the stack's state machines, from their histories (``stackops.sfn_usage``);
- the webhook requests sent (HTTP API, 512 KB chunks) and the traces the receivers would start (X-Ray).

The SQS pollers poll whether or not messages arrive: an idle window before the phases gives their rate of
empty receives in the sandbox, and that share of each phase's empty receives is left out of the phase (a
delivery did not cause it). What AWS's pollers do with no traffic is an idle line per month, from the number
of mappings and the poller rate of the price table's assumptions.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from functions.common import secret_cache
from sandbox import moto_fixes, program
from sandbox.api_calls import ApiCall
from sandbox.aws import ACCOUNT_ID, REGION
from sandbox.deploy import Deployment
from sandbox.environment import Response, Sandbox, StackDesign
from sandbox.fake_github import SANDBOX_ORG, OrgSeed, Person, RunSpec
from sandbox.lambda_runtime import InvokeRecord
from sandbox.workload import (
    Delivery,
    ignored,
    installation_created,
    member_added,
    signed_request,
    workflow_run_completed,
)
from stackops import access_logs, call_usage, lambda_usage, sfn_usage
from stackops.billing_units import http_api_requests, lambda_gb_seconds
from stackops.dynamodb_sizes import MotoTables, observe_item_sizes
from stackops.prices import load_prices
from stackops.tally import Tally
from stackops.usage import IdleUsage, StackUsage, UsageLine, UsageReport, UseCase, UseCaseUsage

PROJECT = "github-automation"
#: Design name -> stack; ``sqs`` and ``stepfunctions`` are the sandbox's own two.
STANDARD_DESIGN = "stepfunctions-standard"
#: The example stacks' notification email is kept (the sandbox's default drops it), so email deliveries are
#: metered as the example stacks would make them.
_EMAIL = {"notificationEmail": program.stack_config("Pulumi.dev.yaml").get("notificationEmail", "")}
DESIGNS: dict[str, StackDesign] = {
    "sqs": StackDesign("sqs", "Pulumi.dev.yaml", "sandbox-sqs", _EMAIL),
    "stepfunctions": StackDesign("stepfunctions", "Pulumi.dev-sfn.yaml", "sandbox-sfn", _EMAIL),
    STANDARD_DESIGN: StackDesign(
        "stepfunctions", "Pulumi.dev-sfn.yaml", "sandbox-std", {**_EMAIL, "workflowType": "STANDARD"}
    ),
}
DESIGN_ORDER = ("sqs", "stepfunctions", STANDARD_DESIGN)
USE_CASES: tuple[UseCase, ...] = ("member_added", "workflow_run", "installation")
DEFAULT_DELIVERIES = 20
#: Backfills onboard the whole org each: a few are plenty.
INSTALLATION_DELIVERIES = 2
IDLE_WINDOW_SECONDS = 3.0
WARM_UP_TRIES = 3
#: X-Ray's default sampling rule: the first request each second, then 5%
#: (https://docs.aws.amazon.com/xray/latest/devguide/xray-console-sampling.html). At any volume worth
#: pricing the 5% dominates; the product configures no rule of its own.
#: The share of trace-starting requests Lambda records with active tracing: its sampling (1 request a second
#: and 5% beyond, not configurable for Lambda) records every request below one a second per function, i.e.
#: up to 2.6 million a month; the cost model's xrayTracing lever applies the 5% above that.
XRAY_SAMPLING_RATE = 1.0
#: How long a function keeps a secret (functions/common/secret_cache.py, the same in functions/common/secrets.py).
SECRET_CACHE_SECONDS = float(secret_cache.SECRET_CACHE_SECONDS)
Progress = Callable[[str, int, int], None]
_TRACED = "Active"


# --- what a stack is made of ---------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionInfo:
    name: str  # physical
    short: str
    memory_mb: int
    architecture: str
    log_level: str
    traced: bool
    trigger: str  # http | sqs | states


@dataclass(frozen=True)
class MachineInfo:
    name: str
    short: str
    workflow_type: str
    level: str
    include_execution_data: bool
    definition_bytes: int


@dataclass(frozen=True)
class StackInfo:
    design: str
    names: call_usage.StackNames
    architecture: str
    workflow_type: str | None
    lambda_architecture: str
    functions: dict[str, FunctionInfo]  # by physical name
    machines: dict[str, MachineInfo]  # by physical name
    email_subscriptions: dict[str, int]  # topic short name -> email subscriptions
    api: str  # the HTTP API's short name
    mappings: int
    idle_counts: dict[str, int] = field(default_factory=dict)  # alarms, dashboards, secrets, keys
    #: The HTTP API's id, its route and its stage's access log format (None: no access log).
    api_id: str = ""
    route_key: str = ""
    access_log_format: str | None = None


def _inputs(deployment: Deployment, typ: str) -> list[dict[str, Any]]:
    return [resource.inputs for resource in deployment.of_type(typ)]


def stack_info(design: str, deployment: Deployment, config: Mapping[str, str]) -> StackInfo:
    """What the meter needs to know of a deployed stack, read from the resources the program created."""
    secrets = tuple(
        (str(resource.outputs["name"]), resource.name)
        for resource in deployment.of_type("aws:secretsmanager/secret:Secret")
        if resource.outputs.get("name")
    )
    buckets = tuple(
        (str(resource.outputs["bucket"]), call_usage.BACKFILL_BUCKET)
        for resource in deployment.of_type("aws:s3/bucket:Bucket")
        if resource.outputs.get("bucket")
    )
    names = call_usage.StackNames(deployment.stack, f"{PROJECT}-{deployment.stack}-", secrets + buckets)
    mapped = {mapping.function_arn.rsplit(":", 1)[-1] for mapping in deployment.event_source_mappings}
    architecture = config["architecture"]
    functions = {}
    for inputs in _inputs(deployment, "aws:lambda/function:Function"):
        name = str(inputs["name"])
        short = names.short(name) or name
        variables = (inputs.get("environment") or {}).get("variables") or {}
        trigger = "http" if short == "receiver" else "sqs" if name in mapped else "states"
        functions[name] = FunctionInfo(
            name,
            short,
            int(inputs.get("memorySize") or 128),
            str((inputs.get("architectures") or ["x86_64"])[0]),
            str(variables.get("POWERTOOLS_LOG_LEVEL") or "INFO"),
            (inputs.get("tracingConfig") or {}).get("mode") == _TRACED,
            trigger,
        )
    machines = {}
    for inputs in _inputs(deployment, "aws:sfn/stateMachine:StateMachine"):
        name = str(inputs["name"])
        logging = inputs.get("loggingConfiguration") or {}
        machines[name] = MachineInfo(
            name,
            names.short(name) or name,
            str(inputs.get("type") or "STANDARD"),
            str(logging.get("level") or "OFF"),
            bool(logging.get("includeExecutionData")),
            len(str(inputs.get("definition") or "").encode()),
        )
    topics = {str(r.outputs.get("arn")): str(r.inputs.get("name")) for r in deployment.of_type("aws:sns/topic:Topic")}
    emails: dict[str, int] = defaultdict(int)
    for inputs in _inputs(deployment, "aws:sns/topicSubscription:TopicSubscription"):
        if inputs.get("protocol") in ("email", "email-json"):
            topic = topics.get(str(inputs.get("topic")), str(inputs.get("topic")).rsplit(":", 1)[-1])
            emails[names.short(topic) or topic] += 1
    apis = deployment.of_type("aws:apigatewayv2/api:Api")
    api = str(apis[0].inputs["name"]) if apis else "http-api"
    routes = _inputs(deployment, "aws:apigatewayv2/route:Route")
    stages = _inputs(deployment, "aws:apigatewayv2/stage:Stage")
    access_format = next((str(st["accessLogSettings"]["format"]) for st in stages if st.get("accessLogSettings")), None)
    idle_counts = {
        "secret_readers": sum(
            1
            for inputs in _inputs(deployment, "aws:lambda/function:Function")
            for variable in ((inputs.get("environment") or {}).get("variables") or {})
            if variable.endswith("_SECRET_ARN")
        ),
        "alarms": len(deployment.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")),
        "dashboards": len(deployment.of_type("aws:cloudwatch/dashboard:Dashboard")),
        "secrets": len(deployment.of_type("aws:secretsmanager/secret:Secret")),
        "keys": len(deployment.of_type("aws:kms/key:Key")),
    }
    return StackInfo(
        design=design,
        names=names,
        architecture=architecture,
        workflow_type=str(config.get("workflowType", "STANDARD")) if architecture == "stepfunctions" else None,
        lambda_architecture=str(config.get("lambdaArchitecture", "arm64")),
        functions=functions,
        machines=machines,
        email_subscriptions=dict(emails),
        api=names.short(api) or api,
        mappings=len(deployment.event_source_mappings),
        idle_counts=idle_counts,
        api_id=apis[0].id if apis else "",
        route_key=str(routes[0]["routeKey"]) if routes else "",
        access_log_format=access_format,
    )


# --- what a phase did ------------------------------------------------------------------------------


@dataclass
class PhaseRecord:
    """Everything one stack did in one window, as the sandbox recorded it."""

    deliveries: Sequence[Delivery]
    started: float
    stopped: float
    calls: list[ApiCall]
    invokes: list[InvokeRecord]
    lines: list[tuple[float, str, str]]  # (time, function, line)
    executions: list[Any]  # moto's execution objects
    batches: dict[str, tuple[int, int]]  # function -> (batches, records) the pollers invoked with
    responses: Sequence[Response] = ()  # the webhook's answer to each delivery
    idle_empty_receives_per_second: dict[str, float] = field(default_factory=dict)  # queue -> rate


def trace_starters(functions: Iterable[FunctionInfo]) -> list[FunctionInfo]:
    """The traced functions whose invokes start a trace: the receiver (nothing upstream is traced: an HTTP
    API records no trace) and every SQS consumer (Lambda starts a trace per batch and links it to the
    producers' through AWSTraceHeader). A function a state machine invokes joins the execution's trace."""
    return [f for f in functions if f.traced and f.trigger in ("http", "sqs")]


def meter_phase(stack: StackInfo, phase: PhaseRecord) -> tuple[list[UsageLine], list[str]]:
    """The billable units per delivery of one phase, and the calls no unit was found for."""
    tally = Tally()
    unknown: set[str] = set()
    seconds = phase.stopped - phase.started
    for call in phase.calls:
        if call_usage.owner(call, [stack.names]) is None:
            continue
        missing = call_usage.meter_call(call, stack.names, tally, stack.email_subscriptions)
        if missing:
            unknown.add(missing)
    _discount_idle_receives(tally, phase.idle_empty_receives_per_second, seconds)
    _meter_lambda(stack, phase, tally)
    _meter_executions(stack, phase, tally)
    for delivery in phase.deliveries:
        tally.add("apigateway", "http_requests", http_api_requests(len(delivery.body)), stack.api)
    _meter_access_logs(stack, phase, tally)
    for function in trace_starters(stack.functions.values()):
        invokes = sum(1 for r in phase.invokes if r.function == function.name)
        key = tally.add("xray", "traces_recorded", invokes * XRAY_SAMPLING_RATE, function.short)
        tally.describe(key, samplingRate=XRAY_SAMPLING_RATE)
    return _without_secret_reads(tally.lines(len(phase.deliveries))), sorted(unknown)


def _meter_access_logs(stack: StackInfo, phase: PhaseRecord, tally: Tally) -> None:
    """The access log lines the stage writes, one per request (stackops/access_logs.py)."""
    if stack.access_log_format is None:
        return
    size = 0
    for delivery, response in zip(phase.deliveries, phase.responses, strict=True):
        headers, _ = signed_request(delivery, "")
        values = access_logs.request_values(
            api_id=stack.api_id,
            route_key=stack.route_key,
            user_agent=headers["User-Agent"],
            sent_at=response.sent_at,
            status=response.status,
            response_length=len(json.dumps(response.body, separators=(",", ":"))),
            latency_ms=round(response.seconds * 1000),
        )
        size += len(access_logs.render(stack.access_log_format, values).encode()) + 1
    tally.add("logs", "ingested_gb", lambda_usage.gb(size), f"{stack.api}-access", source="apigateway", level="ACCESS")


def _discount_idle_receives(tally: Tally, rates: Mapping[str, float], seconds: float) -> None:
    """Leave out of a phase the empty receives its pollers would have made with no traffic at all."""
    for queue, rate in rates.items():
        tally.subtract(
            Tally.key("sqs", "requests", queue, operation="ReceiveMessage", caller="poller", empty="true"),
            rate * seconds,
        )


def _meter_lambda(stack: StackInfo, phase: PhaseRecord, tally: Tally) -> None:
    deliveries = len(phase.deliveries)
    by_function: dict[str, list[InvokeRecord]] = defaultdict(list)
    for record in phase.invokes:
        if record.function in stack.functions:
            by_function[record.function].append(record)
    lines: dict[str, list[str]] = defaultdict(list)
    for _, function, line in phase.lines:
        lines[function].append(line)
    for name, info in sorted(stack.functions.items()):
        records = by_function.get(name, [])
        if not records and not lines.get(name):
            continue
        usage = lambda_usage.function_usage(records, lines.get(name, []), info.log_level)
        if usage.invokes:
            requests = tally.add("lambda", "requests", usage.invokes, info.short, trigger=info.trigger)
            if info.trigger == "sqs":
                batches, records_in = phase.batches.get(name, (0, 0))
                tally.describe(requests, recordsPerInvoke=lambda_usage.records_per_invoke(records_in, batches))
            billed_per_invoke = usage.billed_ms / usage.invokes
            invokes_per_delivery = usage.invokes / deliveries
            seconds = tally.add(
                "lambda",
                "gb_seconds",
                lambda_gb_seconds(usage.billed_ms, info.memory_mb),
                info.short,
                architecture=info.architecture,
            )
            tally.describe(
                seconds,
                memoryMb=float(info.memory_mb),
                billedMsPerInvoke=billed_per_invoke,
                invokesPerDelivery=invokes_per_delivery,
            )
        assert usage.log_bytes is not None
        key = tally.add(
            "logs",
            "ingested_gb",
            lambda_usage.gb(usage.log_bytes[info.log_level]),
            info.short,
            source="lambda",
            level=info.log_level,
        )
        tally.describe(
            key,
            **{
                f"gbAt.{level}": lambda_usage.gb(size) / deliveries
                for level, size in usage.log_bytes.items()
                if level != info.log_level
            },
        )


def _execution_machine(execution: Any) -> str:
    """The machine an execution runs: a map run's child (``execution:<machine>/<label>:<name>``) runs its
    parent's, and bills as one of its executions."""
    parts = str(execution.execution_arn).split(":")
    return parts[6].split("/", 1)[0] if len(parts) > 6 else ""


def cold_waits(windows: Sequence[tuple[float, float]], colds: Iterable[tuple[float, float]]) -> list[float]:
    """Per execution window (start, stop), the seconds it spent waiting for a cold task function's init.

    ``colds`` are the (start, init seconds) of the cold invokes of the stack's state-machine-invoked
    functions; each is put on the latest-started execution whose window holds its start. An Express
    execution's billed duration is its wall time, which in the sandbox includes a cold start every few
    deliveries, something a function under steady traffic on AWS seldom has (stackops/lambda_usage.py)."""
    waits = [0.0] * len(windows)
    for started, init in colds:
        holding = [i for i, (start, stop) in enumerate(windows) if start <= started <= stop]
        if holding:
            waits[max(holding, key=lambda i: windows[i][0])] += init
    return waits


def _meter_executions(stack: StackInfo, phase: PhaseRecord, tally: Tally) -> None:
    deliveries = len(phase.deliveries)
    logged: dict[str, dict[tuple[str, bool], int]] = {}
    express: dict[str, list[tuple[float, float]]] = defaultdict(list)
    tasks = {f.name for f in stack.functions.values() if f.trigger == "states"}
    windows = [
        (execution.start_date.timestamp(), (execution.stop_date or datetime.now(UTC)).timestamp())
        for execution in phase.executions
    ]
    colds = [(r.started_at, r.init_duration) for r in phase.invokes if r.cold and r.function in tasks]
    waiting = dict(zip((id(e) for e in phase.executions), cold_waits(windows, colds), strict=True))
    for execution in phase.executions:
        machine = stack.machines.get(_execution_machine(execution))
        if machine is None:
            continue
        events = list(execution.to_history_output().get("events") or [])
        if machine.workflow_type == "EXPRESS":
            tally.add("states", "express_requests", 1, machine.short)
            stopped = execution.stop_date or datetime.now(UTC)
            billed_ms, billed_mb = sfn_usage.express_billing(
                execution.start_date, stopped, machine.definition_bytes, events, waiting[id(execution)]
            )
            tally.add("states", "express_gb_seconds", billed_ms / 1000 * billed_mb / 1024, machine.short)
            express[machine.short].append((billed_ms, billed_mb))
        else:
            tally.add("states", "standard_transitions", sfn_usage.transitions(events), machine.short)
        sizes = logged.setdefault(machine.short, defaultdict(int))
        for level_data, size in sfn_usage.log_bytes(events, str(execution.execution_arn)).items():
            sizes[level_data] += size
    for short, billed in express.items():
        tally.describe(
            Tally.key("states", "express_gb_seconds", short),
            billedMsPerExecution=sum(ms for ms, _ in billed) / len(billed),
            billedMemoryMb=sum(mb for _, mb in billed) / len(billed),
        )
    for short, sizes in sorted(logged.items()):
        machine = next(m for m in stack.machines.values() if m.short == short)
        configured = sizes[(machine.level, machine.include_execution_data)]
        key = tally.add(
            "logs",
            "ingested_gb",
            lambda_usage.gb(configured),
            short,
            source="states",
            level=machine.level,
            includeExecutionData="true" if machine.include_execution_data else "false",
        )
        alternatives: dict[str, float] = {}
        for (level, data), size in sizes.items():
            if (level, data) == (machine.level, machine.include_execution_data):
                continue
            suffix = "" if data else ".noExecutionData"
            alternatives[f"gbAt.{level}{suffix}"] = lambda_usage.gb(size) / deliveries
        tally.describe(key, **alternatives)


# --- the workload ------------------------------------------------------------------------------------


def metering_seed(members: int, runs: int) -> OrgSeed:
    """The sandbox org with enough members and runs that no delivery of a phase repeats an earlier one."""
    base = SANDBOX_ORG
    members += sum(1 for person in base.members if person.employee_id is None)  # not member_added deliveries
    extra_members = tuple(
        Person(
            f"member-{i:03d}",
            7_200_001 + i,
            f"E{5001 + i}",
            "Member",
            f"No{i}",
            f"member-{i:03d}@example.com",
            "Platform",
        )
        for i in range(max(0, members - len(base.members)))
    )
    template = base.runs[0]
    extra_runs = tuple(replace(template, run_id=50_001 + i) for i in range(max(0, runs - len(base.runs))))
    return replace(base, members=base.members + extra_members, runs=base.runs + extra_runs)


def workload(seed: OrgSeed, use_case: UseCase, deliveries: int) -> list[Delivery]:
    """``deliveries`` deliveries of one use case, none a repeat (each member and run once)."""
    if use_case == "member_added":
        people = [p for p in seed.members if p.employee_id is not None]
        return [member_added(seed, person) for person in people[:deliveries]]
    if use_case == "workflow_run":
        runs: list[RunSpec] = list(seed.runs)
        return [workflow_run_completed(seed, run) for run in runs[:deliveries]]
    return [installation_created(seed) for _ in range(deliveries)]


# --- running it ----------------------------------------------------------------------------------------


class _Lines:
    """The functions' output lines, timestamped (the sandbox's output sink)."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str, str]] = []

    def __call__(self, function: str, line: str) -> None:
        self.lines.append((time.time(), function, line))

    def between(self, start: float, stop: float, functions: Iterable[str]) -> list[tuple[float, str, str]]:
        wanted = set(functions)
        return [entry for entry in list(self.lines) if start <= entry[0] <= stop and entry[1] in wanted]


def _executions(sandbox: Sandbox, since: float, until: float) -> list[Any]:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    assert sandbox.aws is not None
    backend = stepfunctions_parser_backends[ACCOUNT_ID][REGION]
    seen: dict[str, Any] = {}
    for machine in backend.state_machines:
        for execution in machine.executions:
            seen.setdefault(str(execution.execution_arn), execution)
    for execution in sandbox.aws.express_executions:
        seen.setdefault(str(execution.execution_arn), execution)
    # a Distributed Map's STANDARD children: executions of their own, billed like any other
    for record in moto_fixes.map_run_records(backend):
        for child in list(getattr(record, "children", ())):
            seen.setdefault(child.execution_arn, child)
    return [e for e in seen.values() if since <= e.start_date.timestamp() <= until]


def _poller_batches(deployment: Deployment) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for mapping in deployment.event_source_mappings:
        stats = deployment.poller.stats.get(mapping.uuid)
        if stats is None:
            continue
        function = mapping.function_arn.rsplit(":", 1)[-1]
        batches, records = out.get(function, (0, 0))
        out[function] = (batches + stats.batches, records + stats.records)
    return out


def _minus(after: Mapping[str, tuple[int, int]], before: Mapping[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    return {k: (v[0] - before.get(k, (0, 0))[0], v[1] - before.get(k, (0, 0))[1]) for k, v in after.items()}


def idle_receive_rates(calls: Iterable[ApiCall], stack: StackInfo, seconds: float) -> dict[str, float]:
    """Empty receives per second per queue the stack's pollers made in an idle window."""
    counts: dict[str, int] = defaultdict(int)
    for call in calls:
        if call.operation != "ReceiveMessage" or call_usage.caller_kind(call.caller) != "poller":
            continue
        if call_usage.owner(call, [stack.names]) is None:
            continue
        _, empty = call_usage.sqs_payload_bytes(call)
        if empty:
            counts[stack.names.short(call_usage.resource_name(call)) or call_usage.resource_name(call)] += 1
    return {queue: count / seconds for queue, count in counts.items()}


def run_phase(
    sandbox: Sandbox,
    design: str,
    stack: StackInfo,
    deliveries: Sequence[Delivery],
    lines: _Lines,
    idle_rates: Mapping[str, float],
    one_at_a_time: bool = False,
) -> tuple[PhaseRecord, list[float]]:
    """Send one use case's deliveries to one stack and collect what it did until it is idle again.

    ``one_at_a_time``: each delivery onto empty tables, once the one before is done (backfills: each
    onboards the whole org, and a second onto the first's members would meter the already-stored path)."""
    assert sandbox.aws is not None
    deployment = sandbox.stacks[design].deployment
    sandbox.clear_tables()
    sandbox.wait_until_idle([design])
    batches_before = _poller_batches(deployment)
    started = time.time()
    published: dict[str, float] = {}

    def collect_notifications() -> None:
        for notification in sandbox.notifications(design):
            if notification.correlation_id:
                known = published.get(notification.correlation_id, 0.0)
                published[notification.correlation_id] = max(known, notification.published_at)

    if one_at_a_time:
        responses = []
        for index, delivery in enumerate(deliveries):
            if index:
                sandbox.clear_tables()  # (the harness's calls: not metered; it drops the notifications read)
            responses.append(sandbox.send(design, delivery))
            sandbox.wait_until_idle([design], timeout=600)
            collect_notifications()
    else:
        responses = [sandbox.send(design, delivery) for delivery in deliveries]
        sandbox.wait_until_idle([design], timeout=600)
        collect_notifications()
    stopped = time.time()
    refused = [(d.label, r.status) for d, r in zip(deliveries, responses, strict=True) if r.status >= 300]
    if refused:
        raise RuntimeError(f"{design}: the webhook refused deliveries: {refused}")
    latencies = [
        published[d.delivery_id] - r.sent_at
        for d, r in zip(deliveries, responses, strict=True)
        if d.delivery_id in published
    ]
    record = PhaseRecord(
        deliveries=deliveries,
        started=started,
        stopped=stopped,
        calls=[c for c in sandbox.aws.api_calls.calls(started) if c.finished <= stopped],
        invokes=[r for r in sandbox.aws.runtime.records() if started <= r.started_at <= stopped],
        lines=lines.between(started, stopped, stack.functions),
        executions=_executions(sandbox, started, stopped),
        batches=_minus(_poller_batches(deployment), batches_before),
        responses=responses,
        idle_empty_receives_per_second=dict(idle_rates),
    )
    return record, latencies


def secret_reads_line(readers: int, seconds_per_month: float) -> UsageLine:
    """The GetSecretValue requests of a month of traffic: each (function, secret) pair's warm environment
    reads the secret once per ``SECRET_CACHE_SECONDS`` (functions/common/secrets.py), whatever the volume.

    The sandbox's own reads are not used: its processes live for a few deliveries, so a read per cold
    start divided by a handful of deliveries would price a secret read into every delivery. One warm
    environment per function is assumed (more at high concurrency add reads; none with no traffic at all).
    """
    return UsageLine(
        service="secretsmanager",
        unit="api_requests",
        quantity=readers * seconds_per_month / SECRET_CACHE_SECONDS,
        attributes={"operation": "GetSecretValue", "readers": float(readers), "cacheSeconds": SECRET_CACHE_SECONDS},
    )


def _without_secret_reads(lines: list[UsageLine]) -> list[UsageLine]:
    """The phase's lines without the functions' secret reads (priced per month: :func:`secret_reads_line`)."""
    return [line for line in lines if (line.service, line.unit) != ("secretsmanager", "api_requests")]


def idle_lines(stack: StackInfo, metrics: int) -> list[UsageLine]:
    """What the stack costs per month with no traffic at all."""
    prices = load_prices()
    lines = [
        UsageLine(service="cloudwatch", unit="alarms", quantity=stack.idle_counts["alarms"]),
        UsageLine(service="cloudwatch", unit="custom_metrics", quantity=metrics),
        UsageLine(service="cloudwatch", unit="dashboards", quantity=stack.idle_counts["dashboards"]),
        UsageLine(service="secretsmanager", unit="secrets", quantity=stack.idle_counts["secrets"]),
        UsageLine(service="kms", unit="keys", quantity=stack.idle_counts["keys"]),
        secret_reads_line(stack.idle_counts.get("secret_readers", 0), prices.seconds_per_month),
    ]
    if stack.mappings:
        lines.append(
            UsageLine(
                service="sqs",
                unit="requests",
                quantity=prices.sqs_idle_receives_per_month(stack.mappings),
                attributes={
                    "operation": "ReceiveMessage",
                    "empty": "true",
                    "caller": "poller",
                    "mappings": float(stack.mappings),
                },
            )
        )
    return lines


class SandboxMeter:
    """Meters the stacks of a running sandbox, phase by phase.

    ``with SandboxMeter.started(designs) as meter:`` deploys them; :meth:`measure_idle` gives a stack's
    pollers' idle rate; :meth:`phase` sends one use case's deliveries to one stack and meters them;
    :meth:`stack_usage` gathers a stack's phases and its idle lines.
    """

    def __init__(self, sandbox: Sandbox, lines: _Lines) -> None:
        assert sandbox.aws is not None, "the sandbox is not running"
        self.sandbox = sandbox
        self._lines = lines
        sandbox.aws.api_calls.observers.append(observe_item_sizes(MotoTables(ACCOUNT_ID, REGION)))
        self.stacks = {
            design: stack_info(design, sandbox.stacks[design].deployment, sandbox.stack_config(design))
            for design in sandbox.stacks
        }
        for design in sandbox.stacks:
            self.warm_up(design)
        self._idle_rates: dict[str, dict[str, float]] = {}
        self._metrics: dict[str, set[tuple[str, str, tuple[tuple[str, str], ...]]]] = defaultdict(set)
        self.unknown_calls: dict[str, set[str]] = defaultdict(set)

    @classmethod
    def start(
        cls, designs: Sequence[str] = DESIGN_ORDER, *, seed: OrgSeed | None = None, time_scale: float = 0.01
    ) -> SandboxMeter:
        unknown = [d for d in designs if d not in DESIGNS]
        if unknown:
            raise ValueError(f"designs: unknown {unknown}; allowed: {', '.join(DESIGNS)}")
        lines = _Lines()
        sandbox = Sandbox(designs, time_scale=time_scale, seed=seed or SANDBOX_ORG, designs=DESIGNS, output=lines)
        sandbox.start()
        try:
            return cls(sandbox, lines)
        except BaseException:
            sandbox.stop()
            raise

    def stop(self) -> None:
        self.sandbox.stop()

    def __enter__(self) -> SandboxMeter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def warm_up(self, design: str, tries: int = WARM_UP_TRIES) -> None:
        """Start the stack's receiver with an ignored delivery (a ping), outside any phase.

        A receiver starting cold on a busy 2-core machine can outlast the HTTP API's integration timeout;
        GitHub never retries, so a phase must not start with a cold receiver. Only the receiver runs."""
        ping = ignored(self.sandbox.seed, "ping", "with-organization")
        for _ in range(tries):
            if self.sandbox.send(design, ping).status < 300:
                return
        raise RuntimeError(f"{design}: the webhook did not answer a ping in {tries} tries")

    def measure_idle(self, design: str, seconds: float = IDLE_WINDOW_SECONDS) -> dict[str, float]:
        """Watch a stack with no traffic for ``seconds``: its pollers' empty receives per second per queue."""
        assert self.sandbox.aws is not None
        self.sandbox.wait_until_idle([design])
        started = time.time()
        time.sleep(seconds)
        rates = idle_receive_rates(
            self.sandbox.aws.api_calls.calls(started), self.stacks[design], time.time() - started
        )
        self._idle_rates[design] = rates
        return rates

    def phase(self, design: str, use_case: UseCase, deliveries: Sequence[Delivery]) -> UseCaseUsage:
        """Send ``deliveries`` to one stack (tables emptied first), wait until it is idle, meter what it did."""
        stack = self.stacks[design]
        record, latencies = run_phase(
            self.sandbox,
            design,
            stack,
            deliveries,
            self._lines,
            self._idle_rates.get(design, {}),
            one_at_a_time=use_case == "installation",
        )
        lines, missing = meter_phase(stack, record)
        self._metrics[design] |= lambda_usage.custom_metrics(line for _, _, line in record.lines)
        # the state machines put DeliveryLatency with PutMetricData, not as an EMF log line
        own_calls = [call for call in record.calls if call_usage.owner(call, [stack.names]) is not None]
        self._metrics[design] |= call_usage.custom_metrics(own_calls)
        self.unknown_calls[design].update(missing)
        return UseCaseUsage(useCase=use_case, deliveries=len(deliveries), lines=lines, latencySeconds=latencies)

    def stack_usage(self, design: str, use_cases: Sequence[UseCaseUsage]) -> StackUsage:
        stack = self.stacks[design]
        return StackUsage(
            stack=stack.names.stack,
            architecture="sqs" if stack.architecture == "sqs" else "stepfunctions",
            workflowType=None
            if stack.workflow_type is None
            else ("EXPRESS" if stack.workflow_type == "EXPRESS" else "STANDARD"),
            lambdaArchitecture="x86_64" if stack.lambda_architecture == "x86_64" else "arm64",
            useCases=list(use_cases),
            idle=IdleUsage(lines=idle_lines(stack, len(self._metrics[design]))),
        )


NOTES = (
    "Lambda durations were measured on this machine (the sandbox's local runtime; a cold start's init left out: "
    "AWS bills it once per execution environment, which steady traffic keeps for hours), "
    "not on AWS: price a configurable AWS duration for figures that transfer.",
    "X-Ray (xrayTracing Active only): one trace per receiver request and per SQS consumer invoke, every one "
    "recorded (Lambda's 1-a-second reservoir covers 2.6 million a month per function).",
    "KMS requests AWS makes on the stack's behalf (SNS and SQS encryption with a customer key) are not seen "
    "by the sandbox and not metered.",
    "Secrets Manager reads are priced per month, not per delivery: each function's warm environment reads its "
    f"secret once per {SECRET_CACHE_SECONDS:.0f} s (the sandbox's processes live for a few deliveries, so its "
    "own reads would put a cold start's read into every delivery).",
    "Lambda log bytes include the platform.start and platform.report records Lambda writes per invoke.",
    "The SQS pollers' empty receives at the sandbox's idle rate are left out of each phase; the idle lines "
    "give what AWS's pollers make per month.",
)


def meter_sandbox(
    *,
    deliveries: int = DEFAULT_DELIVERIES,
    progress: Progress | None = None,
    command: str = "make compare",
    designs: Sequence[str] = DESIGN_ORDER,
    installations: int = INSTALLATION_DELIVERIES,
    time_scale: float = 0.01,
) -> UsageReport:
    """Deploy the designs into one sandbox, replay every use case through each, and meter them.

    ``deliveries`` per use case (member_added, workflow_run); ``installations`` backfills (each onboards the
    whole org). ``progress(stage, done, total)`` is called as each deployment and phase finishes.
    """
    if deliveries < 1:
        raise ValueError(f"deliveries must be at least 1, got {deliveries}")
    if installations < 1:
        raise ValueError(f"installations must be at least 1, got {installations}")
    report = progress or (lambda stage, done, total: None)
    seed = metering_seed(members=deliveries, runs=deliveries)
    counts = {"member_added": deliveries, "workflow_run": deliveries, "installation": installations}
    total = 1 + len(designs) * len(USE_CASES)
    report("deploying " + ", ".join(designs), 0, total)
    stacks: list[StackUsage] = []
    notes = list(NOTES)
    with SandboxMeter.start(designs, seed=seed, time_scale=time_scale) as meter:
        done = 1
        report("deployed", done, total)
        for design in designs:
            meter.measure_idle(design)
            use_cases = []
            for use_case in USE_CASES:
                use_cases.append(meter.phase(design, use_case, workload(seed, use_case, counts[use_case])))
                done += 1
                report(f"{design}: {use_case} x{use_cases[-1].deliveries}", done, total)
            stacks.append(meter.stack_usage(design, use_cases))
            notes.extend(f"{design}: no unit for {call}" for call in sorted(meter.unknown_calls[design]))
    return UsageReport(
        source="sandbox",
        command=command,
        generatedAt=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        notes=notes,
        stacks=stacks,
    )
