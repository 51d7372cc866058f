"""The fake GitHub over real loopback HTTP, spoken to by githubkit configured as the functions configure it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from functools import cache

import httpx
import pytest
from githubkit import AppInstallationAuthStrategy, GitHub
from githubkit.cache import MemCacheStrategy
from githubkit.exception import RequestFailed

from sandbox.fake_github import (
    RETRY_AFTER_SECONDS,
    SANDBOX_ORG,
    AppKey,
    FakeGitHub,
    FakeGitHubServer,
    RecordedRequest,
    SimulatedTimeout,
)

SEED = SANDBOX_ORG
PAYMENTS_CI = SEED.runs[0]
MATRIX = next(run for run in SEED.runs if len(run.jobs) > 100)


@cache
def app_key() -> AppKey:
    return AppKey.generate()


@pytest.fixture
def server() -> Iterator[FakeGitHubServer]:
    with FakeGitHubServer(FakeGitHub.seeded(SEED, app_key().public_key), hang_seconds=2) as running:
        yield running
    assert running.errors == []


def client(
    server: FakeGitHubServer,
    key: AppKey | None = None,
    installation_id: int = SEED.installation_id,
    on_response: Callable[[httpx.Response], None] | None = None,
) -> GitHub:
    """A githubkit client as functions/common/github.py builds it (no retries, no cache)."""
    strategy = AppInstallationAuthStrategy(SEED.app_id, (key or app_key()).private_key_pem, installation_id)
    return GitHub(
        strategy,
        base_url=server.url,
        auto_retry=False,
        http_cache=False,
        timeout=5,
        cache_strategy=MemCacheStrategy(),  # the token of another test's fake would be refused here
        event_hooks={"response": [on_response]} if on_response else None,
    )


def test_the_app_gets_an_installation_token_once_and_uses_it(server: FakeGitHubServer) -> None:
    github = client(server)
    github.rest.users.get_by_username("alice")
    github.rest.users.get_by_username("bob")
    assert server.github.token_exchanges == 1
    assert [(r.method, r.path, r.status) for r in server.github.requests] == [
        ("POST", f"/app/installations/{SEED.installation_id}/access_tokens", 201),
        ("GET", "/users/alice", 200),
        ("GET", "/users/bob", 200),
    ]


def test_api_responses_carry_the_quota_they_count_against(server: FakeGitHubServer) -> None:
    """As GitHub: ``x-ratelimit-*`` on every API response, counted down per resource; the token exchange
    and the directory are not the installation's quota; a rate-limit fault keeps its own values."""
    seen: list[tuple[str, dict[str, str]]] = []

    def quota(response: httpx.Response) -> None:
        headers = {k: v for k, v in response.headers.items() if k.startswith("x-ratelimit-")}
        seen.append((response.request.url.path, headers))

    github = client(server, on_response=quota)
    github.rest.users.get_by_username("alice")
    github.rest.users.get_by_username("bob")
    from functions.directory import SAML_IDENTITY_QUERY

    github.graphql.request(SAML_IDENTITY_QUERY, {"org": SEED.org, "login": "alice"})
    server.github.fail("primary_rate_limit", path="^/users/")
    with pytest.raises(Exception, match="403"):
        github.rest.users.get_by_username("carol")

    token, alice, bob, graphql, limited = seen
    assert token[1] == {}
    assert [alice[1]["x-ratelimit-remaining"], bob[1]["x-ratelimit-remaining"]] == ["4999", "4998"]
    assert alice[1]["x-ratelimit-limit"] == "5000" and alice[1]["x-ratelimit-resource"] == "core"
    assert int(alice[1]["x-ratelimit-reset"]) > time.time()
    assert (graphql[1]["x-ratelimit-resource"], graphql[1]["x-ratelimit-remaining"]) == ("graphql", "4999")
    assert (limited[1]["x-ratelimit-remaining"], limited[1]["x-ratelimit-resource"]) == ("0", "core")
    directory = httpx.get(f"{server.directory_url}/alice")
    assert directory.status_code == 200 and "x-ratelimit-remaining" not in directory.headers


def test_a_jwt_signed_with_another_key_is_refused(server: FakeGitHubServer) -> None:
    github = client(server, key=AppKey.generate())
    with pytest.raises(Exception, match="401"):
        github.rest.users.get_by_username("alice")
    assert [request.status for request in server.github.requests] == [401]


