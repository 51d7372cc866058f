"""No value a function puts into a GitHub URL can change which endpoint is called (issue 6, item 5).

The messages refuse such values (``functions.common.github_names``); here they are forced past that
validation with ``model_construct``, as a message put on a queue by hand would be if validation were
ever bypassed, and the fake GitHub (which routes on the raw path, segment by segment, as GitHub does)
must see exactly the intended endpoint with the value escaped as one segment.
"""

from __future__ import annotations

import contextlib

import pytest
from pydantic import ValidationError

from functions.add_team_member import add_team_member
from functions.common.errors import GitHubRequestRejected
from functions.common.github import path_segment
from functions.common.models import BackfillRequest, MemberRef, WorkflowRunRef
from functions.directory import HttpDirectory
from functions.list_org_members import list_org_members
from functions.price_workflow_run import list_run_jobs
from tests.functions.fake_github import FakeGitHub, github_app  # noqa: F401  (fixture)

ORG = "Octocoders"
TEAM = "platform"
HOSTILE = {
    "traversal": ("../../other-team/memberships/victim", "..%2F..%2Fother-team%2Fmemberships%2Fvictim"),
    "deeper-traversal": ("../../../memberships/victim", "..%2F..%2F..%2Fmemberships%2Fvictim"),
    "dot-dot": ("..", "%2E%2E"),
    "dot": (".", "%2E"),
    "encoded-traversal": ("%2e%2e%2fvictim", "%252e%252e%252fvictim"),
    "fullwidth-solidus": ("..\uff0fvictim", "..%EF%BC%8Fvictim"),
    "division-slash": ("..\u2215victim", "..%E2%88%95victim"),
}
CASES = [pytest.param(value, escaped, id=name) for name, (value, escaped) in HOSTILE.items()]


@pytest.fixture
def github(github_app: FakeGitHub, function_env: pytest.MonkeyPatch) -> FakeGitHub:  # noqa: F811
    function_env.setenv("ONBOARDING_TEAM", TEAM)
    github_app.add_team(ORG, TEAM)
    github_app.add_team(ORG, "other-team")
    github_app.add_member(ORG, "victim", 7)
    return github_app


def unvalidated_member(login: str) -> MemberRef:
    return MemberRef.model_construct(correlation_id="c", org=ORG, login=login, user_id=7, source="backfill")


@pytest.mark.parametrize(("login", "escaped"), CASES)
def test_a_hostile_login_reaches_only_the_onboarding_team(github: FakeGitHub, login: str, escaped: str) -> None:
    with contextlib.suppress(ValidationError):  # the answer names the hostile login: its result is refused
        add_team_member(unvalidated_member(login))

    [call] = github.requests[-1:]
    assert (call.method, call.raw_path) == ("PUT", f"/orgs/{ORG}/teams/{TEAM}/memberships/{escaped}")
    assert github.teams[(ORG, "other-team")] == {}
    assert github.teams[(ORG, TEAM)] == {login: "member"}


def test_a_login_with_a_query_is_refused_before_any_call(github: FakeGitHub) -> None:
    # escaped to victim%3Frole..., which githubkit's auth flow unescapes and httpx then refuses
    with pytest.raises(GitHubRequestRejected, match="InvalidURL"):
        add_team_member(unvalidated_member("victim?role=maintainer#"))

    assert github.calls("/memberships/") == []
    assert github.teams[(ORG, TEAM)] == {}


@pytest.mark.parametrize(("value", "escaped"), CASES)
def test_a_hostile_owner_or_repo_reaches_only_the_jobs_endpoint(github: FakeGitHub, value: str, escaped: str) -> None:
    run = WorkflowRunRef.model_construct(
        correlation_id="c", owner=value, repo=value, repository_private=True, run_id=1, run_attempt=1
    )
    with pytest.raises(GitHubRequestRejected, match="404"):
        list_run_jobs(run)

    [call] = github.requests[-1:]
    assert call.raw_path == f"/repos/{escaped}/{escaped}/actions/runs/1/attempts/1/jobs"


@pytest.mark.parametrize(("value", "escaped"), CASES)
def test_a_hostile_org_reaches_only_the_members_endpoint(github: FakeGitHub, value: str, escaped: str) -> None:
    with pytest.raises(GitHubRequestRejected, match="404"):
        list_org_members(BackfillRequest.model_construct(correlation_id="c", org=value))

    [call] = github.requests[-1:]
    assert call.raw_path == f"/orgs/{escaped}/members"


@pytest.mark.parametrize(("login", "escaped"), CASES)
def test_a_hostile_login_reaches_only_its_directory_record(github: FakeGitHub, login: str, escaped: str) -> None:
    assert github.router is not None
    route = github.router.get(url__regex=r"^https://directory\.example\.test/").respond(404)

    HttpDirectory("https://directory.example.test/people").lookup(ORG, login)

    assert route.call_count == 1
    assert route.calls.last.request.url.raw_path == f"/people/{escaped}".encode()


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (MemberRef, "login"),
        (MemberRef, "org"),
        (WorkflowRunRef, "owner"),
        (WorkflowRunRef, "repo"),
        (BackfillRequest, "org"),
    ],
)
@pytest.mark.parametrize("value", [value for value, _ in HOSTILE.values()])
def test_a_hand_made_message_with_a_hostile_name_is_refused(model: type, field: str, value: str) -> None:
    wire = {
        MemberRef: {"correlationId": "c", "org": ORG, "login": "victim", "userId": 7},
        WorkflowRunRef: {
            "correlationId": "c",
            "owner": "octo-org",
            "repo": "octo-repo",
            "repositoryPrivate": True,
            "runId": 1,
            "runAttempt": 1,
            "workflowName": "ci",
            "completedAt": "2026-01-01T00:00:00Z",
        },
        BackfillRequest: {"correlationId": "c", "org": ORG},
    }[model]
    model.model_validate(wire)  # the message itself is valid

    with pytest.raises(ValidationError, match=field):
        model.model_validate({**wire, field: value})


@pytest.mark.parametrize("value", [True, 0, -1, "7", 1.0])
def test_a_hand_made_message_with_a_bad_id_is_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="userId"):
        MemberRef.model_validate({"correlationId": "c", "org": ORG, "login": "victim", "userId": value})


def test_an_empty_path_segment_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        path_segment("")


@pytest.mark.parametrize("value", ["octo-org", "my_repo-2.0", ".github", "a.", 42])
def test_ordinary_names_pass_unchanged(value: str | int) -> None:
    assert path_segment(value) == str(value)
