"""The company record of a GitHub user, from the source the DIRECTORY setting names.

- ``github-saml``: the organization's SAML identity provider, through GitHub GraphQL
  (``organization.samlIdentityProvider.externalIdentities``): the SAML ``nameId`` is the employee id.
  When SSO is configured at the enterprise level the organization has no provider (null): the
  lookup then says ``saml_not_configured`` rather than failing. A backfilled member is looked up in the
  identities their backfill read 100 at a time (``saml_identity_page``, ``functions/saml_identities.py``).
- an ``https://`` URL: an internal HTTP directory answering ``GET {url}/{login}`` with JSON
  ``{employeeId, email, name, department?}`` (404 when it does not know the login).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from functions import saml_identities
from functions.common.errors import DirectoryUnavailable, GitHubRequestRejected
from functions.common.github import github_call, github_client, path_segment
from functions.common.settings import settings

SAML_DIRECTORY = "github-saml"
HTTP_TIMEOUT = httpx.Timeout(5.0)
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

DirectoryStatus = Literal["found", "not_found", "saml_not_configured"]


class DirectoryRejected(Exception):
    """The directory refused the request or answered something that is not a company record."""


class CompanyRecord(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, defer_build=True)

    employee_id: str
    email: str | None = None
    name: str | None = None
    department: str | None = None


class DirectoryResult(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    status: DirectoryStatus
    record: CompanyRecord | None = None
    source: str  # "github-saml" or the directory's URL
    detail: str | None = None  # why there is no record, in words


class Directory(Protocol):
    def lookup(self, org: str, login: str) -> DirectoryResult: ...


SAML_IDENTITY_QUERY = """
query($org: String!, $login: String!) {
  organization(login: $org) {
    samlIdentityProvider {
      externalIdentities(login: $login, first: 1) {
        nodes {
          samlIdentity { nameId givenName familyName emails { value primary } }
        }
      }
    }
  }
}
"""


#: One page of the org's identities, for a backfill's cache (functions/saml_identities.py). ``user`` is null
#: for an identity not linked to a GitHub account (SSO done, never signed in): it cannot be a member's.
SAML_IDENTITIES_PAGE_QUERY = """
query($org: String!, $after: String) {
  organization(login: $org) {
    samlIdentityProvider {
      externalIdentities(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes {
          user { login }
          samlIdentity { nameId givenName familyName emails { value primary } }
        }
      }
    }
  }
}
"""
SAML_IDENTITIES_PAGE_SIZE = 100  # GitHub's maximum for a connection's ``first``


@dataclass(frozen=True)
class SamlIdentityPage:
    """One page of an org's SAML identities: login -> samlIdentity, and the cursor of the next page (None:
    the last). ``provider`` is False when the org has no SAML identity provider (no identities at all)."""

    provider: bool
    identities: dict[str, dict[str, Any]]
    next_cursor: str | None


def saml_identity_page(org: str, cursor: str | None) -> SamlIdentityPage:
    """The page of ``org``'s SAML identities after ``cursor`` (the first page if None): one GraphQL call."""
    where = "the first page" if cursor is None else "a page"
    with github_call(f"list {where} of the SAML identities of {org}"):
        data = github_client().graphql.request(SAML_IDENTITIES_PAGE_QUERY, {"org": org, "after": cursor})
    provider = (data.get("organization") or {}).get("samlIdentityProvider")
    if provider is None:
        return SamlIdentityPage(provider=False, identities={}, next_cursor=None)
    connection = provider.get("externalIdentities") or {}
    identities = {
        node["user"]["login"]: node["samlIdentity"]
        for node in connection.get("nodes") or []
        if node and (node.get("user") or {}).get("login") and node.get("samlIdentity")
    }
    page_info = connection.get("pageInfo") or {}
    following = page_info.get("endCursor") if page_info.get("hasNextPage") else None
    if page_info.get("hasNextPage") and not following:
        raise GitHubRequestRejected(f"GitHub said {org} has more SAML identities but gave no cursor to them")
    return SamlIdentityPage(provider=True, identities=identities, next_cursor=following or None)


NOT_CONFIGURED_DETAIL = (
    "organization {org} has no SAML identity provider (SSO may be configured at the enterprise level); "
    "no company record"
)


