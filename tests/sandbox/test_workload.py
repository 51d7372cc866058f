"""The sandbox workload and the oracle: deliveries the receiver takes as intended, signed as GitHub signs,
and an oracle that agrees with hand-checked totals and with the product's own functions run in-process."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
import respx
from githubkit.webhooks import verify
from hypothesis import HealthCheck, given, settings
from moto import mock_aws

from functions.add_team_member import add_team_member
from functions.common.errors import GitHubUnavailable
from functions.common.models import BackfillRequest, MemberRef, TeamMembership, WorkflowRunRef
from functions.list_org_members import list_org_members
from functions.lookup_directory import lookup_directory
from functions.price_workflow_run import price_workflow_run
from functions.store_records import store_records
from functions.webhook_events import to_message
from sandbox.fake_github import API_URL, SANDBOX_ORG, FakeGitHub, httpx_handler
from sandbox.workload import (
    TRANSIENT_FAULTS,
    Delivery,
    FaultSpec,
    StackSettings,
    Workload,
    expected_tables,
    installation_created,
    member_added,
    sandbox_workload,
    signed_request,
    workflow_run_completed,
    workloads,
)
from tests.functions.fake_github import app_key
from tests.functions.test_store import MEMBERS_TABLE, RUNS_TABLE, StoreEnv, store_env  # noqa: F401  (fixture)

SEED = SANDBOX_ORG
PAYMENTS, WEBSITE = f"REPO#{SEED.org}/payments", f"REPO#{SEED.org}/website"
HTTP_DIRECTORY = f"{API_URL}/directory"

assert (MEMBERS_TABLE, RUNS_TABLE) == ("members", "workflow-runs")  # the names the oracle's plans use


def message_of(delivery: Delivery) -> object:
    return to_message(delivery.event, delivery.payload(), delivery.delivery_id, SEED.org)


# --- the deliveries --------------------------------------------------------------------------------


def test_the_make_run_workload_has_what_the_issue_asks_for() -> None:
    deliveries = sandbox_workload()
    messages = [message_of(delivery) for delivery in deliveries]
    members = [m for m in messages if isinstance(m, MemberRef)]
    runs = [m for m in messages if isinstance(m, WorkflowRunRef)]
    assert len({m.login for m in members}) >= 3
    assert {(r.repo, r.run_id, r.run_attempt) for r in runs} == {(r.repo, r.run_id, r.attempt) for r in SEED.runs}
    assert {r.repository_private for r in runs} == {True, False}
    assert sum(isinstance(m, BackfillRequest) for m in messages) == 1
    labels = {label for run in SEED.runs for job in run.jobs for label in job.labels}
    kinds = {"ubuntu-latest", "windows-latest", "macos-latest", "ubuntu-24.04-arm", "self-hosted", "org-gpu-large"}
    assert kinds <= labels
    redeliveries = [d for d in deliveries if d.redelivery]
    assert {d.event for d in redeliveries} == {"organization", "workflow_run"}
    for again in redeliveries:
        original = next(d for d in deliveries if d.delivery_id == again.delivery_id and not d.redelivery)
        assert again.body == original.body and deliveries.index(original) < deliveries.index(again)
    assert [d.label for d in deliveries if d.expected == "failed"] == [f"member_added {SEED.unreachable.login}"]
    assert {d.event for d in deliveries if d.expected == "ignored"} >= {"ping", "push", "issues"}
    assert len({d.delivery_id for d in deliveries}) == len(deliveries) - len(redeliveries)


def test_each_delivery_means_to_the_receiver_what_it_is_labelled() -> None:
    for delivery in sandbox_workload():
        message = message_of(delivery)
        assert (message is None) == (delivery.expected == "ignored"), delivery.label
        if isinstance(message, MemberRef):
            assert delivery.label == f"member_added {message.login}"
            assert message.user_id == SEED.member(message.login).user_id
        if isinstance(message, BackfillRequest):
            assert (message.org, message.installation_id) == (SEED.org, SEED.installation_id)


def test_a_run_delivery_carries_the_seeded_run() -> None:
    run = SEED.runs[2]  # started in 2025, completed in January 2026
    message = message_of(workflow_run_completed(SEED, run))
    assert isinstance(message, WorkflowRunRef)
    assert (message.owner, message.repo, message.run_id, message.run_attempt) == (SEED.org, "payments", 8001, 1)
    assert (message.completed_at, message.workflow_name) == ("2026-01-01T00:11:00Z", "Nightly")
    assert message.repository_private
    assert message.html_url == f"https://github.com/{SEED.org}/payments/actions/runs/8001"


def test_deliveries_are_signed_as_github_signs_them() -> None:
    delivery = member_added(SEED, SEED.members[0])
    headers, body = signed_request(delivery, "s3cret")
    assert body == delivery.body
    assert verify("s3cret", body, headers["X-Hub-Signature-256"])
    assert not verify("other", body, headers["X-Hub-Signature-256"])
    assert headers["X-GitHub-Event"] == "organization" and headers["X-GitHub-Delivery"] == delivery.delivery_id
    assert headers["User-Agent"].startswith("GitHub-Hookshot/") and headers["Content-Type"] == "application/json"
    assert signed_request(delivery.redeliver(), "s3cret") == (headers, body)


# --- the oracle, by hand ---------------------------------------------------------------------------


def totals(tables: Any, pk: str, sk: str) -> tuple[Any, ...]:
    row = tables.workflow_runs[(pk, sk)]
    assert len(row) == 1
    return tuple(row[0][name] for name in ("runs", "minutes", "billableMinutes", "costUsd", "estimatedJobs"))


def test_the_oracle_totals_are_right_to_the_cent() -> None:
    tables = expected_tables(SEED, sandbox_workload())
    # CI #9001: ubuntu 10m30s -> 11 x 0.006 = 0.066; windows 4m -> 0.040; macos 61s -> 2 x 0.062 = 0.124;
    # self-hosted 30m free; arm 59s -> 0.005; unknown label 5m -> 0.030 (estimated); skipped 0
    # = 0.265, 23 billable of 53 minutes.
    # CI #9002 (attempt 2): 2m -> 0.012, windows 9m30s -> 10 x 0.010 = 0.100 = 0.112, 12 minutes.
    assert totals(tables, PAYMENTS, "MONTH#2026-03") == (2, 65, 35, Decimal("0.377"), 1)
    # Nightly: started 2025-12-31 23:50 (old rate 0.008), 20 min, completed 2026-01-01: 0.160 booked in January.
    assert totals(tables, PAYMENTS, "MONTH#2026-01") == (1, 20, 20, Decimal("0.160"), 0)
    # Matrix: 101 jobs of 45 s, 1 minute each x 0.006 = 0.606.
    assert totals(tables, PAYMENTS, "MONTH#2026-04") == (1, 101, 101, Decimal("0.606"), 0)
    assert totals(tables, PAYMENTS, "TOTAL") == (4, 186, 156, Decimal("1.143"), 1)
    # Public repository: ubuntu 3m and macos 2m free; the unknown (larger) runner 1m x 0.006 is charged.
    assert totals(tables, WEBSITE, "TOTAL") == (1, 6, 1, Decimal("0.006"), 1)
    assert tables.workflow_runs[(PAYMENTS, "TOTAL")][0]["period"] == "ALL"

    ci = tables.run_row(SEED.org, "payments", "RUN#00000000000000009001#0001")
    assert (ci["costUsd"], ci["billableMinutes"], ci["jobCount"], ci["month"]) == (Decimal("0.265"), 23, 7, "2026-03")
    jobs = json.loads(ci["jobs"])
    assert [(job["sku"], Decimal(job["costUsd"]), job["estimated"]) for job in jobs] == [
        ("linux", Decimal("0.066"), False),
        ("windows", Decimal("0.040"), False),
        ("macos", Decimal("0.124"), False),
        ("self_hosted", 0, False),
        ("linux_2_core_arm", Decimal("0.005"), False),
        ("linux", Decimal("0.030"), True),
        ("linux", 0, False),
    ]


def test_the_oracle_onboards_every_member_once_and_not_the_unreachable_one() -> None:
    tables = expected_tables(SEED, sandbox_workload())
    assert set(tables.members) == {(person.login,) for person in SEED.members}
    alice = tables.member("alice")
    assert (alice["source"], alice["teamState"], alice["employeeId"], alice["name"]) == (
        "member_added",
        "active",
        "E1001",
        "Alice Liddell",
    )
    # added, then backfilled: either onboarding may have written first
    assert {item["source"] for item in tables.members[("alice",)]} == {"member_added", "backfill"}
    assert [item["source"] for item in tables.members[("grace",)]] == ["backfill"]
    assert tables.member("contractor-kim")["directoryStatus"] == "not_found"
    assert "onboardedAt" not in alice
    assert all(item["notified"] is True for items in tables.members.values() for item in items), (
        "whichever onboarding stored a member, its notification is marked"
    )
    runs = [item for items in tables.workflow_runs.values() for item in items]
    assert {item["sk"].split("#")[0]: item.get("notified") for item in runs} == {
        "RUN": True,
        "TOTAL": None,
        "MONTH": None,
    }, "the run item is marked, its repository's totals are not"


def test_redeliveries_and_order_change_nothing() -> None:
    deliveries = sandbox_workload()
    once = [d for d in deliveries if not d.redelivery]
    assert expected_tables(SEED, deliveries) == expected_tables(SEED, once)
    backwards = expected_tables(SEED, list(reversed(once)))
    forwards = expected_tables(SEED, once)
    assert backwards.workflow_runs.keys() == forwards.workflow_runs.keys()
    for key, items in forwards.workflow_runs.items():
        assert set(map(repr, items)) == set(map(repr, backwards.workflow_runs[key]))
    assert backwards.member("alice")["source"] == "backfill"
    assert backwards.member("alice") in forwards.members[("alice",)]


def test_the_http_directory_and_the_stack_settings_shape_the_member_rows() -> None:
    stack = StackSettings(team_role="maintainer", directory=HTTP_DIRECTORY + "/", self_hosted_usd_per_minute="0.002")
    deliveries = [member_added(SEED, SEED.members[6]), workflow_run_completed(SEED, SEED.runs[0])]
    tables = expected_tables(SEED, deliveries, stack)
    grace = tables.member("grace")
    assert (grace["department"], grace["directorySource"]) == ("Compilers", HTTP_DIRECTORY)
    assert grace["teamRole"] == "maintainer"
    # the self-hosted 30 minutes now cost 30 x 0.002 = 0.060
    assert totals(tables, PAYMENTS, "TOTAL") == (1, 53, 53, Decimal("0.325"), 1)


def test_differences_name_what_is_wrong() -> None:
    tables = expected_tables(SEED, [workflow_run_completed(SEED, SEED.runs[4]), member_added(SEED, SEED.members[1])])
    runs = [dict(items[0]) for items in tables.workflow_runs.values()]
    members = [dict(items[0], onboardedAt="2026-11-01T10:00:00+00:00") for items in tables.members.values()]
    assert tables.differences(members, runs) == []
    runs[1]["costUsd"] += Decimal("0.001")
    assert [re.sub(r":.*", "", problem) for problem in tables.differences(members, runs)] == ["workflow-runs"]
    assert "costUsd" in tables.differences(members, runs)[0]
    problems = tables.differences([], runs + [{"pk": WEBSITE, "sk": "MONTH#1999-01"}])
    assert any("members: missing ('bob',)" in problem for problem in problems)
    assert any("unexpected" in problem and "MONTH#1999-01" in problem for problem in problems)


# --- the oracle against the product, in-process ----------------------------------------------------


@pytest.fixture
def seeded_github(function_env: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """The seeded fake GitHub in-process (respx) and the App secret in moto, for the product's functions."""
    from functions.common.github import _client_for

    fake = FakeGitHub.seeded(SEED, app_key().public_key)
    with mock_aws():
        secret = boto3.client("secretsmanager").create_secret(
            Name="sandbox-github-app",
            SecretString=json.dumps(
                {"appId": SEED.app_id, "installationId": SEED.installation_id, "privateKey": app_key().private_key_pem}
            ),
        )
        function_env.setenv("GITHUB_APP_SECRET_ARN", secret["ARN"])
        function_env.setenv("GITHUB_API_URL", API_URL)
        function_env.setenv("GITHUB_ORG", SEED.org)
        function_env.setenv("ONBOARDING_TEAM", SEED.team)
        _client_for.cache_clear()
        with respx.mock(assert_all_called=False) as router:
            router.route(url__startswith=API_URL).mock(side_effect=httpx_handler(fake))
            yield fake
        _client_for.cache_clear()


