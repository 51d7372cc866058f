"""Fails permanently, cause fixed, redelivered: every use case, both architectures, end to end.

GitHub's "Redeliver" sends the same delivery (same ``X-GitHub-Delivery``) again. After the fake GitHub
has refused a delivery's calls for good and the fault is then cleared, the redelivery must be processed
in both architectures, with everything stored and notified once: in sqs every delivery is processed
anyway; in stepfunctions a Standard execution's name cannot be reused, so the receiver starts the next
attempt (``<id>-2``), and an Express execution runs again under the same name (names are not unique).
The sandbox's stepfunctions stack runs EXPRESS per-event machines (its backfill is always STANDARD);
the second module-level sandbox runs STANDARD ones, so both paths of every use case are exercised.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.environment import Sandbox
from sandbox.replay import StackReport, replay
from sandbox.workload import Delivery, installation_created, member_added, workflow_run_completed

VARIANTS = {
    "sqs+express": {"architectures": ("sqs", "stepfunctions"), "overrides": {}},
    "standard": {
        "architectures": ("stepfunctions",),
        "overrides": {"workflowType": "STANDARD", "workflowTimeoutSeconds": "900"},
    },
}


@pytest.fixture(scope="module", params=list(VARIANTS), ids=list(VARIANTS))
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    variant = VARIANTS[request.param]
    overrides = {"sqsBatchWindowSeconds": "0", **variant["overrides"]}
    with Sandbox(variant["architectures"], time_scale=0.002, overrides=overrides) as running:
        yield running


@pytest.fixture(scope="module")
def deliveries(sandbox: Sandbox) -> dict[str, Delivery]:
    seed = sandbox.seed
    return {
        "onboarding": member_added(seed, seed.members[0]),
        "chargeback": workflow_run_completed(seed, seed.runs[0]),
        "backfill": installation_created(seed),
    }


@pytest.fixture(scope="module")
def failed_then_redelivered(sandbox: Sandbox, deliveries: dict[str, Delivery]) -> dict[str, StackReport]:
    """Each delivery fails for good (403 on the call it needs), the fault is cleared, it is redelivered."""
    assert sandbox.github is not None
    github, seed = sandbox.github.github, sandbox.seed
    run, login = seed.runs[0], seed.members[0].login
    for path in (
        rf"^/orgs/{seed.org}/teams/{seed.team}/memberships/{login}$",
        rf"^/repos/{seed.org}/{run.repo}/actions/runs/{run.run_id}/attempts/{run.attempt}/jobs$",
        rf"^/orgs/{seed.org}/members$",
    ):
        github.fail("forbidden", times=None, path=path)
    for delivery in deliveries.values():
        for architecture in sandbox.stacks:
            assert sandbox.send(architecture, delivery).status == 202
    sandbox.wait_until_idle(timeout=240)
    for architecture in sandbox.stacks:
        failed = {n.correlation_id for n in sandbox.notifications(architecture) if n.failure}
        assert failed == {d.delivery_id for d in deliveries.values()}, (architecture, "each failed first")
        assert sandbox.table_items(architecture, "membersTable") == []
        assert sandbox.table_items(architecture, "workflowRunsTable") == []
    github.clear_faults()
    return replay(sandbox, [delivery.redeliver() for delivery in deliveries.values()])


def test_every_redelivered_use_case_is_stored_as_the_oracle_says(
    sandbox: Sandbox, failed_then_redelivered: dict[str, StackReport]
) -> None:
    """The oracle of the three deliveries processed once: the member, the run and its totals, every
    member of the backfill; nothing missing, nothing counted twice."""
    for architecture, report in failed_then_redelivered.items():
        assert all(outcome.accepted for outcome in report.outcomes), architecture
        assert report.oracle_differences == [], architecture
        logins = {item["login"] for item in report.members}
        assert logins == {person.login for person in sandbox.seed.members}, architecture


def test_every_redelivered_use_case_is_notified_once(
    sandbox: Sandbox, deliveries: dict[str, Delivery], failed_then_redelivered: dict[str, StackReport]
) -> None:
    login, org = sandbox.seed.members[0].login, sandbox.seed.org
    for architecture in failed_then_redelivered:
        notifications = sandbox.notifications(architecture)
        subjects = [n.subject for n in notifications if not n.failure]
        assert sum(s.startswith(f"Onboarded {login} ") for s in subjects) == 1, (architecture, subjects)
        failures = [n.correlation_id for n in notifications if n.failure]
        assert sorted(failures) == sorted(d.delivery_id for d in deliveries.values()), "no new failure"
        run_notices = [
            n for n in notifications if not n.failure and n.correlation_id == deliveries["chargeback"].delivery_id
        ]
        assert len(run_notices) == 1, (architecture, [n.subject for n in run_notices])
        if architecture == "stepfunctions":
            summaries = [s for s in subjects if s.startswith(f"Backfill of {org}")]
            assert summaries == [f"Backfill of {org}: {len(sandbox.seed.members)} members, 0 failed"]


def test_a_standard_machine_runs_the_redelivery_as_a_second_attempt(
    sandbox: Sandbox, deliveries: dict[str, Delivery], failed_then_redelivered: dict[str, StackReport]
) -> None:
    """Standard names are unique: the failed attempt keeps its name, the redelivery runs as ``<id>-2``.
    Express names are not: the redelivery runs under the delivery id again."""
    if "stepfunctions" not in failed_then_redelivered:
        pytest.skip("no stepfunctions stack")
    standard = sandbox.stack_config("stepfunctions")["workflowType"] == "STANDARD"
    for use_case, machine in (("onboarding", "ONBOARDING"), ("chargeback", "CHARGEBACK"), ("backfill", "BACKFILL")):
        delivery_id = deliveries[use_case].delivery_id
        executions = sandbox.executions("stepfunctions", machine)
        ours = sorted((e["name"], e["status"]) for e in executions if e["name"] in (delivery_id, f"{delivery_id}-2"))
        if use_case == "backfill" or standard:
            assert ours == [(delivery_id, "FAILED"), (f"{delivery_id}-2", "SUCCEEDED")], use_case
        else:
            assert sorted(status for _, status in ours) == ["FAILED", "SUCCEEDED"], use_case
            assert {name for name, _ in ours} == {delivery_id}, use_case