class GitHubSamlDirectory:
    """The organization's SAML identities, as GitHub saw them at the person's last SSO sign-in."""

    def lookup_backfilled(self, org: str, login: str, listing: str) -> DirectoryResult:
        """A backfilled member: from the identities their backfill's listing cached, else one query."""
        table = settings().saml_identities_table
        if table:
            cached = saml_identities.cached_identity(table, org, login, listing)
            if cached.status == "found" and cached.identity is not None:
                return self._result(org, login, cached.identity)
            if cached.status == "absent":
                return self._result(org, login, None)
            if cached.status == "no_provider":
                return self._not_configured(org)
        return self.lookup(org, login)

    def _not_configured(self, org: str) -> DirectoryResult:
        return DirectoryResult(
            status="saml_not_configured", source=SAML_DIRECTORY, detail=NOT_CONFIGURED_DETAIL.format(org=org)
        )

    def _result(self, org: str, login: str, identity: dict[str, Any] | None) -> DirectoryResult:
        if not identity or not identity.get("nameId"):
            return DirectoryResult(
                status="not_found",
                source=SAML_DIRECTORY,
                detail=f"{login} has no linked SAML identity in {org}",
            )
        return DirectoryResult(status="found", source=SAML_DIRECTORY, record=_saml_record(identity))

    def lookup(self, org: str, login: str) -> DirectoryResult:
        with github_call(f"look up the SAML identity of {login} in {org}"):
            data = github_client().graphql.request(SAML_IDENTITY_QUERY, {"org": org, "login": login})
        organization = data.get("organization") or {}
        provider = organization.get("samlIdentityProvider")
        if provider is None:
            return self._not_configured(org)
        nodes = (provider.get("externalIdentities") or {}).get("nodes") or []
        identity = (nodes[0] or {}).get("samlIdentity") if nodes else None
        return self._result(org, login, identity)


def _saml_record(identity: dict[str, Any]) -> CompanyRecord:
    emails = [email for email in identity.get("emails") or [] if email.get("value")]
    primary = next((email for email in emails if email.get("primary")), emails[0] if emails else None)
    name = " ".join(part for part in (identity.get("givenName"), identity.get("familyName")) if part)
    return CompanyRecord(
        employee_id=identity["nameId"],
        email=primary["value"] if primary else None,
        name=name or None,
    )


class HttpDirectory:
    """An internal directory service: ``GET {base_url}/{login}``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def lookup(self, org: str, login: str) -> DirectoryResult:
        url = f"{self.base_url}/{path_segment(login)}"
        try:
            with httpx.Client(timeout=HTTP_TIMEOUT) as client:
                response = client.get(url, headers={"Accept": "application/json"})
        except httpx.TimeoutException as exc:
            raise DirectoryUnavailable(f"directory {self.base_url} did not answer in time") from exc
        except httpx.TransportError as exc:
            raise DirectoryUnavailable(f"could not reach directory {self.base_url}: {exc!r}") from exc

        if response.status_code == 404:
            return DirectoryResult(
                status="not_found", source=self.base_url, detail=f"the directory does not know {login}"
            )
        if response.status_code >= 500 or response.status_code == 429:
            raise DirectoryUnavailable(f"directory {self.base_url} answered {response.status_code}")
        if response.status_code != 200:
            raise DirectoryRejected(f"directory {self.base_url} answered {response.status_code} for {login}")
        try:
            record = CompanyRecord.model_validate_json(response.content)
        except ValidationError as exc:
            raise DirectoryRejected(
                f"directory {self.base_url} answered for {login} with no usable record: {exc}"
            ) from exc
        return DirectoryResult(status="found", source=self.base_url, record=record)


def directory_for(setting: str) -> Directory:
    """The directory a DIRECTORY setting names; a bad setting is a clear error, not a guess."""
    if setting == SAML_DIRECTORY:
        return GitHubSamlDirectory()
    try:
        url = httpx.URL(setting)
    except httpx.InvalidURL:
        url = None
    if url is not None and url.host and (url.scheme == "https" or (url.scheme == "http" and url.host in LOCAL_HOSTS)):
        return HttpDirectory(setting)
    raise ValueError(
        f"DIRECTORY={setting!r}: expected {SAML_DIRECTORY!r} or an https:// URL "
        "(http:// only for a directory on localhost)"
    )


def lookup(org: str, login: str, *, backfill: str | None = None) -> DirectoryResult:
    """The company record of ``login`` in ``org`` from the configured directory.

    ``backfill``: the delivery id of the backfill that listed the member; with the SAML directory, the
    identities that backfill cached answer without a query (functions/saml_identities.py).
    """
    source = directory_for(settings().directory)
    if backfill is not None and isinstance(source, GitHubSamlDirectory):
        return source.lookup_backfilled(org, login, backfill)
    return source.lookup(org, login)