def run_in_process(deliveries: list[Delivery]) -> list[str]:
    """Each delivery through the product's steps, one after another, redeliveries included (as the sqs
    architecture processes them); the outcome of each."""

    def onboard(member: MemberRef) -> None:
        joined = TeamMembership.model_validate(add_team_member(member).to_wire())
        store_records(lookup_directory(joined))

    outcomes = []
    for delivery in deliveries:
        message = message_of(delivery)
        try:
            if isinstance(message, MemberRef):
                onboard(message)
            elif isinstance(message, WorkflowRunRef):
                store_records(price_workflow_run(message))
            elif isinstance(message, BackfillRequest):
                page: BackfillRequest | None = message
                while page is not None:
                    listed = list_org_members(page)
                    for member in listed.items:
                        onboard(member)
                    page = listed.next
        except GitHubUnavailable:
            outcomes.append("failed")
            continue
        outcomes.append("ignored" if message is None else "processed")
    return outcomes


@pytest.mark.parametrize("directory", ["github-saml", HTTP_DIRECTORY])
@pytest.mark.parametrize("order", ["as sent", "reversed"])
def test_the_oracle_states_what_the_product_stores(
    seeded_github: FakeGitHub,
    store_env: StoreEnv,  # noqa: F811
    function_env: pytest.MonkeyPatch,
    directory: str,
    order: str,
) -> None:
    function_env.setenv("DIRECTORY", directory)
    deliveries = sandbox_workload()
    if order == "reversed":
        deliveries.reverse()
    assert run_in_process(deliveries) == [delivery.expected for delivery in deliveries]
    members = store_env.dynamodb.Table(MEMBERS_TABLE).scan()["Items"]
    runs = store_env.dynamodb.Table(RUNS_TABLE).scan()["Items"]
    expected = expected_tables(SEED, deliveries, StackSettings(directory=directory))
    assert expected.differences(members, runs) == []
    assert len(runs) == len(SEED.runs) + 2 + 3 + 1  # the run rows, TOTAL x2, three payments months, one website month
    assert seeded_github.calls(rf"/memberships/{SEED.unreachable.login}$")  # the failing delivery did try


