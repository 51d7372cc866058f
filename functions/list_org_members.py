"""Backfill: every member of the organization, each to be onboarded like a new member, one page at a time.

Each invocation lists one page (GitHub's maximum, 100 members) and returns it with the request for the next
page, so no invocation's work grows with the organization: the sqs architecture sends that request back to
this step's queue, the stepfunctions one loops (functions/common/adapter.py, ``Page``). GitHub pages the org's
members by number, not by cursor: someone who joins or leaves during a backfill can shift a page boundary,
and a member it skips this way is onboarded by their own ``member_added`` (joined) or needs nothing (left).

Onboarding is idempotent (team membership is a PUT, the member item is written once), so members
that were onboarded before pass through without changing anything.

With the ``github-saml`` directory and a ``SAML_IDENTITIES_TABLE``, the org's SAML identities come first, up
to ``IDENTITY_PAGES_PER_CALL`` GraphQL pages of 100 per invocation, each written to that table
(functions/saml_identities.py), returned as a page with no members and the request for the next page: both
architectures loop through them with the machinery they loop member pages with, and each backfilled
member's lookup then reads the table instead of querying GitHub. An identity listing GitHub refuses (no
permission, an org GraphQL cannot see) is skipped: every member is then looked up alone, as before.
"""

from __future__ import annotations

from githubkit.response import Response
from githubkit_schemas.latest.models import SimpleUser

from functions import directory, saml_identities
from functions.common.adapter import step_handler
from functions.common.errors import GitHubRateLimited, GitHubRequestRejected, GitHubUnavailable
from functions.common.github import github_call, github_client, path_segment
from functions.common.models import BackfillRequest, MemberRef, Page
from functions.common.observability import logger
from functions.common.settings import settings

PAGE_SIZE = 100  # GitHub's maximum
#: GraphQL pages of SAML identities (100 each) one call reads at most: 5 x 15 s at worst, within the timeout.
IDENTITY_PAGES_PER_CALL = 5

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


def lists_identities(request: BackfillRequest) -> bool:
    """Whether ``request`` is for a page of SAML identities: the directory is GitHub's SAML and has a cache,
    the identities are not all read yet, and no member page has been listed (a request in flight from
    before the identities were read names page 2 or later)."""
    current = settings()
    return (
        not request.identities_done
        and request.page == 1
        and current.directory == directory.SAML_DIRECTORY
        and bool(current.saml_identities_table)
    )


def list_saml_identities(request: BackfillRequest) -> MemberPage:
    """Up to ``IDENTITY_PAGES_PER_CALL`` pages of the org's SAML identities into the cache: a page with no
    members, naming the next request.

    Several GraphQL pages a call, not one: each call is a loop of the backfill state machine whose history
    is capped at 25,000 events (about 9 events a call), so the identities cost about 2 events per 100 members
    instead of 9. A rate limit or an outage after the first page ends the call early with what it read (the
    next call waits it out or retries), so no page is read twice.

    The listing is the backfill's (its delivery id): its lookups trust only what it wrote. Its marker is
    written after the last page, and only if every page was written, so a lookup never takes a listing
    with a hole in it for complete. A write that fails ends the listing early: the lookups then query.
    """
    table = settings().need("saml_identities_table")
    listing = request.correlation_id
    cursor, listed = request.identities_cursor, request.identities_listed
    for number in range(IDENTITY_PAGES_PER_CALL):
        try:
            page = directory.saml_identity_page(request.org, cursor)
        except GitHubRequestRejected as error:
            logger.warning(
                "SAML identities not listed: each member is looked up alone",
                extra={"org": request.org, "error": str(error)},
            )
            return _identities_read(request, listed)
        except (GitHubRateLimited, GitHubUnavailable) as error:
            if number == 0:
                raise
            logger.info("SAML identity listing paused", extra={"org": request.org, "error": str(error)})
            break
        cached = saml_identities.store_identities(table, request.org, listing, page.identities)
        listed += len(page.identities)
        if cached and page.next_cursor is None:
            cached = saml_identities.store_complete(
                table, request.org, listing, provider=page.provider, identities=listed
            )
        last = page.next_cursor is None or not cached
        logger.info(
            "SAML identities listed",
            extra={
                "org": request.org,
                "count": len(page.identities),
                "identitiesListed": listed,
                "provider": page.provider,
                "cached": cached,
                "last": last,
            },
        )
        if last:
            return _identities_read(request, listed)
        cursor = page.next_cursor
    return _no_members(request, identities_cursor=cursor, identities_listed=listed)


def _identities_read(request: BackfillRequest, listed: int) -> MemberPage:
    """The page after the last identity page: no members, and the request for member page 1."""
    return _no_members(request, identities_done=True, identities_cursor=None, identities_listed=listed)


def _no_members(request: BackfillRequest, **following: object) -> MemberPage:
    """A page of the identity listing: no members, and ``request`` updated with ``following`` to go on."""
    return MemberPage(
        items=[], number=request.page - 1, listed=request.listed, next=request.model_copy(update=following)
    )


def list_org_members(request: BackfillRequest) -> MemberPage:
    """One page of the backfill: of SAML identities first (``lists_identities``), then of members."""
    if lists_identities(request):
        return list_saml_identities(request)
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
