"""GitHub's primary and secondary rate limits in the fake GitHub (sandbox/fake_rate_limits.py), on a fake clock."""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from functools import cache

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.environment import Sandbox
from sandbox.fake_github import API_URL, SANDBOX_ORG, AppKey, FakeGitHub
from sandbox.fake_rate_limits import (
    SECONDARY_MESSAGE,
    RateLimitPolicy,
    RateLimits,
    Refusal,
    Verdict,
    points,
)

SEED = SANDBOX_ORG
EPOCH = 1_800_000_000.0  # the fake wall clock at monotonic 0
MUTATION = json.dumps({"query": "  mutation { addStar(input: {}) { clientMutationId } }"}).encode()
QUERY = json.dumps({"query": "query { viewer { login } }"}).encode()


@dataclass
class Clock:
    """A monotonic clock the test moves (real seconds), and the wall clock that goes with it."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return EPOCH + self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def limits(clock: Clock, **policy: float) -> RateLimits:
    return RateLimits(RateLimitPolicy(**policy), clock=clock, wall=clock.wall)  # type: ignore[arg-type]


def answered(rate_limits: RateLimits, method: str, path: str, body: bytes = b"") -> Verdict:
    """admit() and, if admitted, done() at once (the request answered straight away)."""
    verdict = rate_limits.admit(method, path, body)
    if verdict.admitted:
        rate_limits.done()
    return verdict


# --- the policy --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"primary_per_hour": 0}, "primary_per_hour must be a positive int, not 0"),
        ({"concurrent_requests": -1}, "concurrent_requests must be a positive int, not -1"),
        ({"graphql_points_per_minute": 2.5}, "graphql_points_per_minute must be a positive int, not 2.5"),
        ({"primary_per_hour": True}, "primary_per_hour must be a positive int, not True"),
        ({"rest_points_per_minute": 4}, "rest_points_per_minute must be at least 5"),
        ({"time_scale": 0}, "time_scale must be a number > 0, not 0"),
        ({"time_scale": -0.5}, "time_scale must be a number > 0, not -0.5"),
    ],
)
def test_the_policy_refuses_values_that_are_not_limits(values: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RateLimitPolicy(**values)  # type: ignore[arg-type]


def test_the_policy_defaults_are_githubs() -> None:
    assert RateLimitPolicy() == RateLimitPolicy(5000, 900, 2000, 100, 1.0)


def test_points_are_githubs() -> None:
    assert [points(method, "/users/alice") for method in ("GET", "head", "OPTIONS")] == [1, 1, 1]
    assert [points(method, "/orgs/o/teams/t/memberships/u") for method in ("POST", "PATCH", "PUT", "DELETE")] == [
        5,
        5,
        5,
        5,
    ]
    assert (points("POST", "/graphql", QUERY), points("POST", "/graphql", MUTATION)) == (1, 5)
    assert points("POST", "/graphql", b"not json") == 1


# --- primary -----------------------------------------------------------------------------------------


def test_the_primary_quota_refuses_the_request_over_it_until_the_window_ends() -> None:
    clock = Clock()
    rate_limits = limits(clock, primary_per_hour=3)
    first = answered(rate_limits, "GET", "/users/alice")
    assert first.headers == {
        "x-ratelimit-limit": "3",
        "x-ratelimit-remaining": "2",
        "x-ratelimit-used": "1",
        "x-ratelimit-reset": str(math.ceil(clock.wall() + 3600)),
        "x-ratelimit-resource": "core",
    }
    clock.advance(10)
    assert [answered(rate_limits, "GET", "/users/bob").headers["x-ratelimit-remaining"] for _ in range(2)] == ["1", "0"]

    refused = answered(rate_limits, "GET", "/users/carol")
    assert refused.refused == "primary" and not refused.admitted
    assert refused.headers["x-ratelimit-remaining"] == "0" and refused.headers["x-ratelimit-used"] == "3"
    assert int(refused.headers["x-ratelimit-reset"]) == math.ceil(clock.wall() + 3590) > clock.wall()
    assert refused.headers["x-ratelimit-reset"] == first.headers["x-ratelimit-reset"], "one reset per window"
    graphql = answered(rate_limits, "POST", "/graphql", QUERY)
    assert graphql.admitted and graphql.headers["x-ratelimit-resource"] == "graphql"
    assert graphql.headers["x-ratelimit-remaining"] == "2", "graphql is a quota of its own"

    clock.advance(3589.5)
    assert answered(rate_limits, "GET", "/users/carol").refused == "primary", "half a second of the hour is left"
    clock.advance(0.5)
    again = answered(rate_limits, "GET", "/users/carol")
    assert again.admitted and again.headers["x-ratelimit-remaining"] == "2"
    assert int(again.headers["x-ratelimit-reset"]) == math.ceil(clock.wall() + 3600), "a new window, from now"
    assert rate_limits.used("core") == 1


def test_the_window_lasts_an_hour_of_github_time_and_its_reset_never_moves() -> None:
    """The reset stays the window's start plus an hour, however the time scale, so a client tells windows
    apart by it; waiting ``reset - now``, scaled, then ends after the window, never before it."""
    clock = Clock()
    rate_limits = limits(clock, primary_per_hour=2, time_scale=0.5)  # the hour lasts 1800 real seconds
    started = clock.wall()
    answered(rate_limits, "GET", "/users/alice")
    clock.advance(100)
    verdict = answered(rate_limits, "GET", "/users/alice")
    reset = int(verdict.headers["x-ratelimit-reset"])
    assert reset == math.ceil(started + 3600)
    assert clock.wall() + (reset - clock.wall()) * 0.5 >= started + 1800, "a scaled wait ends after the window"
    clock.advance(1699.9)
    assert answered(rate_limits, "GET", "/users/alice").refused == "primary"
    clock.advance(0.1)
    assert answered(rate_limits, "GET", "/users/alice").admitted


def test_before_any_request_the_headers_promise_a_full_hour() -> None:
    clock = Clock()
    rate_limits = limits(clock, time_scale=0.01)
    assert rate_limits.headers("graphql") == {
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": "5000",
        "x-ratelimit-used": "0",
        "x-ratelimit-reset": str(math.ceil(clock.wall() + 3600)),
        "x-ratelimit-resource": "graphql",
    }
    assert rate_limits.used("core") == 0


# --- secondary ---------------------------------------------------------------------------------------


def test_points_per_minute_refuse_with_retry_after_until_the_minute_window_frees() -> None:
    clock = Clock()
    rate_limits = limits(clock, rest_points_per_minute=10, time_scale=0.01)  # the minute lasts 0.6 s
    assert [answered(rate_limits, "PUT", "/orgs/o/teams/t/memberships/u").admitted for _ in range(2)] == [True, True]
    clock.advance(0.2)  # 20 GitHub seconds
    before = rate_limits.headers("core")
    refused = answered(rate_limits, "PUT", "/orgs/o/teams/t/memberships/u")
    assert refused.refused == "secondary"
    assert refused.headers == {**before, "retry-after": "40"}, "the primary headers unchanged"
    assert answered(rate_limits, "GET", "/users/alice").refused == "secondary", "a GET's 1 point is over it too"
    clock.advance(0.399)
    assert answered(rate_limits, "PUT", "/orgs/o/teams/t/memberships/u").headers["retry-after"] == "1"
    clock.advance(0.001)
    assert answered(rate_limits, "PUT", "/orgs/o/teams/t/memberships/u").admitted
    assert rate_limits.used("core") == 3


def test_a_get_costs_one_point_and_graphql_has_points_of_its_own() -> None:
    clock = Clock()
    rate_limits = limits(clock, rest_points_per_minute=10, graphql_points_per_minute=6)
    assert all(answered(rate_limits, "GET", "/users/alice").admitted for _ in range(10))
    assert answered(rate_limits, "GET", "/users/alice").refused == "secondary"
    assert answered(rate_limits, "POST", "/graphql", MUTATION).admitted
    assert answered(rate_limits, "POST", "/graphql", QUERY).admitted
    assert answered(rate_limits, "POST", "/graphql", QUERY).refused == "secondary", "5 + 1 + 1 > 6"


def test_concurrent_requests_are_limited_until_done() -> None:
    clock = Clock()
    rate_limits = limits(clock, concurrent_requests=2)
    assert rate_limits.admit("GET", "/users/alice").admitted
    assert rate_limits.admit("POST", "/graphql", QUERY).admitted, "REST and GraphQL together"
    third = rate_limits.admit("GET", "/users/bob")
    assert (third.refused, third.headers["retry-after"]) == ("secondary", "1")
    assert rate_limits.in_flight == 2
    rate_limits.done()
    assert rate_limits.admit("GET", "/users/bob").admitted
    rate_limits.done()
    rate_limits.done()
    with pytest.raises(RuntimeError, match="without an admitted request in flight"):
        rate_limits.done()


def test_refused_requests_are_recorded_and_count_nothing() -> None:
    clock = Clock()
    rate_limits = limits(clock, primary_per_hour=2, rest_points_per_minute=10, concurrent_requests=1)
    assert rate_limits.admit("PUT", "/a").admitted  # 5 points, in flight
    assert rate_limits.admit("PUT", "/b").refused == "secondary"  # concurrency: neither counted nor points
    rate_limits.done()
    assert rate_limits.used("core") == 1
    clock.advance(1)
    assert answered(rate_limits, "PUT", "/c").admitted, "the refused PUT spent no points: 5 + 5 fit 10"
    assert answered(rate_limits, "GET", "/d").refused == "primary"
    assert answered(rate_limits, "GET", "/d").refused == "primary"
    assert rate_limits.used("core") == 2
    assert rate_limits.refused == [
        Refusal("PUT", "/b", "secondary", "core", 1000.0),
        Refusal("GET", "/d", "primary", "core", 1001.0),
        Refusal("GET", "/d", "primary", "core", 1001.0),
    ]


# --- the property ------------------------------------------------------------------------------------

_requests = st.tuples(
    st.just("request"), st.sampled_from(["GET", "PUT", "POST", "DELETE"]), st.sampled_from(["/users/x", "/graphql"])
)
_ticks = st.tuples(st.just("tick"), st.floats(min_value=0, max_value=2500), st.just(""))  # GitHub seconds
_holds = st.tuples(st.just("hold"), st.sampled_from(["GET", "PUT"]), st.sampled_from(["/users/x", "/graphql"]))
_releases = st.tuples(st.just("release"), st.just(""), st.just(""))


@dataclass
class _ModelWindow:
    """The test's own model of one resource's hour: starts with its first admitted request."""

    started: float | None = None
    admitted: list[float] = field(default_factory=list)


@settings(max_examples=150, deadline=None)
@given(
    primary=st.integers(1, 6),
    rest_points=st.integers(5, 40),
    graphql_points=st.integers(5, 40),
    concurrency=st.integers(1, 3),
    time_scale=st.sampled_from([1.0, 0.5, 0.01]),
    steps=st.lists(st.one_of(_requests, _ticks, _holds, _releases), max_size=80),
)
def test_no_hour_window_admits_more_than_the_quota_and_remaining_is_limit_minus_used(
    primary: int,
    rest_points: int,
    graphql_points: int,
    concurrency: int,
    time_scale: float,
    steps: list[tuple[str, object, str]],
) -> None:
    clock = Clock()
    policy = RateLimitPolicy(primary, rest_points, graphql_points, concurrency, time_scale)
    rate_limits = RateLimits(policy, clock=clock, wall=clock.wall)
    hour = 3600 * time_scale
    windows: dict[str, list[_ModelWindow]] = {"core": [], "graphql": []}
    held = 0
    for kind, first, path in steps:
        if kind == "tick":
            clock.advance(float(first) * time_scale)  # type: ignore[arg-type]
            continue
        if kind == "release":
            for _ in range(held):
                rate_limits.done()
            held = 0
            continue
        method = str(first)
        verdict = rate_limits.admit(method, path, MUTATION if method != "GET" else QUERY)
        resource = "graphql" if path == "/graphql" else "core"
        headers = verdict.headers
        assert headers["x-ratelimit-resource"] == verdict.resource == resource
        assert int(headers["x-ratelimit-limit"]) == primary
        assert int(headers["x-ratelimit-remaining"]) == primary - int(headers["x-ratelimit-used"]) >= 0
        assert int(headers["x-ratelimit-reset"]) > clock.wall()
        if verdict.admitted:
            history = windows[resource]
            if not history or clock.now >= history[-1].started + hour:  # type: ignore[operator]
                history.append(_ModelWindow(started=clock.now))
            history[-1].admitted.append(clock.now)
            assert int(headers["x-ratelimit-used"]) == len(history[-1].admitted)
            if kind == "hold":
                held += 1
            else:
                rate_limits.done()
        else:
            assert ("retry-after" in headers) == (verdict.refused == "secondary")
    assert rate_limits.in_flight == held
    for history in windows.values():
        for window in history:
            assert window.started is not None
            assert len(window.admitted) <= primary
            assert all(window.started <= moment < window.started + hour for moment in window.admitted)


# --- through the fake GitHub -------------------------------------------------------------------------


@cache
def app_key() -> AppKey:
    return AppKey.generate()


def _token(fake: FakeGitHub) -> str:
    now = int(time.time())
    app_jwt = jwt.encode({"iat": now - 60, "exp": now + 540, "iss": str(fake.app_id)}, app_key().private_key, "RS256")
    reply = fake.handle(
        "POST",
        f"{API_URL}/app/installations/{fake.installation_id}/access_tokens",
        {"authorization": f"Bearer {app_jwt}"},
        b"",
    )
    assert reply.status == 201 and not any(name.startswith("x-ratelimit-") for name in reply.headers)
    return str(json.loads(reply.body)["token"])


def _seeded(**policy: float) -> tuple[FakeGitHub, dict[str, str]]:
    fake = FakeGitHub.seeded(SEED, app_key().public_key, rate_limits=RateLimitPolicy(**policy))  # type: ignore[arg-type]
    return fake, {"authorization": f"token {_token(fake)}"}


def _saml_lookup(login: str) -> bytes:
    from functions.directory import SAML_IDENTITY_QUERY

    return json.dumps({"query": SAML_IDENTITY_QUERY, "variables": {"org": SEED.org, "login": login}}).encode()


def test_the_fake_refuses_over_the_primary_quota_as_github_does() -> None:
    fake, auth = _seeded(primary_per_hour=2)
    replies = [fake.handle("GET", f"{API_URL}/users/alice", auth, b"") for _ in range(3)]
    assert [reply.status for reply in replies] == [200, 200, 403]
    assert (
        json.loads(replies[2].body)["message"] == f"API rate limit exceeded for installation ID {SEED.installation_id}."
    )
    assert replies[2].headers["x-ratelimit-remaining"] == "0" and replies[2].headers["x-ratelimit-used"] == "2"
    assert int(replies[2].headers["x-ratelimit-reset"]) > time.time()

    graphql = [fake.handle("POST", f"{API_URL}/graphql", auth, _saml_lookup("alice")) for _ in range(3)]
    assert [reply.status for reply in graphql] == [200, 200, 200]
    assert "data" in json.loads(graphql[1].body)
    assert json.loads(graphql[2].body) == {
        "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for installation."}]
    }
    assert (graphql[2].headers["x-ratelimit-resource"], graphql[2].headers["x-ratelimit-remaining"]) == ("graphql", "0")

    for _ in range(3):  # neither the token exchange nor the directory is the installation's quota
        _token(fake)
        directory = fake.handle("GET", f"{API_URL}/directory/alice", {}, b"")
        assert directory.status == 200 and "x-ratelimit-remaining" not in directory.headers
    assert [(r.method, r.path, r.kind) for r in fake.rate_limits.refused] == [
        ("GET", "/users/alice", "primary"),
        ("POST", "/graphql", "primary"),
    ]


def test_the_fake_refuses_over_the_points_per_minute_with_retry_after() -> None:
    fake, auth = _seeded(rest_points_per_minute=10)
    url = f"{API_URL}/orgs/{SEED.org}/teams/{SEED.team}/memberships/alice"
    replies = [fake.handle("PUT", url, auth, b"{}") for _ in range(3)]
    assert [reply.status for reply in replies] == [200, 200, 403]
    assert json.loads(replies[2].body)["message"] == SECONDARY_MESSAGE
    assert 1 <= int(replies[2].headers["retry-after"]) <= 60
    assert replies[2].headers["x-ratelimit-remaining"] == replies[1].headers["x-ratelimit-remaining"] == "4998"
    assert [r.status for r in fake.calls("/memberships/alice")] == [200, 200, 403]


def test_a_slow_request_is_in_flight_while_it_waits() -> None:
    fake, auth = _seeded(concurrent_requests=1)
    fake.slow_down(0.5, times=1, path="^/users/alice$")
    slow: list[int] = []
    thread = threading.Thread(
        target=lambda: slow.append(fake.handle("GET", f"{API_URL}/users/alice", auth, b"").status)
    )
    thread.start()
    deadline = time.monotonic() + 5
    while fake.rate_limits.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    meanwhile = fake.handle("GET", f"{API_URL}/users/bob", auth, b"")
    thread.join(5)
    assert (meanwhile.status, meanwhile.headers["retry-after"]) == (403, "1")
    assert slow == [200] and fake.rate_limits.in_flight == 0
    assert fake.handle("GET", f"{API_URL}/users/bob", auth, b"").status == 200


def test_faults_come_before_the_rate_limits_and_count_nothing() -> None:
    fake, auth = _seeded(primary_per_hour=1)
    assert fake.handle("GET", f"{API_URL}/users/alice", auth, b"").status == 200
    fake.fail("server_error", path="^/users/")
    assert fake.handle("GET", f"{API_URL}/users/alice", auth, b"").status == 502, "the fault, not the quota"
    fake.fail("secondary_rate_limit", path="^/users/")
    faulted = fake.handle("GET", f"{API_URL}/users/alice", auth, b"")
    assert faulted.status == 403 and faulted.headers["x-ratelimit-remaining"] == "4990", "the fault's own headers"
    assert faulted.headers["x-ratelimit-resource"] == "core"
    fake.fail("timeout", path="^/users/")
    from sandbox.fake_github import SimulatedTimeout

    with pytest.raises(SimulatedTimeout):
        fake.handle("GET", f"{API_URL}/users/alice", auth, b"")
    fake.exhaust_rate_limit(60)
    exhausted = fake.handle("GET", f"{API_URL}/users/alice", auth, b"")
    assert exhausted.status == 403 and exhausted.headers["x-ratelimit-limit"] == "5000", "exhaust_rate_limit's reply"
    assert fake.rate_limits.used("core") == 1 and fake.rate_limits.refused == []
    assert fake.rate_limits.in_flight == 0
    fake.clear_faults()
    assert fake.handle("GET", f"{API_URL}/users/alice", auth, b"").status == 403, "now the quota's"
    assert [r.kind for r in fake.rate_limits.refused] == ["primary"]


def test_the_default_fake_has_githubs_limits() -> None:
    assert FakeGitHub(public_key=app_key().public_key).rate_limits.policy == RateLimitPolicy()
    assert FakeGitHub.seeded(SEED, app_key().public_key).rate_limits.policy == RateLimitPolicy()


# --- the sandbox -------------------------------------------------------------------------------------


def test_the_sandbox_s_fake_github_runs_on_the_sandbox_s_clock() -> None:
    """Built, not started: the fake the sandbox would serve gets its time_scale."""
    assert Sandbox(time_scale=0.02).fake_github().rate_limits.policy == RateLimitPolicy(time_scale=0.02)
    given_policy = RateLimitPolicy(primary_per_hour=7)
    assert Sandbox(time_scale=0.02, github_rate_limits=given_policy).fake_github().rate_limits.policy == (
        RateLimitPolicy(primary_per_hour=7, time_scale=0.02)
    )
    own_pace = RateLimitPolicy(time_scale=0.5)
    assert Sandbox(time_scale=0.02, github_rate_limits=own_pace).github_rate_limits == own_pace
