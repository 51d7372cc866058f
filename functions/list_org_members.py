"""Backfill: every member of the organization, each to be onboarded like a new member.

Onboarding is idempotent (team membership is a PUT, the member item is written once), so members
that were onboarded before pass through without changing anything.
"""

from __future__ import annotations

from githubkit.response import Response
from githubkit_schemas.latest.models import SimpleUser

from functions.common.adapter import step_handler
from functions.common.github import github_call, github_client, path_segment
from functions.common.models import BackfillRequest, MemberRef
from functions.common.observability import logger

PAGE_SIZE = 100  # GitHub's maximum


def _users(response: Response[list[SimpleUser]]) -> list[SimpleUser]:
    return response.parsed_data


def list_org_members(request: BackfillRequest) -> list[MemberRef]:
    github = github_client()
    with github_call(f"list the members of {request.org}"):
        members = [
            MemberRef(
                correlation_id=request.correlation_id,
                org=request.org,
                login=user.login,
                user_id=user.id,
                source="backfill",
            )
            for user in github.rest.paginate(
                github.rest.orgs.list_members, map_func=_users, org=path_segment(request.org), per_page=PAGE_SIZE
            )
        ]
    logger.info("organization members listed", extra={"org": request.org, "count": len(members)})
    return members


handler = step_handler(list_org_members, BackfillRequest)