def test_another_installation_is_not_found(server: FakeGitHubServer) -> None:
    github = client(server, installation_id=1)
    with pytest.raises(Exception, match="404"):
        github.rest.users.get_by_username("alice")
    assert [request.status for request in server.github.requests] == [404]


def test_the_api_needs_a_token(server: FakeGitHubServer) -> None:
    response = httpx.get(f"{server.url}/users/alice", headers={"Authorization": "token ghs_made_up"})
    assert response.status_code == 401 and response.json()["message"] == "Bad credentials"


def test_team_membership_is_put_active_for_members(server: FakeGitHubServer) -> None:
    github = client(server)
    membership = github.rest.teams.add_or_update_membership_for_user_in_org(SEED.org, SEED.team, "alice", role="member")
    assert (membership.parsed_data.role, membership.parsed_data.state) == ("member", "active")
    assert server.github.teams[(SEED.org, SEED.team)] == {"alice": "member"}
    with pytest.raises(RequestFailed) as raised:
        github.rest.teams.add_or_update_membership_for_user_in_org(SEED.org, "no-such-team", "alice")
    assert raised.value.response.status_code == 404


def test_org_members_are_paginated_with_link_headers(server: FakeGitHubServer) -> None:
    github = client(server)
    first = github.rest.orgs.list_members(SEED.org, per_page=5)
    assert 'rel="next"' in first.headers["link"] and "page=3" in first.headers["link"]
    logins = [user.login for user in github.rest.paginate(github.rest.orgs.list_members, org=SEED.org, per_page=5)]
    assert logins == [person.login for person in SEED.members]
    assert len(server.github.calls(rf"^/orgs/{SEED.org}/members$")) == 1 + 3


def test_run_attempt_jobs_are_paginated(server: FakeGitHubServer) -> None:
    github = client(server)
    jobs = list(
        github.rest.paginate(
            github.rest.actions.list_jobs_for_workflow_run_attempt,
            map_func=lambda response: response.parsed_data.jobs,
            owner=SEED.org,
            repo=MATRIX.repo,
            run_id=MATRIX.run_id,
            attempt_number=MATRIX.attempt,
            per_page=100,
        )
    )
    assert len(jobs) == 101 and len(server.github.calls(r"/jobs$")) == 2
    ci = github.rest.actions.list_jobs_for_workflow_run_attempt(SEED.org, PAYMENTS_CI.repo, PAYMENTS_CI.run_id, 1)
    labels = {tuple(job.labels) for job in ci.parsed_data.jobs}
    hosted = {("ubuntu-latest",), ("windows-latest",), ("macos-latest",), ("ubuntu-24.04-arm",), ("org-gpu-large",)}
    assert hosted <= labels
    assert any("self-hosted" in job_labels for job_labels in labels)
    job = ci.parsed_data.jobs[0]
    assert (job.completed_at - job.started_at).total_seconds() == PAYMENTS_CI.jobs[0].seconds


def test_the_saml_identity_of_a_member(server: FakeGitHubServer) -> None:
    from functions.directory import SAML_IDENTITY_QUERY

    github = client(server)
    data = github.graphql.request(SAML_IDENTITY_QUERY, {"org": SEED.org, "login": "alice"})
    identity = data["organization"]["samlIdentityProvider"]["externalIdentities"]["nodes"][0]["samlIdentity"]
    assert (identity["nameId"], identity["givenName"]) == ("E1001", "Alice")
    nobody = github.graphql.request(SAML_IDENTITY_QUERY, {"org": SEED.org, "login": "contractor-kim"})
    assert nobody["organization"]["samlIdentityProvider"]["externalIdentities"]["nodes"] == []


def test_the_directory_answers_without_a_token(server: FakeGitHubServer) -> None:
    found = httpx.get(f"{server.directory_url}/grace")
    assert found.status_code == 200
    assert found.json() == {
        "employeeId": "E1007",
        "email": "grace@example.com",
        "name": "Grace Hopper",
        "department": "Compilers",
    }
    assert httpx.get(f"{server.directory_url}/contractor-kim").status_code == 404


def test_the_unreachable_members_team_put_always_fails(server: FakeGitHubServer) -> None:
    github = client(server)
    for _ in range(3):
        with pytest.raises(RequestFailed) as raised:
            github.rest.teams.add_or_update_membership_for_user_in_org(SEED.org, SEED.team, SEED.unreachable.login)
        assert raised.value.response.status_code == 502
    github.rest.teams.add_or_update_membership_for_user_in_org(SEED.org, SEED.team, "bob")  # others are fine


