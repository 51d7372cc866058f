"""The company record of a GitHub user, from the source the DIRECTORY setting names.

- ``github-saml``: the organization's SAML identity provider, through GitHub GraphQL
  (``organization.samlIdentityProvider.externalIdentities``): the SAML ``nameId`` is the employee id.
  When SSO is configured at the enterprise level the organization has no provider (null): the
  lookup then says ``saml_not_configured`` rather than failing.
- an ``https://`` URL: an internal HTTP directory answering ``GET {url}/{login}`` with JSON
  ``{employeeId, email, name, department?}`` (404 when it does not know the login).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from functions.common.errors import DirectoryUnavailable
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


class GitHubSamlDirectory:
    """The organization's SAML identities, as GitHub saw them at the person's last SSO sign-in."""

    def lookup(self, org: str, login: str) -> DirectoryResult:
        with github_call(f"look up the SAML identity of {login} in {org}"):
            data = github_client().graphql.request(SAML_IDENTITY_QUERY, {"org": org, "login": login})
        organization = data.get("organization") or {}
        provider = organization.get("samlIdentityProvider")
        if provider is None:
            return DirectoryResult(
                status="saml_not_configured",
                source=SAML_DIRECTORY,
                detail=f"organization {org} has no SAML identity provider "
                "(SSO may be configured at the enterprise level); no company record",
            )
        nodes = (provider.get("externalIdentities") or {}).get("nodes") or []
        identity = (nodes[0] or {}).get("samlIdentity") if nodes else None
        if not identity or not identity.get("nameId"):
            return DirectoryResult(
                status="not_found",
                source=SAML_DIRECTORY,
                detail=f"{login} has no linked SAML identity in {org}",
            )
        return DirectoryResult(status="found", source=SAML_DIRECTORY, record=_saml_record(identity))


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


def lookup(org: str, login: str) -> DirectoryResult:
    """The company record of ``login`` in ``org`` from the configured directory."""
    return directory_for(settings().directory).lookup(org, login)
