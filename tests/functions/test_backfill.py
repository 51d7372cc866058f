"""Backfill against the fake GitHub: every member of the org, across pages, each an onboarding message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.add_team_member import add_team_member
from functions.common.errors import GitHubRateLimited, GitHubRequestRejected, GitHubUnavailable
from functions.common.models import BackfillRequest, MemberRef
from functions.list_org_members import MemberPage, has_next_page, list_org_members
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


def list_every_page(request: BackfillRequest) -> list[MemberPage]:
    """What either architecture does: list a page, then the page its result names, until none."""
    pages = [list_org_members(request)]
    while pages[-1].next is not None:
        pages.append(list_org_members(pages[-1].next))
    return pages


def test_each_call_lists_one_page_and_names_the_next(github: FakeGitHub) -> None:
    first = list_org_members(backfill_request())
    assert len(github.calls(rf"^/orgs/{ORG}/members$")) == 1, "one GitHub call per invocation, whatever the org's size"
    assert (first.number, first.listed, len(first.items)) == (1, 100, 100)
    assert first.next == backfill_request().model_copy(update={"page": 2, "listed": 100})
    assert first.state_output()["next"] == {**backfill_request().to_wire(), "page": 2, "listed": 100}


def test_every_member_on_every_page_becomes_an_onboarding_message(github: FakeGitHub) -> None:
    pages = list_every_page(backfill_request())
    assert len(github.calls(rf"^/orgs/{ORG}/members$")) == 3  # 250 members, 100 a page
    assert [(page.number, page.listed, len(page.items)) for page in pages] == [
        (1, 100, 100),
        (2, 200, 100),
        (3, 250, 50),
    ]
    assert pages[-1].next is None and pages[-1].state_output()["next"] is None, "the last page names none"
    members = [member for page in pages for member in page.items]
    assert [member.login for member in members] == [f"user-{n:03d}" for n in range(1, 251)]
    assert {member.source for member in members} == {"backfill"}
    assert {member.correlation_id for member in members} == {DELIVERY}
    assert members[41].user_id == 42 and members[41].org == ORG
    # each item is a valid message of the onboarding pipeline
    assert MemberRef.model_validate(members[0].to_wire()) == members[0]


def test_an_org_of_exactly_one_page_ends_on_it(github_app: FakeGitHub) -> None:  # noqa: F811
    for user_id in range(1, 101):
        github_app.add_member("round-org", f"user-{user_id:03d}", user_id)
    (page,) = list_every_page(BackfillRequest(correlation_id=DELIVERY, org="round-org"))
    assert (page.listed, page.next) == (100, None)


@pytest.mark.parametrize(
    ("link", "more"),
    [
        (None, False),
        ("", False),
        ('<https://api.github.com/organizations/1/members?page=2>; rel="next", <https://x?page=3>; rel="last"', True),
        ('<https://x?page=1>; rel="prev", <https://x?page=1>; rel="first"', False),
        ('<https://x?page=2>; rel="next"', True),
        ("<https://x?page=2>; rel=next", True),
        ('<https://x?page=2>; rel="prev next"', True),
        ('<https://x?next=1>; rel="last"', False),
    ],
)
def test_the_next_page_is_what_the_link_header_says(link: str | None, more: bool) -> None:
    assert has_next_page(link) is more


@given(st.lists(st.sampled_from(["first", "prev", "next", "last"]), max_size=4, unique=True))
def test_only_a_next_relation_means_more(relations: list[str]) -> None:
    link = ", ".join(f'<https://api.github.com/x?page={n}>; rel="{rel}"' for n, rel in enumerate(relations))
    assert has_next_page(link) is ("next" in relations)


def test_a_backfilled_member_is_onboarded_like_a_new_one(github: FakeGitHub, function_env: pytest.MonkeyPatch) -> None:
    function_env.setenv("ONBOARDING_TEAM", "everyone")
    github.add_team(ORG, "everyone")
    first = list_org_members(backfill_request()).items[0]
    assert add_team_member(first).state == "active"
    assert github.teams[(ORG, "everyone")] == {"user-001": "member"}


def test_an_org_the_app_cannot_see_is_rejected(github: FakeGitHub) -> None:
    with pytest.raises(GitHubRequestRejected, match="404"):
        list_org_members(BackfillRequest(correlation_id=DELIVERY, org="elsewhere"))


def test_an_empty_org_lists_nobody(github_app: FakeGitHub) -> None:  # noqa: F811
    github_app.org_members["quiet-org"] = []
    page = list_org_members(BackfillRequest(correlation_id=DELIVERY, org="quiet-org"))
    assert (page.items, page.listed, page.next) == ([], 0, None)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("server_error", GitHubUnavailable),
        ("timeout", GitHubUnavailable),
        ("secondary_rate_limit", GitHubRateLimited),
        ("primary_rate_limit", GitHubRateLimited),
    ],
)
def test_a_fault_on_a_page_fails_that_call_only(github: FakeGitHub, fault: Fault, error: type[Exception]) -> None:
    second = list_org_members(backfill_request()).next
    assert second is not None
    github.fail(fault, path="/members")
    with pytest.raises(error):
        list_org_members(second)
    assert len(github.calls(rf"^/orgs/{ORG}/members$")) == 2, "the pages before it are not listed again"