@pytest.mark.parametrize(
    ("fault", "status", "headers"),
    [
        ("server_error", 502, {}),
        ("too_many_requests", 429, {"retry-after": str(RETRY_AFTER_SECONDS)}),
        ("secondary_rate_limit", 403, {"x-ratelimit-remaining": "4990"}),
        ("primary_rate_limit", 403, {"x-ratelimit-remaining": "0"}),
    ],
)
def test_faults_strike_the_next_n_matching_requests(
    server: FakeGitHubServer, fault: str, status: int, headers: dict[str, str]
) -> None:
    github = client(server)
    github.rest.users.get_by_username("alice")  # get the token first
    server.github.fail(fault, times=2, path=r"^/users/b")  # type: ignore[arg-type]
    answers = []
    for login in ("alice", "bob", "bob", "bob"):
        try:
            response = github.rest.users.get_by_username(login).raw_response
        except RequestFailed as failed:  # githubkit's rate limit errors are RequestFailed too
            response = failed.response.raw_response
            assert headers.items() <= response.headers.items()
            if status == 403:
                assert "rate limit" in response.json()["message"]
        answers.append(response.status_code)
    assert answers == [200, status, status, 200]
    assert [r.status for r in server.github.calls("^/users/bob$")] == [status, status, 200]


def test_skip_lets_requests_through_first_and_always_never_stops(server: FakeGitHubServer) -> None:
    fake = server.github
    fake.fail("server_error", times=1, path="/directory/", skip=1)
    assert [httpx.get(f"{server.directory_url}/alice").status_code for _ in range(3)] == [200, 502, 200]
    fake.fail("server_error", times=None, path="/directory/")
    assert {httpx.get(f"{server.directory_url}/alice").status_code for _ in range(3)} == {502}
    fake.clear_faults()
    assert httpx.get(f"{server.directory_url}/alice").status_code == 200


def test_faults_are_counted_exactly_under_concurrent_requests(server: FakeGitHubServer) -> None:
    server.github.fail("server_error", times=7, path="/directory/")
    statuses: list[int] = []
    lock = threading.Lock()

    def hit() -> None:
        with httpx.Client() as http:
            for _ in range(5):
                code = http.get(f"{server.directory_url}/alice").status_code
                with lock:
                    statuses.append(code)

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 13 + [502] * 7
    assert len(server.github.calls("/directory/")) == 20


def test_a_timeout_fault_holds_the_answer_until_the_client_gives_up(server: FakeGitHubServer) -> None:
    server.github.fail("timeout", path="/directory/")
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{server.directory_url}/alice", timeout=0.3)
    assert time.monotonic() - started < 2
    assert server.github.calls("/directory/") == [
        RecordedRequest("GET", "/directory/alice", "", None, raw_path="/directory/alice")
    ]
    assert httpx.get(f"{server.directory_url}/alice").status_code == 200


def test_the_timeout_fault_in_process_is_an_exception() -> None:
    fake = FakeGitHub(public_key=app_key().public_key)
    fake.fail("timeout")
    with pytest.raises(SimulatedTimeout):
        fake.handle("GET", "https://api.github.test/directory/x", {}, b"")


def test_stop_frees_the_port() -> None:
    running = FakeGitHubServer(FakeGitHub(public_key=app_key().public_key)).start()
    port = int(running.url.rsplit(":", 1)[1])
    running.github.fail("timeout")
    hanging = threading.Thread(target=lambda: _swallow(lambda: httpx.get(running.url + "/x", timeout=10)))
    hanging.start()
    time.sleep(0.1)
    started = time.monotonic()
    running.stop()
    hanging.join(5)
    assert not hanging.is_alive() and time.monotonic() - started < 3  # stop() releases a held request
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))


def _swallow(call: object) -> None:
    with contextlib.suppress(httpx.HTTPError):
        call()  # type: ignore[operator]


