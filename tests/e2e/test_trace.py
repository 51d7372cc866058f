"""`trace` and `redrive` against the sandbox, in each architecture (issue 8, section 3).

One set of deliveries per stack: a member onboarded at once, one whose team call GitHub refuses twice
(502: retried, then fine), one GitHub refuses for good (403: parked in sqs, a failed execution in
stepfunctions), and a backfill in which that last member fails again. `trace` must report each one's steps,
retries and where it stopped; `redrive` of the parked member, once GitHub accepts, must end with them
stored and notified exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sandbox.environment import Sandbox
from sandbox.workload import Delivery
from stackops import observability_meter
from stackops.redrive import Redriver
from stackops.stack_outputs import StackOutputs
from stackops.trace import Tracer
from stackops.trace_model import Trace

STACKS = observability_meter.STACKS
#: The stacks whose per-event machines are EXPRESS logging errors only (the default stateMachineLogLevel)
ERRORS_ONLY = {"stepfunctions"}
#: Past every per-event machine's timeout: an execution that logged no failure by then has succeeded.
PAST_THE_TIMEOUT = 301.0
NAMES = {
    "ok": "success",
    "retried": "retried",
    "broken": "permanent failure",
    "backfill": "backfill with a failing member",
}


@dataclass(frozen=True)
class Scenario:
    sandbox: Sandbox
    deliveries: dict[str, Delivery]
    broken_login: str

    def outputs(self, stack: str) -> StackOutputs:
        return observability_meter.stack_outputs(self.sandbox, stack)

    def trace(self, stack: str, name: str, *, later: float = 0.0) -> Trace:
        """``later``: trace as if that many seconds had passed (an ERROR-level log settles with the clock)."""
        assert self.sandbox.aws is not None
        tracer = Tracer(self.outputs(stack), clients=self.sandbox.aws.client, clock=lambda: time.time() + later)
        return tracer.trace(self.deliveries[name].delivery_id)


@pytest.fixture(scope="module")
def scenario() -> Iterator[Scenario]:
    """The deliveries of the observability comparison (stackops/observability_meter.py), in every design."""
    with Sandbox(STACKS, designs=observability_meter.DESIGNS, time_scale=observability_meter.TIME_SCALE) as sandbox:
        sent, broken_login = observability_meter.run_scenarios(sandbox, STACKS)
        yield Scenario(sandbox, {short: sent[long] for short, long in NAMES.items()}, broken_login)  # type: ignore[index]


def first_step(trace: Trace, *names: str) -> str:
    """The first step of ``names`` (state or sqs step names) that the trace has."""
    for step in trace.steps:
        if step.name in names:
            return step.name
    raise AssertionError(f"none of {names} in {[s.name for s in trace.steps]}")


@pytest.mark.parametrize("stack", [stack for stack in STACKS if stack not in ERRORS_ONLY])
def test_a_delivery_that_succeeded_shows_every_step_with_its_input_and_output(scenario: Scenario, stack: str) -> None:
    trace = scenario.trace(stack, "ok")

    assert trace.outcome == "succeeded", trace.stopped_at
    names = [step.name for step in trace.steps]
    assert names[0] == "receiver"
    if stack == "sqs":
        assert names[1:] == ["add_team_member", "lookup_directory", "store_records"]
    else:
        assert names[1:] == [
            "AddTeamMember",
            "LookupDirectory",
            "Store",
            "NotifySuccess",
            "MarkNotified",
            "RecordLatency",
        ]
    work = trace.steps[1:]
    assert all(step.status == "succeeded" and step.retries == 0 for step in work)
    assert all(step.input["correlationId"] == trace.delivery_id for step in work)
    assert work[0].output["login"] == work[0].input["login"]
    assert [s.started_at for s in trace.steps] == sorted(s.started_at for s in trace.steps)  # type: ignore[type-var]
    assert trace.cost.total_calls > 0 and trace.places


@pytest.mark.parametrize("stack", sorted(ERRORS_ONLY))
def test_a_delivery_that_succeeded_in_an_error_level_log_is_running_until_its_timeout_then_succeeded(
    scenario: Scenario, stack: str
) -> None:
    now = scenario.trace(stack, "ok")
    settled = scenario.trace(stack, "ok", later=PAST_THE_TIMEOUT)

    assert now.outcome == "running"
    assert now.stopped_at.startswith("no error logged so far: it has succeeded unless one is logged by ")
    assert settled.outcome == "succeeded", settled.stopped_at
    assert [step.name for step in settled.steps] == ["receiver"]
    assert settled.steps[0].output == "webhook accepted"
    assert any("logs errors only" in note for note in settled.notes)


@pytest.mark.parametrize("stack", STACKS)
def test_a_retried_transient_failure_shows_its_retries_and_the_error(scenario: Scenario, stack: str) -> None:
    trace = scenario.trace(stack, "retried", later=PAST_THE_TIMEOUT)

    assert trace.outcome == "succeeded", trace.stopped_at
    team = next(step for step in trace.steps if step.name in ("add_team_member", "AddTeamMember"))
    assert team.status == "succeeded"
    assert team.retries == 2
    assert team.error == "GitHubUnavailable"


@pytest.mark.parametrize("stack", STACKS)
def test_a_permanent_failure_shows_the_failing_step_and_where_it_stopped(scenario: Scenario, stack: str) -> None:
    trace = scenario.trace(stack, "broken")

    failing = [step for step in trace.steps if step.error == "GitHubRequestRejected"]
    assert [step.name for step in failing][:1] == ["add_team_member" if stack == "sqs" else "AddTeamMember"]
    assert scenario.broken_login in str(failing[0].cause)
    if stack == "sqs":
        assert trace.outcome == "parked"
        assert trace.stopped_at.startswith("add-team-member: ") and trace.stopped_at.endswith("-add-team-member-dlq")
        assert {p.name for p in trace.places if p.kind == "dead-letter queue" and p.found}
    else:
        assert trace.outcome == "failed"
        assert trace.stopped_at.endswith("AddTeamMember (GitHubRequestRejected)")
        assert trace.steps[-1].kind == "Fail"


@pytest.mark.parametrize("stack", STACKS)
def test_a_backfill_shows_each_member_and_the_one_that_failed(scenario: Scenario, stack: str) -> None:
    trace = scenario.trace(stack, "backfill")
    members = len(scenario.sandbox.seed.members)

    team_steps = [step for step in trace.steps if step.name in ("add_team_member", "AddTeamMember")]
    failed = [step for step in team_steps if step.error == "GitHubRequestRejected" and step.status != "succeeded"]
    if stack in ERRORS_ONLY:  # the children's logs hold their failures only; the parent's history every member
        onboarded = [step for step in trace.steps if step.name == "OnboardMember"]
        assert len({step.input["member"]["login"] for step in onboarded}) == members
        assert len(failed) == 1 and scenario.broken_login in str(failed[0].cause)
    else:
        assert len({step.input["login"] for step in team_steps}) == members
        assert [step.input["login"] for step in failed] == [scenario.broken_login]
    assert trace.outcome == ("parked" if stack == "sqs" else "failed")
    listed = first_step(trace, "list_org_members", "ListOrgMembers")
    assert listed in {s.name for s in trace.steps if s.status == "succeeded"}


@pytest.mark.parametrize("stack", STACKS)
def test_redriving_a_parked_delivery_after_the_fault_is_gone_stores_it_once(scenario: Scenario, stack: str) -> None:
    sandbox, delivery = scenario.sandbox, scenario.deliveries["broken"]
    assert sandbox.aws is not None and sandbox.github is not None
    sandbox.github.github.clear_faults()

    done = Redriver(scenario.outputs(stack), clients=sandbox.aws.client).redrive(delivery_id=delivery.delivery_id)
    sandbox.wait_until_idle()

    assert [item.delivery_id for item in done] == [delivery.delivery_id]
    assert done[0].method == ("moved" if stack == "sqs" else "restarted")
    members = {item["login"]: item for item in sandbox.table_items(stack, "membersTable")}
    assert members[scenario.broken_login]["correlationId"] == delivery.delivery_id
    onboarded = [n for n in sandbox.notifications(stack) if not n.failure and n.correlation_id == delivery.delivery_id]
    assert len(onboarded) == 1, [n.subject for n in onboarded]
    time.sleep(observability_meter.LOGS_SETTLE_SECONDS)
    assert scenario.trace(stack, "broken", later=PAST_THE_TIMEOUT).outcome == "succeeded"
