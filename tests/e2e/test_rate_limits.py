"""GitHub's primary rate limit exhausted for 40 minutes (time-scaled) while the whole `make run` workload
arrives: both architectures wait until the reset, as GitHub says, and then store everything exactly once.

The stepfunctions stack runs STANDARD per-event machines here: an EXPRESS execution lasts 5 minutes at
most and waits for rate limits only within half its timeout (tests/unit/test_asl.py shows it failing
with its notification past its budget), whereas a STANDARD one waits up to rateLimitMaxWaitSeconds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import pytest

from sandbox.environment import Sandbox
from sandbox.replay import StackReport, replay
from sandbox.workload import Delivery, sandbox_workload
from tests.e2e.waits import rate_limit_waits

ARCHITECTURES = ("sqs", "stepfunctions")
#: 40 minutes of GitHub's time last 48 s here: longer than the whole workload takes to arrive, so every
#: delivery meets the exhausted quota.
TIME_SCALE = 0.02
EXHAUSTED_SECONDS = 40 * 60  # a primary limit resets up to an hour after the quota is spent


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(time_scale=TIME_SCALE, overrides={"workflowType": "STANDARD"}) as running:
        yield running


@pytest.fixture(scope="module")
def workload(sandbox: Sandbox) -> list[Delivery]:
    return sandbox_workload(sandbox.seed)


@pytest.fixture(scope="module")
def reports(sandbox: Sandbox, workload: list[Delivery]) -> dict[str, StackReport]:
    assert sandbox.github is not None
    sandbox.github.github.exhaust_rate_limit(EXHAUSTED_SECONDS, time_scale=TIME_SCALE)
    return replay(sandbox, workload)


def test_github_rate_limited_the_stacks(sandbox: Sandbox, reports: dict[str, StackReport]) -> None:
    """GitHub refused the first calls; the rest were paced (functions/common/github_pacing.py): not sent
    while the quota is known to be spent, and waited out as the refusals were."""
    assert sandbox.github is not None
    team = rf"^/orgs/{sandbox.seed.org}/teams/{sandbox.seed.team}/memberships/([^/]+)$"
    assert any(r.status == 403 for r in sandbox.github.github.calls(team, "PUT")), "GitHub refused a PUT"
    waiting = rate_limit_waits(sandbox, "add-team-member")
    waited = {entry["input"]["login"] for entry in waiting}
    alice, bob, carol, *_ = sandbox.seed.members  # added by member_added deliveries (sandbox_workload)
    assert {alice.login, bob.login, carol.login} <= waited, ("each member_added waited in sqs", waited)
    assert any(str(entry["error"]).startswith("paced:") for entry in waiting), "later calls were not sent"
    # a backfill lists the org's SAML identities (GraphQL), then its members: its first call met the limit
    listed = [
        *sandbox.github.github.calls(r"^/graphql$", "POST"),
        *sandbox.github.github.calls(rf"^/orgs/{sandbox.seed.org}/members$", "GET"),
    ]
    assert sum(r.status == 403 for r in listed) >= 2, "each stack's backfill waited before listing the org"


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_after_the_reset_the_tables_hold_exactly_what_the_oracle_says(
    reports: dict[str, StackReport], architecture: str
) -> None:
    assert reports[architecture].oracle_differences == []


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_only_the_always_failing_delivery_failed(reports: dict[str, StackReport], architecture: str) -> None:
    """Waiting spent no maxReceiveCount (sqs) and no execution timed out or failed (stepfunctions)."""
    report = reports[architecture]
    assert report.failed == 1 and report.processed == report.accepted - 1
    expected = {
        "sqs": {"DLQ github-automation-sandbox-sqs-add-team-member-dlq": 1},
        "stepfunctions": {"failed github-automation-sandbox-sfn-onboarding executions": 1},
    }
    assert report.parked == expected[architecture]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_member_is_stored_exactly_once_and_notified(
    sandbox: Sandbox, reports: dict[str, StackReport], architecture: str
) -> None:
    """Stored exactly once and announced once (docs/architecture.md, "Stored and notified"): a member
    onboarded twice at the same moment, as member_added and backfill released together by the reset, is
    announced by the delivery that stored it."""
    logins = Counter(item["login"] for item in reports[architecture].members)
    assert logins == Counter(person.login for person in sandbox.seed.members)
    onboarded = Counter(
        match.group(1)
        for n in sandbox.notifications(architecture)
        if (match := re.match(r"Onboarded (\S+) ", n.subject))
    )
    assert set(onboarded) == set(logins) and set(onboarded.values()) == {1}, onboarded


def test_stepfunctions_waited_in_wait_states(sandbox: Sandbox, reports: dict[str, StackReport]) -> None:
    sfn = sandbox.aws.client("stepfunctions")  # type: ignore[union-attr]
    waits = 0
    for execution in sandbox.executions("stepfunctions", "ONBOARDING", "SUCCEEDED"):
        history = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
        waits += sum(1 for e in history if e.get("stateEnteredEventDetails", {}).get("name") == "RateLimitWait")
    assert waits >= 3, "alice, bob and carol's member_added executions waited (the backfill waited before listing)"
