"""Both architectures end to end: the `make run` workload through the real program deployed in the sandbox.

One replay of the whole workload (members added, runs of several runner kinds, an installation that
backfills the org, two redeliveries, one delivery that fails every time, ignored events) to both stacks;
each test then checks one thing the issue asks for against what the stacks did.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from sandbox.environment import Sandbox
from sandbox.replay import StackReport, replay
from sandbox.workload import Delivery, sandbox_workload

ARCHITECTURES = ("sqs", "stepfunctions")


@pytest.fixture(scope="module")
def workload(sandbox: Sandbox) -> list[Delivery]:
    return sandbox_workload(sandbox.seed)


@pytest.fixture(scope="module")
def reports(sandbox: Sandbox, workload: list[Delivery]) -> dict[str, StackReport]:
    return replay(sandbox, workload)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_delivery_is_answered_as_github_expects(reports: dict[str, StackReport], architecture: str) -> None:
    for outcome in reports[architecture].outcomes:
        expected = "ignored" if outcome.delivery.expected == "ignored" else "accepted"
        assert outcome.response.status == 202, outcome
        assert outcome.response.body["status"] == expected, outcome.delivery.label


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_tables_hold_exactly_what_the_oracle_says(reports: dict[str, StackReport], architecture: str) -> None:
    assert reports[architecture].oracle_differences == []


def test_both_architectures_store_the_same_runs_and_totals(reports: dict[str, StackReport]) -> None:
    sqs, sfn = (sorted(reports[name].workflow_runs, key=lambda i: (i["pk"], i["sk"])) for name in ARCHITECTURES)
    assert sqs == sfn
    assert {k: {i["login"] for i in reports[k].members} for k in ARCHITECTURES}["sqs"] == {
        i["login"] for i in reports["stepfunctions"].members
    }


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_repository_totals_are_right_to_the_cent(reports: dict[str, StackReport], architecture: str) -> None:
    """The figures are hand-checked in tests/sandbox/test_workload.py (per job, rate period and month)."""
    rows = {(i["pk"], i["sk"]): i for i in reports[architecture].workflow_runs}
    payments, website = "REPO#octo-org/payments", "REPO#octo-org/website"
    assert rows[(payments, "TOTAL")]["costUsd"] == Decimal("1.143")
    assert rows[(payments, "TOTAL")]["billableMinutes"] == 156
    assert rows[(payments, "MONTH#2026-03")]["costUsd"] == Decimal("0.377")
    assert rows[(payments, "MONTH#2026-01")]["costUsd"] == Decimal("0.160")
    assert rows[(payments, "MONTH#2026-04")]["costUsd"] == Decimal("0.606")
    assert rows[(website, "TOTAL")]["costUsd"] == Decimal("0.006")
    runs = [key for key in rows if key[1].startswith("RUN#")]
    assert len(runs) == 5, "the redelivered run is stored once"
    assert rows[(payments, "TOTAL")]["runs"] == 4


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_member_added_is_in_the_team_with_their_directory_record_and_notified(
    sandbox: Sandbox, reports: dict[str, StackReport], architecture: str
) -> None:
    alice = next(i for i in reports[architecture].members if i["login"] == "alice")
    person = sandbox.seed.member("alice")
    assert alice["employeeId"] == person.employee_id and alice["directoryStatus"] == "found"
    assert alice["team"] == sandbox.seed.team
    assert sandbox.github is not None
    puts = sandbox.github.github.calls(
        rf"^/orgs/{sandbox.seed.org}/teams/{sandbox.seed.team}/memberships/alice$", "PUT"
    )
    assert len(puts) >= 2 and all(p.status == 200 for p in puts), "each stack added alice to the team"
    subjects = [n.subject for n in sandbox.notifications(architecture)]
    # alice arrives three times at once here: her member_added, its redelivery and the backfill, all in
    # flight together. Notifications are at least once (docs/architecture.md, "Stored and notified"):
    # duplicates in concurrent invocations may each publish; a later redelivery never does
    # (tests/e2e/test_redelivery.py::test_every_redelivered_use_case_is_notified_once).
    assert 1 <= sum(s.startswith("Onboarded alice ") for s in subjects) <= 3, subjects


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_installation_onboards_every_seeded_member(
    sandbox: Sandbox, reports: dict[str, StackReport], architecture: str
) -> None:
    logins = {i["login"] for i in reports[architecture].members}
    assert logins == {person.login for person in sandbox.seed.members}
    assert sandbox.seed.unreachable.login not in logins


def test_stepfunctions_runs_a_child_execution_per_member(sandbox: Sandbox, workload: list[Delivery]) -> None:
    """The sandbox's stepfunctions stack runs EXPRESS onboarding (Pulumi.dev-sfn.yaml): each member's is a
    synchronous Express execution, which ListExecutions does not show; the history of the page's child
    execution (the Distributed Map's, listed by its map run) does."""
    installation = next(d for d in workload if d.event == "installation")
    (parent,) = [e for e in sandbox.executions("stepfunctions", "BACKFILL") if e["name"] == installation.delivery_id]
    assert parent["status"] == "SUCCEEDED"
    sfn = sandbox.aws.client("stepfunctions")  # type: ignore[union-attr]
    (map_run,) = sfn.list_map_runs(executionArn=parent["executionArn"])["mapRuns"]
    (page,) = sfn.list_executions(mapRunArn=map_run["mapRunArn"])["executions"]  # 12 members: one page
    history = sfn.get_execution_history(executionArn=page["executionArn"], maxResults=1000)["events"]
    children = [
        e["taskSucceededEventDetails"]
        for e in history
        if e["type"] == "TaskSucceeded"
        and e["taskSucceededEventDetails"]["resource"] in ("startSyncExecution", "startExecution.sync:2")
    ]
    assert len(children) == len(sandbox.seed.members)
    statuses = {json.loads(child["output"])["Status"] for child in children}
    assert statuses == {"SUCCEEDED"}
    summary = next(n for n in sandbox.notifications("stepfunctions") if n.subject.startswith("Backfill of"))
    assert summary.subject == f"Backfill of {sandbox.seed.org}: {len(sandbox.seed.members)} members, 0 failed"


def test_sqs_fans_the_backfill_out_in_batches_of_ten(sandbox: Sandbox) -> None:
    stack = sandbox.stacks["sqs"].deployment
    mapping = next(m for m in stack.event_source_mappings if m.queue_url.endswith("-add-team-member"))
    stats = stack.poller.stats[mapping.uuid]
    # 12 backfilled members plus the member_added deliveries (and the failing one's retries)
    assert stats.records >= len(sandbox.seed.members)
    assert stats.largest_batch <= mapping.batch_size


def test_the_failing_delivery_is_parked_with_a_notification_and_nothing_else_suffers(
    sandbox: Sandbox, reports: dict[str, StackReport], workload: list[Delivery]
) -> None:
    failing = next(d for d in workload if d.expected == "failed")
    for architecture in ARCHITECTURES:
        report = reports[architecture]
        assert report.failed == 1
        (outcome,) = [o for o in report.outcomes if o.delivery == failing]
        assert outcome.failed
        assert report.processed == report.accepted - 1
    assert reports["sqs"].parked == {"DLQ github-automation-sandbox-sqs-add-team-member-dlq": 1}
    assert reports["stepfunctions"].parked == {"failed github-automation-sandbox-sfn-onboarding executions": 1}
    failure = next(n for n in sandbox.notifications("stepfunctions") if n.failure)
    assert json.loads(failure.message)["errorType"] == "GitHubUnavailable"
    failure = next(n for n in sandbox.notifications("sqs") if n.failure)
    assert json.loads(failure.message)["errorType"] == "GitHubUnavailable"


def test_an_express_redelivery_runs_a_second_execution_that_changes_nothing(
    sandbox: Sandbox, reports: dict[str, StackReport], workload: list[Delivery]
) -> None:
    """Express names are not unique on AWS: the redelivered member runs again under the same name, and
    only the conditional write keeps it from being stored or notified twice (checked above)."""
    redelivered = next(d for d in workload if d.redelivery and d.event == "organization")
    runs = [e for e in sandbox.executions("stepfunctions", "ONBOARDING") if e["name"] == redelivered.delivery_id]
    assert [e["status"] for e in runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert len({e["executionArn"] for e in runs}) == 2
