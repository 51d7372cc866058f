"""A fake GitHub for the function tests, served through respx (no network).

It speaks the parts of the API the functions use, the way GitHub does: the App installation token
exchange (checking the App JWT's RS256 signature against the App's public key), team membership
PUT, org members and run-attempt jobs with ``Link`` pagination, and the GraphQL SAML identity
lookup. Its data is seeded per test, and faults can be switched on for the next N matching calls:
5xx, timeouts, 429 with ``Retry-After``, and the 403 forms of GitHub's rate limits.

Use the ``github_app`` fixture (import it into the test module): it stores the App secret in moto's
Secrets Manager, points the function environment at the fake and yields the :class:`FakeGitHub`.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any, Literal

import boto3
import httpx
import pytest
import respx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from moto import mock_aws

API_URL = "https://api.github.test"
APP_ID = 123456
INSTALLATION_ID = 2311213  # the id in the installation/created fixture
FIXTURES = Path(__file__).parents[1] / "fixtures" / "github-webhooks"

Fault = Literal[
    "server_error",  # 502 Bad Gateway
    "timeout",  # the read times out
    "too_many_requests",  # 429 with Retry-After
    "secondary_rate_limit",  # 403, message only (no Retry-After, primary quota left)
    "secondary_rate_limit_retry_after",  # 403 with Retry-After
    "primary_rate_limit",  # 403 with x-ratelimit-remaining: 0 and x-ratelimit-reset
    "forbidden",  # 403: the App lacks a permission
    "graphql_rate_limited",  # 200 with a RATE_LIMITED GraphQL error, quota exhausted
]
RETRY_AFTER_SECONDS = 37


def fixture_payload(event: str, name: str) -> dict[str, Any]:
    """A webhook fixture's payload (a fresh copy: callers may change it)."""
    return copy.deepcopy(_read_fixture(event, name))


@cache
def _read_fixture(event: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / event / f"{name}.payload.json").read_text())


