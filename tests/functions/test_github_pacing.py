"""Pacing against GitHub's rate limits: what a process knows of the quota, and no request it cannot afford."""

from __future__ import annotations

import math
import time
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.add_team_member import add_team_member
from functions.common import github_pacing
from functions.common.errors import GitHubRateLimited
from functions.common.github_pacing import Pacer, Window
from functions.lookup_directory import lookup_directory
from tests.functions.fake_github import PRIMARY_RESET_SECONDS, FakeGitHub
from tests.functions.fake_github import github_app as github_app  # noqa: F401  (fixture of github)
from tests.functions.test_onboarding import github as github  # noqa: F401  (fixture)
from tests.functions.test_onboarding import membership, new_member

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


def test_forget_forgets_what_the_clock_has_not_expired(pacer: Pacer) -> None:
    pacer.observe("core", quota(0, NOW + 3600) | {"retry-after": "60"})
    pacer.forget()
    assert pacer.wait_seconds("core", RESERVE) is None


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
    github_pacing.forget()
    add_team_member(new_member())
    assert len(github.calls("/memberships/")) == 2


def test_the_wait_github_asks_for_is_reckoned_on_the_pacings_clock(
    github: FakeGitHub,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The wait a spent quota's 403 asks for (until ``x-ratelimit-reset``) counts from the clock the pacing
    holds requests on, so a caller that waits it out finds its request let out, not paced for the rest. On
    AWS that clock is the wall's; the sandbox gives it GitHub's (sandbox/github_clock.py). Here it lags the
    fake GitHub's by 1000 s."""
    clock = Clock()
    clock.now = time.time() - 1000
    monkeypatch.setattr(github_pacing, "pacer", Pacer(clock))
    github.fail("primary_rate_limit", path="/memberships/")
    with pytest.raises(GitHubRateLimited) as limited:
        add_team_member(new_member())
    held = github_pacing.pacer.wait_seconds("core", RESERVE)
    # the reset is a whole second, from the fake's clock read a moment after this test's
    assert held is not None and 1000 + PRIMARY_RESET_SECONDS - 5 < held < 1000 + PRIMARY_RESET_SECONDS + 1
    assert limited.value.wait_seconds == math.ceil(held)
    clock.now += limited.value.wait_seconds
    add_team_member(new_member())
    assert len(github.calls("/memberships/")) == 2, "back from its wait, the request is sent"


def test_the_token_exchange_is_never_paced() -> None:
    github_pacing.pacer.observe("core", quota(0, NOW * 2))
    check = github_pacing.pace(lambda: 0)
    check(httpx.Request("POST", "https://api.github.test/app/installations/7/access_tokens"))
    with pytest.raises(GitHubRateLimited):
        check(httpx.Request("GET", "https://api.github.test/orgs/o/members"))
    github_pacing.forget()


def test_a_paced_request_waits_at_most_a_window(pacer: Pacer) -> None:
    """GitHub never asks for more than an hour: a reset further away is a clock that disagrees."""
    pacer.observe("core", quota(0, NOW + 5000))
    assert pacer.wait_seconds("core", RESERVE) == 3600
    pacer.observe("core", {"retry-after": "6000"})
    assert pacer.wait_seconds("core", RESERVE) == 3600


def test_graphql_keeps_its_own_budget(github: FakeGitHub) -> None:  # noqa: F811
    """A spent REST budget does not stop the SAML lookup (GraphQL has a quota of its own)."""
    github_pacing.pacer.observe("core", quota(0, NOW * 2))
    assert lookup_directory(membership()).record["employeeId"] == "E1001"
    assert github.calls("/graphql")
    with pytest.raises(GitHubRateLimited, match="paced"):
        add_team_member(new_member())
