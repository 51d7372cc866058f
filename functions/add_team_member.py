"""Onboarding, step 1: add the new member to the onboarding team.

``PUT /orgs/{org}/teams/{team}/memberships/{username}`` adds or updates the membership, so a
repeated call changes nothing. GitHub answers "pending" when the person has not yet accepted the
organization's invitation; the membership becomes "active" when they do.
"""

from __future__ import annotations

from functions.common.adapter import step_handler
from functions.common.github import github_call, github_client, path_segment
from functions.common.models import MemberRef, TeamMembership
from functions.common.observability import logger
from functions.common.settings import settings


def add_team_member(member: MemberRef) -> TeamMembership:
    team = settings().need("onboarding_team")
    role = settings().team_role
    with github_call(f"add {member.login} to team {member.org}/{team}"):
        response = github_client().rest.teams.add_or_update_membership_for_user_in_org(
            path_segment(member.org), path_segment(team), path_segment(member.login), role=role
        )
    membership = response.parsed_data
    logger.info(
        "team membership set",
        extra={"login": member.login, "team": team, "role": membership.role, "state": membership.state},
    )
    return TeamMembership(**member.model_dump(), team=team, role=membership.role, state=membership.state)


handler = step_handler(add_team_member, MemberRef)
