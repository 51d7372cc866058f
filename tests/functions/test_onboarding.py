"""Onboarding against the fake GitHub: team membership, the company directory, and how failures surface."""

from __future__ import annotations

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from functions import directory
from functions.add_team_member import add_team_member
from functions.common import github_pacing
from functions.common.errors import (
    DirectoryUnavailable,
    GitHubRateLimited,
    GitHubRequestRejected,
    GitHubUnavailable,
)
from functions.common.github import github_client
from functions.common.models import MemberRef, StoreRequest, TeamMembership
from functions.common.settings import DEFAULT_GITHUB_API_VERSION
from functions.directory import DirectoryRejected, HttpDirectory, directory_for
from functions.lookup_directory import lookup_directory
from functions.store_records import store_records
from tests.functions.fake_github import (
    PRIMARY_RESET_SECONDS,
    RETRY_AFTER_SECONDS,
    FakeGitHub,
    Fault,
    fixture_payload,
    github_app,  # noqa: F401  (fixture)
)
from tests.functions.test_store import MEMBERS_TABLE, StoreEnv, store_env  # noqa: F401  (fixture)

ORG = "Octocoders"  # the organization of the member_added fixture
TEAM = "platform"
DIRECTORY_URL = "https://directory.example.test/people"


@pytest.fixture
def github(github_app: FakeGitHub, function_env: pytest.MonkeyPatch) -> FakeGitHub:  # noqa: F811
    function_env.setenv("ONBOARDING_TEAM", TEAM)
    function_env.setenv("MEMBERS_TABLE", MEMBERS_TABLE)
    function_env.setenv("DIRECTORY", "github-saml")
    github_app.add_member(ORG, "hacktocat", 39652351)
    github_app.add_team(ORG, TEAM)
    github_app.saml[ORG] = {
        "hacktocat": {
            "nameId": "E1001",
            "givenName": "Hacktocat",
            "familyName": "Example",
            "emails": [{"value": "old@example.com", "primary": False}, {"value": "hack@example.com", "primary": True}],
        }
    }
    return github_app


def new_member(login: str = "hacktocat", user_id: int = 39652351) -> MemberRef:
    """The MemberRef the receiver makes of the organization/member_added fixture."""
    payload = fixture_payload("organization", "member_added")
    return MemberRef(
        correlation_id="72d3162e-cc78-11e3-81ab-4c9367dc0958",
        org=payload["organization"]["login"],
        login=login,
        user_id=user_id,
    )


def membership(login: str = "hacktocat") -> TeamMembership:
    return TeamMembership(**new_member(login).model_dump(), team=TEAM, role="member", state="active")


# --- add_team_member ----------------------------------------------------------------------------


def test_a_new_member_joins_the_team(github: FakeGitHub) -> None:
    result = add_team_member(new_member())
    assert (result.team, result.role, result.state) == (TEAM, "member", "active")
    assert (result.login, result.user_id, result.correlation_id) == ("hacktocat", 39652351, new_member().correlation_id)
    assert github.teams[(ORG, TEAM)] == {"hacktocat": "member"}


def test_the_team_role_comes_from_the_settings(github: FakeGitHub, function_env: pytest.MonkeyPatch) -> None:
    function_env.setenv("TEAM_ROLE", "maintainer")
    assert add_team_member(new_member()).role == "maintainer"
    assert github.teams[(ORG, TEAM)]["hacktocat"] == "maintainer"


def test_someone_not_yet_in_the_org_is_pending(github: FakeGitHub) -> None:
    assert add_team_member(new_member("newcomer", 7)).state == "pending"


def test_the_installation_token_is_fetched_once_and_reused(github: FakeGitHub) -> None:
    add_team_member(new_member())
    add_team_member(new_member())
    assert github.token_exchanges == 1
    assert len(github.calls(r"/memberships/hacktocat$")) == 2


def test_every_request_names_the_default_api_version_a_github_enterprise_server_knows(github: FakeGitHub) -> None:
    github.api_versions = frozenset({DEFAULT_GITHUB_API_VERSION})  # a GHES release: not githubkit's 2026-03-10
    assert add_team_member(new_member()).state == "active"
    assert DEFAULT_GITHUB_API_VERSION == "2022-11-28"
    assert {request.api_version for request in github.requests} == {DEFAULT_GITHUB_API_VERSION}
    assert github.calls(r"/access_tokens$"), "the installation token exchange is versioned too"


def test_the_api_version_comes_from_the_settings(github: FakeGitHub, function_env: pytest.MonkeyPatch) -> None:
    function_env.setenv("GITHUB_API_VERSION", "2026-03-10")
    add_team_member(new_member())
    assert {request.api_version for request in github.requests} == {"2026-03-10"}


