"""Onboarding, step 2: find the member's company record and plan the member item and notification."""

from __future__ import annotations

from datetime import UTC, datetime

from functions import directory, records
from functions.common.adapter import step_handler
from functions.common.models import StoreRequest, TeamMembership
from functions.common.observability import logger
from functions.common.settings import settings


def lookup_directory(membership: TeamMembership) -> StoreRequest:
    # A backfilled member is looked up in the identities their backfill listed (its delivery id names it).
    backfill = membership.correlation_id if membership.source == "backfill" else None
    result = directory.lookup(membership.org, membership.login, backfill=backfill)
    logger.info(
        "directory lookup",
        extra={"login": membership.login, "status": result.status, "source": result.source, "detail": result.detail},
    )
    return records.member_store_request(
        membership, result, onboarded_at=datetime.now(UTC), table=settings().need("members_table")
    )


handler = step_handler(lookup_directory, TeamMembership)