@cache
def app_private_key() -> RSAPrivateKey:
    """One real 2048-bit RSA key per test session (generating one takes a moment)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def app_private_key_pem() -> str:
    return (
        app_private_key()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_app_jwt(token: str, public_key: RSAPublicKey, app_id: int) -> str | None:
    """Why GitHub would refuse this App JWT, or None if it is valid."""
    try:
        header, body, signature = token.split(".")
        public_key.verify(_b64url_decode(signature), f"{header}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return "A JSON web token could not be decoded"
    if json.loads(_b64url_decode(header)).get("alg") != "RS256":
        return "'alg' must be RS256"
    claims = json.loads(_b64url_decode(body))
    now = time.time()
    if str(claims.get("iss")) != str(app_id):
        return "'Issuer' claim ('iss') must be the App id"
    if not claims.get("iat", now + 1) <= now < claims.get("exp", 0) or claims["exp"] - claims["iat"] > 660:
        return "'Expiration time' claim ('exp') is too far in the future or in the past"
    return None


def make_user(login: str, user_id: int) -> dict[str, Any]:
    """A SimpleUser as the REST API returns it."""
    user = dict(_read_fixture("organization", "member_added")["membership"]["user"])  # flat: a shallow copy will do
    user.update(login=login, id=user_id, node_id=f"U_{user_id}")
    for name, value in list(user.items()):
        if isinstance(value, str) and "hacktocat" in value:
            user[name] = value.replace("hacktocat", login)
    return user


def make_job(
    *,
    job_id: int,
    run_id: int,
    attempt: int,
    name: str,
    labels: list[str],
    started_at: str,
    completed_at: str | None,
    conclusion: str | None = "success",
    owner: str = "octo-org",
    repo: str = "octo-repo",
) -> dict[str, Any]:
    """A job as the jobs API returns it (shape taken from the workflow_job fixture)."""
    job = copy.deepcopy(_read_fixture("workflow_job", "completed.success.with-organization")["workflow_job"])
    job.update(
        id=job_id,
        run_id=run_id,
        run_attempt=attempt,
        name=name,
        labels=labels,
        started_at=started_at,
        created_at=started_at,
        completed_at=completed_at,
        conclusion=conclusion,
        status="completed",
        run_url=f"{API_URL}/repos/{owner}/{repo}/actions/runs/{run_id}",
        url=f"{API_URL}/repos/{owner}/{repo}/actions/jobs/{job_id}",
        html_url=f"https://github.com/{owner}/{repo}/actions/runs/{run_id}/job/{job_id}",
        steps=[],
    )
    return job


@dataclass
class _PendingFault:
    kind: Fault
    remaining: int
    path: str | None
    skip: int  # matching requests to let through first


@dataclass
class FakeGitHub:
    public_key: RSAPublicKey
    app_id: int = APP_ID
    installation_id: int = INSTALLATION_ID
    # seeded data
    org_members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    teams: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (org, slug) -> login -> role
    run_jobs: dict[tuple[str, str, int, int], list[dict[str, Any]]] = field(default_factory=dict)
    # org -> login -> samlIdentity; None: the org has no SAML provider (enterprise-level SSO)
    saml: dict[str, dict[str, dict[str, Any]] | None] = field(default_factory=dict)
    # what happened
    requests: list[httpx.Request] = field(default_factory=list)
    token_exchanges: int = 0
    router: respx.MockRouter | None = None  # the respx router, to add other hosts (an HTTP directory)
    _tokens: set[str] = field(default_factory=set)
    _faults: list[_PendingFault] = field(default_factory=list)

    # --- seeding and faults ----------------------------------------------------------------------

    def add_member(self, org: str, login: str, user_id: int) -> None:
        self.org_members.setdefault(org, []).append(make_user(login, user_id))

    def add_team(self, org: str, slug: str) -> None:
        self.teams.setdefault((org, slug), {})

    def fail(self, kind: Fault, *, times: int = 1, path: str | None = None, skip: int = 0) -> None:
        """Answer ``times`` requests whose path contains ``path`` (any, if None) with ``kind``,
        after letting ``skip`` of them through (e.g. ``skip=1``: fail the second page)."""
        self._faults.append(_PendingFault(kind, times, path, skip))

    def calls(self, path_pattern: str) -> list[httpx.Request]:
        return [request for request in self.requests if re.search(path_pattern, request.url.path)]

    # --- the server ------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if (fault := self._take_fault(request.url.path)) is not None:
            return self._fault_response(fault, request)
        path = request.url.path
        if match := re.fullmatch(r"/app/installations/(\d+)/access_tokens", path):
            return self._access_token(request, int(match.group(1)))
        if (refusal := self._check_token(request)) is not None:
            return refusal
        routes = (
            ("PUT", r"/orgs/([^/]+)/teams/([^/]+)/memberships/([^/]+)", self._put_team_membership),
            ("GET", r"/orgs/([^/]+)/members", self._list_members),
            ("GET", r"/repos/([^/]+)/([^/]+)/actions/runs/(\d+)/attempts/(\d+)/jobs", self._list_jobs),
            ("POST", r"/graphql", self._graphql),
        )
        for method, pattern, handler in routes:
            if request.method == method and (match := re.fullmatch(pattern, path)):
                return handler(request, *match.groups())
        return _error(404, "Not Found")

    def _take_fault(self, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and (fault.path is None or fault.path in path):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.remaining -= 1
                return fault.kind
        return None

    @staticmethod
    def _fault_response(kind: Fault, request: httpx.Request) -> httpx.Response:
        quota = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4990"}
        match kind:
            case "server_error":
                return httpx.Response(502, text="<html>Bad Gateway</html>")
            case "timeout":
                raise httpx.ReadTimeout("timed out", request=request)
            case "too_many_requests":
                return _error(429, "Too Many Requests", {"retry-after": str(RETRY_AFTER_SECONDS)})
            case "secondary_rate_limit":
                return _error(403, "You have exceeded a secondary rate limit. Please wait a few minutes.", quota)
            case "secondary_rate_limit_retry_after":
                return _error(
                    403,
                    "You have exceeded a secondary rate limit.",
                    {**quota, "retry-after": str(RETRY_AFTER_SECONDS)},
                )
            case "primary_rate_limit":
                reset = int(time.time()) + 600
                return _error(
                    403,
                    "API rate limit exceeded for installation ID 2311213.",
                    {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
                )
            case "forbidden":
                return _error(403, "Resource not accessible by integration", quota)
            case "graphql_rate_limited":
                exhausted = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0"}
                return httpx.Response(
                    200,
                    json={"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for installation."}]},
                    headers={**exhausted, "x-ratelimit-reset": str(int(time.time()) + 600)},
                )
        raise AssertionError(kind)

    def _access_token(self, request: httpx.Request, installation_id: int) -> httpx.Response:
        if request.method != "POST":
            return _error(404, "Not Found")
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            return _error(401, "A JSON web token could not be decoded")
        if (problem := verify_app_jwt(authorization.removeprefix("Bearer "), self.public_key, self.app_id)) is not None:
            return _error(401, problem)
        if installation_id != self.installation_id:
            return _error(404, "Not Found")
        self.token_exchanges += 1
        token = f"ghs_{secrets.token_hex(18)}"
        self._tokens.add(token)
        expires_at = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return httpx.Response(
            201, json={"token": token, "expires_at": expires_at, "permissions": {}, "repository_selection": "all"}
        )

    def _check_token(self, request: httpx.Request) -> httpx.Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or token not in self._tokens:
            return _error(401, "Bad credentials")
        return None

    def _put_team_membership(self, request: httpx.Request, org: str, slug: str, login: str) -> httpx.Response:
        if (org, slug) not in self.teams:
            return _error(404, "Not Found")
        role = json.loads(request.content or b"{}").get("role", "member")
        if role not in ("member", "maintainer"):
            return _error(422, "Validation Failed")
        self.teams[(org, slug)][login] = role
        in_org = any(user["login"] == login for user in self.org_members.get(org, []))
        return httpx.Response(
            200,
            json={
                "url": f"{API_URL}/organizations/1/team/1/memberships/{login}",
                "role": role,
                "state": "active" if in_org else "pending",
            },
        )

    def _list_members(self, request: httpx.Request, org: str) -> httpx.Response:
        if org not in self.org_members:
            return _error(404, "Not Found")
        items, headers = _page(request, self.org_members[org])
        return httpx.Response(200, json=items, headers=headers)

    def _list_jobs(self, request: httpx.Request, owner: str, repo: str, run_id: str, attempt: str) -> httpx.Response:
        key = (owner, repo, int(run_id), int(attempt))
        if key not in self.run_jobs:
            return _error(404, "Not Found")
        jobs = self.run_jobs[key]
        items, headers = _page(request, jobs)
        return httpx.Response(200, json={"total_count": len(jobs), "jobs": items}, headers=headers)

    def _graphql(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        query, variables = body["query"], body.get("variables") or {}
        if "samlIdentityProvider" not in query or "externalIdentities" not in query:
            return httpx.Response(200, json={"errors": [{"message": "this fake only answers the SAML lookup"}]})
        org, login = variables["org"], variables["login"]
        if org not in self.saml:
            return httpx.Response(
                200,
                json={
                    "data": {"organization": None},
                    "errors": [
                        {
                            "type": "NOT_FOUND",
                            "path": ["organization"],
                            "message": f"Could not resolve to an Organization with the login of '{org}'.",
                        }
                    ],
                },
            )
        identities = self.saml[org]
        if identities is None:
            return httpx.Response(200, json={"data": {"organization": {"samlIdentityProvider": None}}})
        nodes = [{"samlIdentity": identities[login]}] if login in identities else []
        return httpx.Response(
            200, json={"data": {"organization": {"samlIdentityProvider": {"externalIdentities": {"nodes": nodes}}}}}
        )


def _page(request: httpx.Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """One page of ``items`` and its ``Link`` header, as GitHub paginates (per_page default 30, max 100)."""
    per_page = min(int(request.url.params.get("per_page", 30)), 100)
    page = int(request.url.params.get("page", 1))
    start = (page - 1) * per_page
    links = []
    if start + per_page < len(items):
        links.append(f'<{request.url.copy_set_param("page", page + 1)}>; rel="next"')
        last = (len(items) + per_page - 1) // per_page
        links.append(f'<{request.url.copy_set_param("page", last)}>; rel="last"')
    return items[start : start + per_page], ({"link": ", ".join(links)} if links else {})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        json={"message": message, "documentation_url": "https://docs.github.com/rest", "status": str(status)},
        headers=headers,
    )


@pytest.fixture
def github_app(function_env: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """The fake GitHub, with the App secret in (moto) Secrets Manager and the function env pointing at both."""
    from functions.common.github import _client_for

    fake = FakeGitHub(public_key=app_private_key().public_key())
    with mock_aws():
        secret = boto3.client("secretsmanager").create_secret(
            Name="github-app",
            SecretString=json.dumps(
                {"appId": fake.app_id, "installationId": fake.installation_id, "privateKey": app_private_key_pem()}
            ),
        )
        function_env.setenv("GITHUB_APP_SECRET_ARN", secret["ARN"])
        function_env.setenv("GITHUB_API_URL", API_URL)
        _client_for.cache_clear()
        with respx.mock(assert_all_called=False) as router:
            router.route(url__startswith=API_URL).mock(side_effect=fake.handle)
            fake.router = router
            yield fake
        _client_for.cache_clear()