# --- random workloads ------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads())
def test_generated_workloads_are_well_formed(workload: Workload) -> None:
    deliveries = workload.deliveries
    assert deliveries
    seen: set[str] = set()
    for delivery in deliveries:
        assert delivery.redelivery == (delivery.delivery_id in seen)
        seen.add(delivery.delivery_id)
        assert (message_of(delivery) is None) == (delivery.expected == "ignored")
    assert sum(fault.times for fault in workload.faults) <= 2
    for fault in workload.faults:
        assert fault.kind in TRANSIENT_FAULTS[fault.path]
    # whatever the order, the oracle agrees with itself processed the other way round
    forwards, backwards = expected_tables(SEED, deliveries), expected_tables(SEED, list(reversed(deliveries)))
    assert forwards.members.keys() == backwards.members.keys()
    for key, items in forwards.members.items():
        assert backwards.members[key][0] in items
    assert forwards.workflow_runs.keys() == backwards.workflow_runs.keys()
    for key, items in forwards.workflow_runs.items():
        assert backwards.workflow_runs[key][0] in items


def test_faults_of_a_workload_are_injected_into_the_fake() -> None:
    fake = FakeGitHub.seeded(SEED, app_key().public_key)
    Workload((installation_created(SEED),), faults=(FaultSpec("server_error", r"^/directory/", 2),)).inject_faults(fake)
    statuses = [fake.handle("GET", f"{API_URL}/directory/alice", {}, b"").status for _ in range(3)]
    assert statuses == [502, 502, 200]
