"""Backfill: every member of the organization, each to be onboarded like a new member, one page at a time.

Each invocation lists one page (GitHub's maximum, 100 members) and returns it with the request for the next
page, so no invocation's work grows with the organization: the sqs architecture sends that request back to
this step's queue, the stepfunctions one loops (functions/common/adapter.py, ``Page``). GitHub pages the org's
members by number, not by cursor: someone who joins or leaves during a backfill can shift a page boundary,
and a member it skips this way is onboarded by their own ``member_added`` (joined) or needs nothing (left).

Onboarding is idempotent (team membership is a PUT, the member item is written once), so members
that were onboarded before pass through without changing anything.
"""

from __future__ import annotations

from githubkit.response import Response
from githubkit_schemas.latest.models import SimpleUser

from functions.common.adapter import step_handler
from functions.common.github import github_call, github_client, path_segment
from functions.common.models import BackfillRequest, MemberRef, Page
from functions.common.observability import logger

PAGE_SIZE = 100  # GitHub's maximum

MemberPage = Page[MemberRef, BackfillRequest]


def _users(response: Response[list[SimpleUser]]) -> list[SimpleUser]:
    return response.parsed_data


def has_next_page(link_header: str | None) -> bool:
    """Whether GitHub's ``Link`` header (RFC 8288) offers a ``rel="next"`` page."""
    for link in (link_header or "").split(","):
        _, _, parameters = link.partition(";")
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.strip() == "rel" and "next" in value.strip().strip('"').split():
                return True
    return False


def list_org_members(request: BackfillRequest) -> MemberPage:
    github = github_client()
    with github_call(f"list page {request.page} of the members of {request.org}"):
        response = github.rest.orgs.list_members(org=path_segment(request.org), per_page=PAGE_SIZE, page=request.page)
        users = _users(response)
    members = [
        MemberRef(
            correlation_id=request.correlation_id,
            org=request.org,
            login=user.login,
            user_id=user.id,
            source="backfill",
        )
        for user in users
    ]
    listed = request.listed + len(members)
    more = bool(members) and has_next_page(response.headers.get("link"))
    logger.info(
        "organization members listed",
        extra={"org": request.org, "page": request.page, "count": len(members), "listed": listed, "last": not more},
    )
    following = request.model_copy(update={"page": request.page + 1, "listed": listed}) if more else None
    return MemberPage(items=members, number=request.page, listed=listed, next=following)


handler = step_handler(list_org_members, BackfillRequest)