def test_an_api_version_the_server_does_not_know_is_rejected_naming_it(
    github: FakeGitHub, function_env: pytest.MonkeyPatch
) -> None:
    github.api_versions = frozenset({DEFAULT_GITHUB_API_VERSION})
    function_env.setenv("GITHUB_API_VERSION", "2026-03-10")
    with pytest.raises(GitHubRequestRejected, match="400.*X-GitHub-Api-Version.*2026-03-10"):
        add_team_member(new_member())


def test_a_missing_team_is_rejected_for_good(github: FakeGitHub, function_env: pytest.MonkeyPatch) -> None:
    function_env.setenv("ONBOARDING_TEAM", "no-such-team")
    with pytest.raises(GitHubRequestRejected, match="404"):
        add_team_member(new_member())


FAULTS: list[tuple[Fault, type[Exception], float | None]] = [
    ("server_error", GitHubUnavailable, None),
    ("timeout", GitHubUnavailable, None),
    ("too_many_requests", GitHubRateLimited, RETRY_AFTER_SECONDS),
    ("secondary_rate_limit", GitHubRateLimited, None),
    ("secondary_rate_limit_retry_after", GitHubRateLimited, RETRY_AFTER_SECONDS),
    ("primary_rate_limit", GitHubRateLimited, PRIMARY_RESET_SECONDS),
    ("forbidden", GitHubRequestRejected, None),
]


@pytest.mark.parametrize(("fault", "error", "retry_after"), FAULTS)
@pytest.mark.parametrize("where", ["/memberships/", "/access_tokens"])
def test_each_fault_maps_to_its_error_without_hidden_retries(
    github: FakeGitHub, fault: Fault, error: type[Exception], retry_after: float | None, where: str
) -> None:
    github.fail(fault, path=where)
    with pytest.raises(error) as raised:
        add_team_member(new_member())
    assert len(github.calls(where)) == 1, "githubkit retried on its own"
    if isinstance(raised.value, GitHubRateLimited):
        if retry_after is None:
            assert raised.value.retry_after is None
        else:
            assert raised.value.retry_after == pytest.approx(retry_after, abs=5)
    if isinstance(raised.value, GitHubRateLimited) and retry_after is not None and where != "/access_tokens":
        # GitHub said how long to wait: a try before then is not sent (functions/common/github_pacing.py) ...
        with pytest.raises(GitHubRateLimited, match="paced") as paced:
            add_team_member(new_member())
        assert paced.value.retry_after == pytest.approx(retry_after, abs=5)
        assert len(github.calls(where)) == 1, "called GitHub before the advised wait"
        github_pacing.forget()  # ... until the caller has waited (the architectures' rate-limit waits)
    # the fault was transient: the next try (a Step Functions Retry, an SQS redelivery) succeeds
    if error is not GitHubRequestRejected:
        assert add_team_member(new_member()).state == "active"


def test_an_app_key_github_does_not_know_is_rejected(github: FakeGitHub) -> None:
    github.public_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(GitHubRequestRejected, match="401"):
        add_team_member(new_member())


def test_the_client_does_not_retry_or_cache_on_its_own(github: FakeGitHub) -> None:
    config = github_client().config
    assert config.auto_retry is None and config.http_cache is False
    assert config.timeout.read is not None and config.timeout.read <= 30


# --- the SAML directory -------------------------------------------------------------------------


def test_saml_identity_is_the_company_record(github: FakeGitHub) -> None:
    request = lookup_directory(membership())
    assert request.kind == "member"
    assert request.record["directoryStatus"] == "found"
    assert (request.record["employeeId"], request.record["email"], request.record["name"]) == (
        "E1001",
        "hack@example.com",
        "Hacktocat Example",
    )
    graphql = github.calls(r"^/graphql$")
    assert len(graphql) == 1


def test_a_member_without_a_saml_identity_is_stored_as_not_found(github: FakeGitHub) -> None:
    request = lookup_directory(membership("newcomer"))
    assert request.record["directoryStatus"] == "not_found"
    assert "employeeId" not in request.record
    assert "no company record" in request.notification.subject


def test_enterprise_level_sso_says_so_instead_of_failing(github: FakeGitHub) -> None:
    github.saml[ORG] = None
    request = lookup_directory(membership())
    assert request.record["directoryStatus"] == "saml_not_configured"
    assert "enterprise" in request.record["directoryDetail"]
    assert "SAML not configured" in request.notification.subject


def test_an_unknown_org_in_graphql_is_rejected(github: FakeGitHub) -> None:
    with pytest.raises(GitHubRequestRejected, match="NOT_FOUND"):
        directory.GitHubSamlDirectory().lookup("no-such-org", "hacktocat")


