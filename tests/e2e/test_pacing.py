"""A burst of ``member_added`` (an org migration) against an installation quota too small for it (issue 10):
each architecture paces itself, so GitHub refuses nothing, and every member is stored and announced once.

Each stack meets the burst alone, with a fresh quota: the fake GitHub enforces the primary limit
(``sandbox/fake_rate_limits.py``) at 30 requests per resource and window, a window being an hour of
GitHub's time (18 s here), and 24 team-membership PUTs (REST) and as many SAML lookups (GraphQL) do not fit
in one window less the reserve. With ``githubRateLimitReserve`` 15 (more than the requests the sandbox's
processes and record threads can have in flight at once), every function stops calling GitHub once it has
seen 15 or fewer requests left, waits until the reset as GitHub's own 403 would have it wait, and goes on in
the next window. The stepfunctions stack runs STANDARD per-event machines, which may wait up to
``rateLimitMaxWaitSeconds`` (an EXPRESS execution waits at most half its 5 minutes), and the budget is two
windows, as a burst larger than a window's quota needs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from sandbox.environment import ARCHITECTURES, Sandbox
from sandbox.fake_rate_limits import RateLimitPolicy, RateLimits
from sandbox.workload import member_added
from tests.e2e.test_large_backfill import large_org
from tests.e2e.waits import rate_limit_waits

MEMBERS = 24
QUOTA = 30
RESERVE = 15
TIME_SCALE = 0.005
TIMEOUT_SECONDS = 240
#: Two windows: a member paced at the start of a window waits the hour, and its SAML lookup then meets the
#: GraphQL window, which began a little later (docs/architecture.md, "Pacing").
MAX_WAIT_SECONDS = 7200


@pytest.fixture(scope="module")
def burst() -> Iterator[tuple[Sandbox, dict[str, RateLimits]]]:
    """The sandbox after each stack's burst, and the fake's rate limits that each burst met."""
    seed = large_org(MEMBERS)
    policy = RateLimitPolicy(primary_per_hour=QUOTA, time_scale=TIME_SCALE)
    met: dict[str, RateLimits] = {}
    with Sandbox(
        time_scale=TIME_SCALE,
        seed=seed,
        github_rate_limits=policy,
        overrides={
            "githubRateLimitReserve": str(RESERVE),
            "workflowType": "STANDARD",
            "rateLimitMaxWaitSeconds": str(MAX_WAIT_SECONDS),
        },
    ) as sandbox:
        assert sandbox.github is not None
        for architecture in ARCHITECTURES:
            met[architecture] = sandbox.fresh_github_rate_limits()
            for person in seed.members:
                assert sandbox.send(architecture, member_added(seed, person)).status == 202
            sandbox.wait_until_idle(timeout=TIMEOUT_SECONDS)
        yield sandbox, met


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_github_refused_no_request(burst: tuple[Sandbox, dict[str, RateLimits]], architecture: str) -> None:
    sandbox, met = burst
    assert met[architecture].refused == [], "a request was sent after the quota was spent"
    assert sandbox.github is not None
    puts = sandbox.github.github.calls(r"/teams/[^/]+/memberships/", "PUT")
    assert len(puts) == 2 * MEMBERS and all(r.status == 200 for r in puts), "one PUT a member and stack"


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_member_is_stored_once_and_notified_once(
    burst: tuple[Sandbox, dict[str, RateLimits]], architecture: str
) -> None:
    sandbox, _ = burst
    stored = Counter(item["login"] for item in sandbox.table_items(architecture, "membersTable"))
    assert stored == Counter(person.login for person in sandbox.seed.members)
    onboarded = Counter(
        n.subject.split()[1] for n in sandbox.notifications(architecture) if n.subject.startswith("Onboarded ")
    )
    assert set(onboarded) == set(stored) and set(onboarded.values()) == {1}
    assert not [n.subject for n in sandbox.notifications(architecture) if n.failure]


def test_sqs_records_waited_for_the_reset_without_calling_github(burst: tuple[Sandbox, dict[str, RateLimits]]) -> None:
    sandbox, _ = burst
    waits = rate_limit_waits(sandbox, "add-team-member", "lookup-directory")
    paced = [entry for entry in waits if str(entry.get("error", "")).startswith("paced:")]
    assert paced, "no sqs record was paced"
    assert all(int(entry["waitSeconds"]) > 0 for entry in paced)


def test_stepfunctions_executions_waited_in_wait_states(burst: tuple[Sandbox, dict[str, RateLimits]]) -> None:
    sandbox, _ = burst
    assert sandbox.aws is not None
    sfn = sandbox.aws.client("stepfunctions")
    paced = 0
    for execution in sandbox.executions("stepfunctions", "ONBOARDING", "SUCCEEDED"):
        history = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
        entered = [e["stateEnteredEventDetails"] for e in history if "stateEnteredEventDetails" in e]
        paced += any(d["name"] == "RateLimitWait" and "paced:" in d.get("input", "") for d in entered)
    assert paced >= 1, "no stepfunctions execution was paced"
