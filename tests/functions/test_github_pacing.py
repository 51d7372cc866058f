"""Pacing against GitHub's rate limits: what a process knows of the quota, and no request it cannot afford."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.add_team_member import add_team_member
from functions.common import github_pacing, rate_limits
from functions.common.errors import GitHubRateLimited
from functions.common.github_pacing import Pacer, Window
from functions.lookup_directory import lookup_directory
from tests.functions.fake_github import FakeGitHub
from tests.functions.fake_github import github_app as github_app  # noqa: F401  (fixture of github)
from tests.functions.test_adapter import count_record
from tests.functions.test_onboarding import github as github  # noqa: F401  (fixture)
from tests.functions.test_onboarding import membership, new_member
from tests.functions.test_rate_limits import _with_wait, handler
from tests.functions.test_rate_limits import toy_queue as toy_queue  # noqa: F401  (fixture)
from tests.functions.webhooks import FakeLambdaContext

NOW = 1_800_000_000.0
RESERVE = 10


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def quota(remaining: int | str, reset: float | str, resource: str | None = "core") -> dict[str, str]:
    headers = {"x-ratelimit-remaining": str(remaining), "x-ratelimit-reset": str(reset)}
    return headers | ({"x-ratelimit-resource": resource} if resource else {})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pacer(clock: Clock) -> Pacer:
    return Pacer(clock)


def test_a_request_waits_until_the_reset_once_the_remaining_is_down_to_the_reserve(pacer: Pacer, clock: Clock) -> None:
    pacer.observe("core", quota(RESERVE + 1, NOW + 600))
    assert pacer.wait_seconds("core", RESERVE) is None
    pacer.observe("core", quota(RESERVE, NOW + 600))
    assert pacer.wait_seconds("core", RESERVE) == 600
    assert pacer.wait_seconds("graphql", RESERVE) is None, "each resource has a quota of its own"
    clock.now += 599.5
    assert pacer.wait_seconds("core", RESERVE) == pytest.approx(0.5)
    clock.now += 0.5
    assert pacer.wait_seconds("core", RESERVE) is None, "at the reset the quota is full again"
    assert pacer.known("core") is None


def test_a_later_reset_is_a_new_window_and_an_earlier_one_a_late_answer(pacer: Pacer) -> None:
    pacer.observe("core", quota(3, NOW + 60))
    pacer.observe("core", quota(4999, NOW + 3660))
    assert pacer.known("core") == Window(4999, NOW + 3660)
    pacer.observe("core", quota(2, NOW + 60))
    pacer.observe("core", quota(4998, NOW + 3660))
    pacer.observe("core", quota(4999, NOW + 3660))
    assert pacer.known("core") == Window(4998, NOW + 3660)


def test_the_resource_is_the_responses_else_the_requests(pacer: Pacer) -> None:
    pacer.observe("core", quota(1, NOW + 60, resource="graphql"))
    pacer.observe("graphql", quota(2, NOW + 60, resource=None))
    assert pacer.known("graphql") == Window(1, NOW + 60) and pacer.known("core") is None


def test_retry_after_holds_every_resource_until_then(pacer: Pacer, clock: Clock) -> None:
    pacer.observe("core", {"retry-after": "37"})
    assert pacer.wait_seconds("core", RESERVE) == 37 and pacer.wait_seconds("graphql", RESERVE) == 37
    pacer.observe("core", {"retry-after": "5"})
    assert pacer.wait_seconds("core", RESERVE) == 37, "a shorter Retry-After does not cut a longer one short"
    clock.now += 37
    assert pacer.wait_seconds("core", RESERVE) is None


def test_the_longer_of_two_waits_applies(pacer: Pacer) -> None:
    pacer.observe("core", quota(0, NOW + 900) | {"retry-after": "60"})
    assert pacer.wait_seconds("core", RESERVE) == 900


@pytest.mark.parametrize(
    "headers",
    [
        {},
        quota("lots", NOW + 60),
        quota(0, "soon"),
        quota(-1, NOW + 60),
        quota(0, "nan"),
        quota(0, "inf"),
        {"retry-after": "inf"},
        {"retry-after": "-3"},
        {"x-ratelimit-remaining": "0"},
    ],
)
def test_headers_that_say_nothing_usable_teach_nothing(pacer: Pacer, headers: dict[str, str]) -> None:
    pacer.observe("core", headers)
    assert pacer.wait_seconds("core", 0) is None


def test_resume_forgets_what_the_clock_has_not_expired(pacer: Pacer) -> None:
    pacer.observe("core", quota(0, NOW + 3600) | {"retry-after": "60"})
    pacer.resume()
    assert pacer.wait_seconds("core", RESERVE) is None


def test_a_caller_back_from_its_wait_moves_the_processs_idea_of_githubs_clock_on(pacer: Pacer) -> None:
    """The sandbox scales waits, not clocks: a caller that began waiting 3590 s before the reset and waited
    3590 s vouches that GitHub's clock has reached the reset, though this process's clock has barely moved.
    A later window stays paced: its wait counts from the vouched time."""
    pacer.observe("graphql", quota(0, NOW + 3600, "graphql") | {"retry-after": "60"})
    pacer.observe("core", quota(RESERVE, NOW + 7200))
    pacer.resume(NOW + 3600)
    assert pacer.known("graphql") is not None and pacer.wait_seconds("graphql", RESERVE) is None
    assert pacer.known("graphql") is None, "the ended window is forgotten, the Retry-After is over"
    assert pacer.wait_seconds("core", RESERVE) == 3600, "the next window: until its reset, from the vouched time"
    pacer.resume(NOW + 60)
    assert pacer.wait_seconds("core", RESERVE) == 3600, "an earlier vouch moves nothing back"


observations = st.lists(
    st.tuples(st.integers(0, 5000), st.integers(0, 5).map(lambda window: NOW + 60 + 3600 * window)), min_size=1
)


@given(seen=observations, order=st.randoms(use_true_random=False))
def test_whatever_order_responses_arrive_in_the_least_remaining_of_the_latest_window_is_known(
    seen: list[tuple[int, float]], order: Any
) -> None:
    shuffled = list(seen)
    order.shuffle(shuffled)
    pacer = Pacer(Clock())
    for remaining, reset in shuffled:
        pacer.observe("core", quota(remaining, reset))
    latest = max(reset for _, reset in seen)
    assert pacer.known("core") == Window(min(r for r, reset in seen if reset == latest), latest)


# --- through the GitHub client ----------------------------------------------------------------------


def test_a_request_the_reserve_cannot_afford_is_not_sent(github: FakeGitHub, function_env: Any) -> None:  # noqa: F811
    """The fake counts down from 5,000: with a reserve of 4,999 the first REST call spends the budget."""
    function_env.setenv("GITHUB_RATE_LIMIT_RESERVE", "4999")
    add_team_member(new_member())
    with pytest.raises(GitHubRateLimited, match=r"paced: PUT .* 4999 left of the core quota") as paced:
        add_team_member(new_member())
    assert 3000 < paced.value.wait_seconds <= 3601, "until the window's reset (a whole second, rounded up)"
    assert len(github.calls("/memberships/")) == 1, "the paced request never reached GitHub"
    github_pacing.resume()
    add_team_member(new_member())
    assert len(github.calls("/memberships/")) == 2


def test_the_token_exchange_is_never_paced() -> None:
    github_pacing.pacer.observe("core", quota(0, NOW * 2))
    check = github_pacing.pace(lambda: 0)
    check(httpx.Request("POST", "https://api.github.test/app/installations/7/access_tokens"))
    with pytest.raises(GitHubRateLimited):
        check(httpx.Request("GET", "https://api.github.test/orgs/o/members"))
    github_pacing.resume()


# --- the architectures' waits let the process call again ----------------------------------------------


def test_an_sqs_record_back_from_its_wait_vouches_for_its_end(toy_queue: str) -> None:  # noqa: F811
    github_pacing.pacer.observe("core", quota(0, NOW * 2))
    record = _with_wait(count_record(3, "d-1"), waited=600, left=0)
    until = {"stringValue": f"{NOW * 2:.3f}", "dataType": "Number"}
    record["messageAttributes"][rate_limits.WAIT_UNTIL] = until
    handler({"Records": [record]}, FakeLambdaContext(function_name="toy-step"))
    assert github_pacing.pacer.wait_seconds("core", 0) is None


def test_an_sqs_copy_without_its_end_vouches_for_when_it_was_sent(toy_queue: str) -> None:  # noqa: F811
    github_pacing.pacer.observe("core", quota(0, NOW * 2))
    record = _with_wait(count_record(3, "d-1"), waited=600, left=0)
    record["attributes"]["SentTimestamp"] = str(int(NOW * 2 * 1000))
    handler({"Records": [record]}, FakeLambdaContext(function_name="toy-step"))
    assert github_pacing.pacer.wait_seconds("core", 0) is None


def test_an_sqs_record_still_waiting_or_never_limited_forgets_nothing(toy_queue: str) -> None:  # noqa: F811
    github_pacing.pacer.observe("core", quota(0, NOW * 2))
    for record in (_with_wait(count_record(3, "d-2"), waited=1800, left=900), count_record(3, "d-3")):
        handler({"Records": [record]}, FakeLambdaContext(function_name="toy-step"))
        assert github_pacing.pacer.wait_seconds("core", 0) is not None
    github_pacing.resume()


@pytest.mark.parametrize(
    ("rate_limit", "vouched"),
    [
        ({"waitedSeconds": 60, "waits": 1, "waitSeconds": 60, "waitUntil": NOW * 2}, True),
        ({"waitedSeconds": 60, "waits": 1, "waitSeconds": 60, "waitUntil": NOW}, False),
        ({"waitedSeconds": 0, "waits": 0}, False),
        ({"waitUntil": "tomorrow"}, False),
        ({"waitUntil": True}, False),
        (None, False),
    ],
)
def test_a_state_after_a_wait_vouches_for_the_reset_it_waited_for(
    function_env: Any, rate_limit: dict[str, Any] | None, vouched: bool
) -> None:
    """$.rateLimit.waitUntil: the error's ``until``, carried by the RateLimitBudget state."""
    github_pacing.pacer.observe("core", quota(0, NOW * 2))
    state = {"correlationId": "d-4", "upTo": 2} | ({"rateLimit": rate_limit} if rate_limit else {})
    handler(state, FakeLambdaContext(function_name="toy-step"))
    assert (github_pacing.pacer.wait_seconds("core", 0) is None) is vouched
    github_pacing.resume()


def test_a_paced_request_says_until_when_and_waits_at_most_a_window(pacer: Pacer, clock: Clock) -> None:
    """A reset more than an hour away is the clocks' disagreement (the sandbox's GitHub runs faster)."""
    pacer.observe("core", quota(0, NOW + 5000))
    assert pacer.hold("core", RESERVE) == (3600, NOW + 5000)
    pacer.observe("core", {"retry-after": "6000"})
    assert pacer.hold("core", RESERVE) == (3600, NOW + 6000)


def test_graphql_keeps_its_own_budget(github: FakeGitHub) -> None:  # noqa: F811
    """A spent REST budget does not stop the SAML lookup (GraphQL has a quota of its own)."""
    github_pacing.pacer.observe("core", quota(0, NOW * 2))
    assert lookup_directory(membership()).record["employeeId"] == "E1001"
    assert github.calls("/graphql")
    with pytest.raises(GitHubRateLimited, match="paced"):
        add_team_member(new_member())
