"""The organization's SAML identities, read 100 at a time once per backfill and cached for its lookups.

Without it a backfill makes one GraphQL query per member (``externalIdentities(login: ..., first: 1)``);
with it, list-org-members reads the org's identities a page at a time before the member pages (one GraphQL
call per 100 identities) and writes them to the ``saml-identities`` table, where lookup-directory reads them
in both architectures (the table is shared, like the other two).

Items, keyed by ``org`` and ``login`` (both lower-cased: GitHub logins are case-insensitive):

- one per identity linked to a GitHub user: its ``samlIdentity`` (as GitHub's JSON), the ``listing`` that
  wrote it (the backfill's delivery id), ``listedAt`` and ``expiresAt`` (epoch seconds; the table's TTL);
- the listing's marker, ``login = "#complete"`` (a login cannot contain ``#``), written once every page is
  cached: its ``listing``, whether the org has a SAML ``provider`` at all, and how many identities it cached.

A backfill's lookup trusts only its own listing: an item written by its listing is the identity; no item at
all after its listing's marker means the member has no linked identity (``not_found`` with no query); an
org without a provider is ``saml_not_configured`` with no query. Anything else (no marker: the listing did
not finish or could not write; an item of another backfill's listing; an expired item, since DynamoDB's TTL
deletes late) falls back to today's single-member query. So a second backfill never trusts the first one's
view of who has an identity, and a cache that is missing, stale or half written costs queries, never a
wrong record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import boto3
from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError

from functions.common.observability import logger

#: How long a listing's items are kept (the table's TTL attribute ``expiresAt``): a backfill's lookups run
#: within hours of its listing; a week leaves room for redrives and costs little (an item per member).
TTL_SECONDS = 7 * 24 * 3600
COMPLETE_LOGIN = "#complete"
BATCH_WRITE_LIMIT = 25  # DynamoDB BatchWriteItem: at most 25 put requests a call
#: Attempts at writing what BatchWriteItem left unprocessed (throttling), with exponential backoff.
UNPROCESSED_ATTEMPTS = 5
UNPROCESSED_BACKOFF_SECONDS = 0.05


@cache
def dynamodb_client() -> BaseClient:
    return boto3.client("dynamodb")


def _key(org: str, login: str) -> dict[str, Any]:
    return {"org": {"S": org.lower()}, "login": {"S": login.lower()}}


def _put(item: dict[str, Any]) -> dict[str, Any]:
    return {"PutRequest": {"Item": item}}


def _write(table: str, requests: list[dict[str, Any]]) -> bool:
    """Write ``requests`` 25 a call, retrying what DynamoDB leaves unprocessed; False if some stay unwritten."""
    client = dynamodb_client()
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        pending: dict[str, list[dict[str, Any]]] = {table: requests[start : start + BATCH_WRITE_LIMIT]}
        for attempt in range(UNPROCESSED_ATTEMPTS):
            try:
                pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            except (ClientError, BotoCoreError):
                logger.exception("could not cache SAML identities", extra={"table": table})
                return False
            if not pending.get(table):
                break
            time.sleep(UNPROCESSED_BACKOFF_SECONDS * 2**attempt)
        else:
            logger.warning(
                "SAML identities left unprocessed", extra={"table": table, "unprocessed": len(pending[table])}
            )
            return False
    return True


def store_identities(
    table: str, org: str, listing: str, identities: Mapping[str, dict[str, Any]], *, now: float | None = None
) -> bool:
    """Cache one page of identities (login -> samlIdentity) for ``listing``; False if some could not be written."""
    moment = int(time.time() if now is None else now)
    requests = [
        _put(
            {
                **_key(org, login),
                "listing": {"S": listing},
                "samlIdentity": {"S": json.dumps(identity, sort_keys=True)},
                "listedAt": {"N": str(moment)},
                "expiresAt": {"N": str(moment + TTL_SECONDS)},
            }
        )
        # one request per key: BatchWriteItem refuses a batch that names a key twice
        for login, identity in {login.lower(): identity for login, identity in identities.items()}.items()
    ]
    return _write(table, requests)


def store_complete(
    table: str, org: str, listing: str, *, provider: bool, identities: int, now: float | None = None
) -> bool:
    """Record that ``listing`` cached every identity of ``org`` (or that the org has no SAML provider)."""
    moment = int(time.time() if now is None else now)
    marker = {
        **_key(org, COMPLETE_LOGIN),
        "listing": {"S": listing},
        "provider": {"BOOL": provider},
        "identities": {"N": str(identities)},
        "listedAt": {"N": str(moment)},
        "expiresAt": {"N": str(moment + TTL_SECONDS)},
    }
    return _write(table, [_put(marker)])


@dataclass(frozen=True)
class CachedAnswer:
    """What the cache says about a member: ``found`` (with the identity), ``absent`` (the listing is complete
    and does not have them), ``no_provider`` (the org has no SAML provider) or ``unknown`` (ask GitHub)."""

    status: Literal["found", "absent", "no_provider", "unknown"]
    identity: dict[str, Any] | None = None


UNKNOWN = CachedAnswer("unknown")


def _get(table: str, org: str, login: str) -> dict[str, Any] | None:
    response = dynamodb_client().get_item(TableName=table, Key=_key(org, login), ConsistentRead=True)
    item: dict[str, Any] | None = response.get("Item")
    return item


def _current(item: dict[str, Any] | None, listing: str, now: float) -> bool:
    """Whether ``item`` was written by ``listing`` and has not expired (TTL deletes up to days late)."""
    if item is None or item.get("listing", {}).get("S") != listing:
        return False
    try:
        return int(item["expiresAt"]["N"]) > now
    except (KeyError, ValueError):
        return False


def cached_identity(table: str, org: str, login: str, listing: str, *, now: float | None = None) -> CachedAnswer:
    """What ``listing``'s cache says about ``login`` in ``org``; ``unknown`` whenever it cannot tell.

    A read that fails is ``unknown`` too: the query it falls back to is what the lookup did before the cache.
    """
    moment = time.time() if now is None else now
    try:
        item = _get(table, org, login)
        if _current(item, listing, moment):
            assert item is not None
            identity = json.loads(item["samlIdentity"]["S"])
            return CachedAnswer("found", identity) if isinstance(identity, dict) else UNKNOWN
        if item is not None:
            return UNKNOWN  # another listing's, or expired: this listing may have seen otherwise
        marker = _get(table, org, COMPLETE_LOGIN)
    except (ClientError, BotoCoreError, KeyError, ValueError):
        logger.exception("could not read the SAML identity cache", extra={"table": table, "login": login})
        return UNKNOWN
    if not _current(marker, listing, moment):
        return UNKNOWN
    assert marker is not None
    return CachedAnswer("absent") if marker.get("provider", {}).get("BOOL", True) else CachedAnswer("no_provider")
