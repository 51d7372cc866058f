"""Backfill against the fake GitHub: every member of the org, across pages, each an onboarding message."""

from __future__ import annotations

import pytest

from functions.add_team_member import add_team_member
from functions.common.errors import GitHubRateLimited, GitHubRequestRejected, GitHubUnavailable
from functions.common.models import BackfillRequest, MemberRef
from functions.list_org_members import list_org_members
from tests.functions.fake_github import (
    FakeGitHub,
    Fault,
    fixture_payload,
    github_app,  # noqa: F401  (fixture)
)

PAYLOAD = fixture_payload("installation", "created")
ORG = "octo-org"
DELIVERY = "f5b5e7a0-0715-11eb-9b1a-2c1b5c2a4f10"


def backfill_request() -> BackfillRequest:
    """The BackfillRequest the receiver makes of the installation/created fixture."""
    return BackfillRequest(correlation_id=DELIVERY, org=ORG, installation_id=PAYLOAD["installation"]["id"])


@pytest.fixture
def github(github_app: FakeGitHub) -> FakeGitHub:  # noqa: F811
    for user_id in range(1, 251):
        github_app.add_member(ORG, f"user-{user_id:03d}", user_id)
    return github_app


def test_every_member_on_every_page_becomes_an_onboarding_message(github: FakeGitHub) -> None:
    members = list_org_members(backfill_request())
    assert len(github.calls(rf"^/orgs/{ORG}/members$")) == 3  # 250 members, 100 a page
    assert [member.login for member in members] == [f"user-{n:03d}" for n in range(1, 251)]
    assert {member.source for member in members} == {"backfill"}
    assert {member.correlation_id for member in members} == {DELIVERY}
    assert members[41].user_id == 42 and members[41].org == ORG
    # each item is a valid message of the onboarding pipeline
    assert MemberRef.model_validate(members[0].to_wire()) == members[0]


def test_a_backfilled_member_is_onboarded_like_a_new_one(github: FakeGitHub, function_env: pytest.MonkeyPatch) -> None:
    function_env.setenv("ONBOARDING_TEAM", "everyone")
    github.add_team(ORG, "everyone")
    first = list_org_members(backfill_request())[0]
    assert add_team_member(first).state == "active"
    assert github.teams[(ORG, "everyone")] == {"user-001": "member"}


def test_an_org_the_app_cannot_see_is_rejected(github: FakeGitHub) -> None:
    with pytest.raises(GitHubRequestRejected, match="404"):
        list_org_members(BackfillRequest(correlation_id=DELIVERY, org="elsewhere"))


def test_an_empty_org_lists_nobody(github_app: FakeGitHub) -> None:  # noqa: F811
    github_app.org_members["quiet-org"] = []
    assert list_org_members(BackfillRequest(correlation_id=DELIVERY, org="quiet-org")) == []


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("server_error", GitHubUnavailable),
        ("timeout", GitHubUnavailable),
        ("secondary_rate_limit", GitHubRateLimited),
        ("primary_rate_limit", GitHubRateLimited),
    ],
)
def test_a_fault_on_any_page_fails_the_listing(github: FakeGitHub, fault: Fault, error: type[Exception]) -> None:
    github.fail(fault, path="/members", skip=2)  # the third page
    with pytest.raises(error):
        list_org_members(backfill_request())
    assert len(github.calls(rf"^/orgs/{ORG}/members$")) == 3
