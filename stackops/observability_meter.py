"""Measure the observability comparison on the sandbox: the same deliveries through each design, traced.

The deliveries (:func:`run_scenarios`, which tests/e2e/test_trace.py runs too): a member onboarded at once;
one whose team call GitHub refuses twice (502), so it is retried; one GitHub refuses for good (403); and a
backfill of the organization, in which that last member fails again. Then `trace` answers for each, and what
that took is recorded (:class:`stackops.observability.TraceMeasure`).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from rich.console import Console

from sandbox.environment import Sandbox, StackDesign
from sandbox.workload import Delivery, installation_created, member_added
from stackops.observability import SCENARIOS, ObservabilityReport, Scenario, TraceMeasure
from stackops.observability_code import count
from stackops.stack_outputs import StackOutputs
from stackops.trace import Tracer
from stackops.trace_model import Trace
from stackops.trace_view import render

STANDARD_DESIGN = "stepfunctions-standard"
DESIGNS: Mapping[str, StackDesign] = {
    STANDARD_DESIGN: StackDesign("stepfunctions", "Pulumi.dev-sfn.yaml", "sandbox-std", {"workflowType": "STANDARD"})
}
STACKS = ("sqs", "stepfunctions", STANDARD_DESIGN)
#: The logs reach CloudWatch Logs a moment after the invocation (the runtime's shipper flushes in the background).
LOGS_SETTLE_SECONDS = 2.5
TIME_SCALE = 0.002
RENDER_WIDTH = 150
Progress = Callable[[str, int, int], None]


def run_scenarios(sandbox: Sandbox, stacks: Iterable[str]) -> tuple[dict[Scenario, Delivery], str]:
    """Send the scenarios' deliveries to every stack and wait until all is done; the deliveries, and the
    login of the member GitHub refuses (its fault stays until the caller clears it)."""
    assert sandbox.github is not None
    seed, github, stacks = sandbox.seed, sandbox.github.github, tuple(stacks)
    ok, retried, broken = seed.members[0], seed.members[1], seed.members[2]

    def team_call(login: str) -> str:
        return rf"^/orgs/{seed.org}/teams/{seed.team}/memberships/{login}$"

    github.fail("forbidden", times=None, path=team_call(broken.login))
    deliveries: dict[Scenario, Delivery] = {
        "success": member_added(seed, ok),
        "permanent failure": member_added(seed, broken),
    }
    for delivery in deliveries.values():
        for stack in stacks:
            _send(sandbox, stack, delivery)
    deliveries["retried"] = member_added(seed, retried)
    for stack in stacks:  # one stack at a time: each meets GitHub failing twice
        github.fail("server_error", times=2, path=team_call(retried.login))
        _send(sandbox, stack, deliveries["retried"])
        sandbox.wait_until_idle()
    deliveries["backfill with a failing member"] = installation_created(seed)
    for stack in stacks:
        _send(sandbox, stack, deliveries["backfill with a failing member"])
    sandbox.wait_until_idle()
    time.sleep(LOGS_SETTLE_SECONDS)
    return deliveries, broken.login


def stack_outputs(sandbox: Sandbox, stack: str) -> StackOutputs:
    assert sandbox.aws is not None
    deployed = sandbox.stacks[stack]
    return StackOutputs.from_exports(deployed.deployment.stack, deployed.exports, sandbox.aws.endpoint_url, "us-east-1")


def measure_observability(command: str, progress: Progress | None = None) -> ObservabilityReport:
    """Deploy the three designs in a fresh sandbox, run the scenarios, trace each delivery in each stack."""
    report = ObservabilityReport(command=command, made_at=datetime.now(UTC).isoformat(timespec="seconds"))
    with Sandbox(STACKS, designs=DESIGNS, time_scale=TIME_SCALE) as sandbox:
        if progress:
            progress("Observability: sending the scenarios' deliveries", 0, 1)
        deliveries, _ = run_scenarios(sandbox, STACKS)
        assert sandbox.aws is not None
        total, done = len(STACKS) * len(SCENARIOS), 0
        for stack in STACKS:
            for scenario in SCENARIOS:
                tracer = Tracer(stack_outputs(sandbox, stack), clients=sandbox.aws.client)
                trace = tracer.trace(deliveries[scenario].delivery_id)
                report.measures.append(measure(stack, scenario, trace))
                done += 1
                if progress:
                    progress("Observability: tracing each delivery", done, total)
    report.code = count()
    return report


def measure(design: str, scenario: Scenario, trace: Trace) -> TraceMeasure:
    work = [step for step in trace.steps if step.name != "receiver"]
    tasks = [step for step in work if step.kind in ("Lambda", "Task")]
    retried = [step for step in tasks if step.retries > 0 and step.error]
    succeeded = [step for step in tasks if step.status == "succeeded"]
    failing = [step for step in trace.steps if step.status in ("failed", "caught") and step.error]
    console = Console(record=True, width=RENDER_WIDTH, file=io.StringIO(), color_system=None)
    render(trace, console)
    return TraceMeasure(
        design=design,
        stack=trace.stack,
        scenario=scenario,
        delivery_id=trace.delivery_id,
        outcome=trace.outcome,
        stopped_at=trace.stopped_at,
        steps=len(trace.steps),
        api_calls=trace.cost.total_calls,
        api_calls_by_operation=trace.cost.api_calls,
        seconds=trace.cost.seconds,
        places_looked_in=len(trace.places),
        places_with_data=sum(place.found for place in trace.places),
        shows_inputs=bool(tasks) and all(step.input is not None for step in tasks),
        # None: no work step succeeded, so there is no output to show
        shows_outputs=any(step.output is not None for step in succeeded) if succeeded else None,
        shows_retries=bool(retried) if scenario == "retried" else None,
        shows_failing_step=bool(failing)
        if scenario in ("permanent failure", "backfill with a failing member")
        else None,
        rendered=console.export_text(),
    )


def _send(sandbox: Sandbox, stack: str, delivery: Delivery) -> None:
    answer = sandbox.send(stack, delivery)
    if answer.status != 202:
        raise RuntimeError(f"{stack}: the webhook answered {answer.status} to {delivery.delivery_id}: {answer.body}")