@pytest.mark.parametrize(
    ("fault", "error", "retry_after"),
    [
        ("server_error", GitHubUnavailable, None),
        ("too_many_requests", GitHubRateLimited, RETRY_AFTER_SECONDS),
        ("graphql_rate_limited", GitHubRateLimited, PRIMARY_RESET_SECONDS),
    ],
)
def test_graphql_faults_map_like_rest_ones(
    github: FakeGitHub, fault: Fault, error: type[Exception], retry_after: float | None
) -> None:
    github.fail(fault, path="/graphql")
    with pytest.raises(error) as raised:
        lookup_directory(membership())
    if retry_after is not None:
        assert isinstance(raised.value, GitHubRateLimited)
        assert raised.value.retry_after == pytest.approx(retry_after, abs=5)
    assert len(github.calls("/graphql")) == 1


# --- an HTTP directory --------------------------------------------------------------------------


@pytest.fixture
def http_directory(github: FakeGitHub, function_env: pytest.MonkeyPatch) -> FakeGitHub:
    function_env.setenv("DIRECTORY", DIRECTORY_URL)
    return github


def test_http_directory_record(http_directory: FakeGitHub) -> None:
    assert http_directory.router is not None
    route = http_directory.router.get(f"{DIRECTORY_URL}/hacktocat").mock(
        return_value=httpx.Response(
            200,
            json={"employeeId": "E42", "email": "hack@example.com", "name": "Hack Example", "department": "Platform"},
        )
    )
    request = lookup_directory(membership())
    assert route.call_count == 1
    assert (request.record["employeeId"], request.record["department"]) == ("E42", "Platform")
    assert request.record["directorySource"] == DIRECTORY_URL
    assert http_directory.calls(r"^/graphql$") == []


def test_http_directory_404_is_not_found(http_directory: FakeGitHub) -> None:
    assert http_directory.router is not None
    http_directory.router.get(f"{DIRECTORY_URL}/hacktocat").mock(return_value=httpx.Response(404))
    assert lookup_directory(membership()).record["directoryStatus"] == "not_found"


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(503), httpx.Response(429), httpx.ReadTimeout("slow"), httpx.ConnectError("refused")],
    ids=["503", "429", "timeout", "connect"],
)
def test_http_directory_outages_are_retryable(http_directory: FakeGitHub, answer: object) -> None:
    assert http_directory.router is not None
    route = http_directory.router.get(f"{DIRECTORY_URL}/hacktocat")
    if isinstance(answer, httpx.Response):
        route.mock(return_value=answer)
    else:
        route.mock(side_effect=answer)
    with pytest.raises(DirectoryUnavailable):
        lookup_directory(membership())


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(200, json={"email": "no-id@example.com"}), httpx.Response(200, text="<html>"), httpx.Response(401)],
    ids=["no-employee-id", "not-json", "401"],
)
def test_http_directory_nonsense_is_a_clear_error(http_directory: FakeGitHub, answer: httpx.Response) -> None:
    assert http_directory.router is not None
    http_directory.router.get(f"{DIRECTORY_URL}/hacktocat").mock(return_value=answer)
    with pytest.raises(DirectoryRejected, match="directory"):
        lookup_directory(membership())


def test_http_directory_escapes_the_login(http_directory: FakeGitHub) -> None:
    assert http_directory.router is not None
    route = http_directory.router.get(f"{DIRECTORY_URL}/a%2Fb").mock(return_value=httpx.Response(404))
    HttpDirectory(DIRECTORY_URL + "/").lookup(ORG, "a/b")
    assert route.call_count == 1


@pytest.mark.parametrize("setting", ["ldap://corp", "http://directory.corp.example", "", "github"])
def test_a_bad_directory_setting_is_refused(setting: str) -> None:
    with pytest.raises(ValueError, match="DIRECTORY"):
        directory_for(setting)


def test_a_local_http_directory_is_allowed_for_the_sandbox() -> None:
    assert isinstance(directory_for("http://127.0.0.1:8080/people"), HttpDirectory)


# --- the whole onboarding -----------------------------------------------------------------------


def test_onboarding_end_to_end_stores_the_member_once(github: FakeGitHub, store_env: StoreEnv) -> None:  # noqa: F811
    def onboard() -> None:
        joined = TeamMembership.model_validate(add_team_member(new_member()).to_wire())
        store_records(StoreRequest.model_validate(lookup_directory(joined).to_wire()))

    onboard()
    onboard()  # a redelivery of the same event
    item = store_env.dynamodb.Table(MEMBERS_TABLE).get_item(Key={"login": "hacktocat"})["Item"]
    assert (item["employeeId"], item["team"], item["teamState"], item["org"]) == ("E1001", TEAM, "active", ORG)
    assert len(store_env.notifications()) == 1