def test_an_exhausted_primary_limit_lasts_its_window_and_says_when_it_resets_at_githubs_pace(
    server: FakeGitHubServer,
) -> None:
    """Half an hour at a time scale of 0.0005 is 0.9 s: until then every API call answers 403 with
    x-ratelimit-reset about 1800 s away; a client that waits that long, scaled, is served again."""
    time_scale = 0.0005
    github = client(server)
    github.rest.users.get_by_username("alice")  # get the token first: its exchange takes a while
    server.github.exhaust_rate_limit(1800, time_scale=time_scale)
    with pytest.raises(RequestFailed) as raised:
        github.rest.users.get_by_username("alice")
    response = raised.value.response.raw_response
    assert response.status_code == 403 and response.headers["x-ratelimit-remaining"] == "0"
    reset_in = int(response.headers["x-ratelimit-reset"]) - time.time()
    assert 1500 < reset_in <= 1801  # (each real millisecond is 2 s of GitHub's at this pace)
    assert httpx.get(f"{server.directory_url}/alice").status_code == 200, "the directory is not GitHub's quota"
    assert server.github.handle("POST", f"{server.url}/app/installations/1/access_tokens", {}, b"").status == 401, (
        "the token exchange is not the installation's quota either (refused here for its missing JWT)"
    )

    time.sleep(reset_in * time_scale + 0.05)

    assert github.rest.users.get_by_username("alice").raw_response.status_code == 200


def test_slow_down_delays_the_matching_requests_outside_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox import fake_github

    fake = FakeGitHub(public_key=app_key().public_key)
    fake.directory["alice"] = {"login": "alice"}
    fake.slow_down(3.5, times=2, path="/directory/alice")
    fake.slow_down(1.0, path="/directory/")
    waits: list[tuple[float, bool]] = []

    def sleep(seconds: float) -> None:
        # another request can read the fake's state meanwhile: slow requests overlap
        reader = threading.Thread(target=fake.calls, args=("/",))
        reader.start()
        reader.join(timeout=5)
        waits.append((seconds, not reader.is_alive()))

    monkeypatch.setattr(fake_github.time, "sleep", sleep)
    statuses = [
        fake.handle("GET", f"{fake_github.API_URL}/directory/{who}", {}, b"").status for who in ["alice", "bob"]
    ]
    statuses += [fake.handle("GET", f"{fake_github.API_URL}/directory/alice", {}, b"").status for _ in range(2)]
    fake.clear_faults()
    statuses.append(fake.handle("GET", f"{fake_github.API_URL}/directory/alice", {}, b"").status)

    assert statuses == [200, 404, 200, 200, 200]
    assert waits == [(4.5, True), (1.0, True), (4.5, True), (1.0, True)]


def test_slow_down_refuses_a_negative_latency() -> None:
    with pytest.raises(ValueError, match="seconds must be >= 0, got -1"):
        FakeGitHub(public_key=app_key().public_key).slow_down(-1)


def test_the_billing_usage_report_has_github_s_shape_and_filters_by_month_and_day(server: FakeGitHubServer) -> None:
    github = client(server)
    report = github.rest.billing.get_github_billing_usage_report_org(SEED.org, year=2026, month=3).json()
    one_day = github.rest.billing.get_github_billing_usage_report_org(SEED.org, year=2026, month=3, day=20).json()
    other_year = github.rest.billing.get_github_billing_usage_report_org(SEED.org, year=2025).json()

    items = report["usageItems"]
    assert set(items[0]) == {
        "date",
        "product",
        "sku",
        "quantity",
        "unitType",
        "pricePerUnit",
        "grossAmount",
        "discountAmount",
        "netAmount",
        "organizationName",
        "repositoryName",
    }
    assert {item["date"][:7] for item in items} == {"2026-03"}
    assert [(i["repositoryName"], i["sku"], i["quantity"]) for i in one_day["usageItems"]] == [
        ("octo-org/payments", "linux", 2),
        ("octo-org/payments", "windows", 10),
    ]
    assert other_year == {"usageItems": []}
    # GitHub bills no free use: the public website's standard runners are not there, its GPU runner is
    website = [(i["sku"], i["quantity"], i["grossAmount"]) for i in items if i["repositoryName"] == "octo-org/website"]
    assert website == [("linux_4_core_gpu", 1, 0.052)]
    # the plan's 10 included minutes a month come off March's first private standard-runner minutes
    (first_linux,) = [i for i in items if i["date"] == "2026-03-05" and i["sku"] == "linux"]
    assert (first_linux["grossAmount"], first_linux["discountAmount"], first_linux["netAmount"]) == (0.066, 0.06, 0.006)


def test_the_billing_usage_report_refuses_a_month_that_is_not_one(server: FakeGitHubServer) -> None:
    github = client(server)
    with pytest.raises(RequestFailed) as refused:
        github.rest.billing.get_github_billing_usage_report_org(SEED.org, year=2026, month=13)
    assert refused.value.response.status_code == 400
