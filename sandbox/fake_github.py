"""A fake GitHub: one transport-free core, served on loopback for the sandbox or through httpx for tests.

:class:`FakeGitHub` holds the state (org members, teams, SAML identities, directory records, the jobs
of run attempts, issued tokens, pending faults, every request) and answers
``handle(method, url, headers, body)`` the way GitHub answers the calls the functions make:

- ``POST /app/installations/{id}/access_tokens`` with an App JWT (RS256, checked against the App's
  public key, GitHub's ``iss``/``iat``/``exp`` rules) -> an installation token; every other API call
  needs one;
- ``PUT /orgs/{org}/teams/{team}/memberships/{user}``, ``GET /orgs/{org}/members`` (``Link``
  pagination), ``GET /users/{login}``,
  ``GET /repos/{owner}/{repo}/actions/runs/{id}/attempts/{n}/jobs`` (``Link`` pagination);
- ``GET /organizations/{org}/settings/billing/usage`` (``year``/``month``/``day``): the org's billing usage
  report, what GitHub bills the seeded runs (``sandbox/fake_billing.py``);
- ``POST /graphql``: the ``organization.samlIdentityProvider.externalIdentities`` lookup by login, and
  the org's identities a page at a time (``first`` at most 100, ``after`` an opaque cursor, ``pageInfo``);
- ``GET /directory/{login}``: an internal HTTP company directory (no token), so a stack's
  ``directory`` setting can point at ``<server url>/directory``.

Every API request (not the App's token exchange, not the directory: :data:`QUOTA_PATHS`) goes through
GitHub's rate limits, as ``rate_limits`` (:mod:`sandbox.fake_rate_limits`) enforces them on the sandbox's
scaled clock: the primary quota per hour and resource (``core``, ``graphql``; a 403 ``API rate limit
exceeded``, or GraphQL's ``RATE_LIMITED`` error, with ``x-ratelimit-remaining: 0``), and the secondary
limits, points per minute and concurrent requests (a 403 with ``retry-after``); every API response carries
the ``x-ratelimit-*`` headers of its resource.

Faults (5xx, timeouts, 429 with ``Retry-After``, GitHub's 403 rate limits) and latency (``slow_down``:
answer N seconds late) are switched on at run time for the next N requests whose path matches a pattern,
or for all of them; ``exhaust_rate_limit`` spends the primary quota for a while (time-scaled like the
sandbox). Faults and an exhausted quota come before the rate limits (a faulted request counts nothing and
keeps the rate-limit headers its fault sets). The core is thread-safe, and slow requests overlap (and are in
flight, for the concurrency limit, while they wait).
:class:`FakeGitHubServer` serves a core on 127.0.0.1 (a free port); :func:`httpx_handler` adapts it to
httpx (respx routes, ``httpx.MockTransport``). :data:`SANDBOX_ORG` is the org the sandbox seeds.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import re
import secrets
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from sandbox.fake_rate_limits import (
    GRAPHQL_RATE_LIMITED_MESSAGE,
    PRIMARY_MESSAGE,
    SECONDARY_MESSAGE,
    RateLimitPolicy,
    RateLimits,
    Verdict,
    resource_of,
)

API_URL = "https://api.github.test"  # the in-process (httpx) fake's base URL
DIRECTORY_PREFIX = "/directory"
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "github-webhooks"
MAX_JWT_LIFETIME_SECONDS = 600 + 60  # GitHub: exp at most 10 minutes ahead (plus clock drift)
RETRY_AFTER_SECONDS = 37
#: The REST API versions github.com answers (docs.github.com, "API Versions"); 2022-11-28 is also the
#: version every supported GitHub Enterprise Server release knows, and the one used without the header.
GITHUB_COM_API_VERSIONS = frozenset({"2022-11-28", "2026-03-10"})
#: When a counted ``primary_rate_limit``/``graphql_rate_limited`` fault says the quota resets. It ends after
#: N requests, not at a time: a minute keeps its advised wait within an EXPRESS execution's budget.
PRIMARY_RESET_SECONDS = 60
#: What an installation's quota covers: the API, not the App's token exchange nor the company directory.
QUOTA_PATHS = rf"^/(?!app/|{DIRECTORY_PREFIX.strip('/')}/)"
PER_PAGE_DEFAULT, PER_PAGE_MAX = 30, 100

Fault = Literal[
    "server_error",  # 502 Bad Gateway
    "timeout",  # no answer: the client's read times out
    "too_many_requests",  # 429 with Retry-After
    "secondary_rate_limit",  # 403, message only (no Retry-After, primary quota left)
    "secondary_rate_limit_retry_after",  # 403 with Retry-After
    "primary_rate_limit",  # 403 with x-ratelimit-remaining: 0 and x-ratelimit-reset
    "forbidden",  # 403: the App lacks a permission
    "graphql_rate_limited",  # 200 with a RATE_LIMITED GraphQL error, quota exhausted
]


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


class SimulatedTimeout(Exception):
    """The fake decided not to answer (the ``timeout`` fault); each adapter makes that a timeout."""


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    status: int | None  # None: not answered (timeout fault)
    api_version: str | None = None  # the X-GitHub-Api-Version header, if the request had one
    raw_path: str = ""  # the path as sent, percent-escapes kept


# --- fixtures and keys -----------------------------------------------------------------------------


def fixture_payload(event: str, name: str) -> dict[str, Any]:
    """A webhook fixture's payload (a fresh copy: callers may change it)."""
    return copy.deepcopy(_read_fixture(event, name))


@cache
def _read_fixture(event: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / event / f"{name}.payload.json").read_text())


@dataclass(frozen=True)
class AppKey:
    """A GitHub App's RSA key pair: the private half goes into the stack's App secret, the public one
    into the fake, which checks the App JWTs with it."""

    private_key: RSAPrivateKey

    @classmethod
    def generate(cls) -> AppKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @property
    def public_key(self) -> RSAPublicKey:
        return self.private_key.public_key()

    @property
    def private_key_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()


def verify_app_jwt(token: str, public_key: RSAPublicKey, app_id: int) -> str | None:
    """Why GitHub would refuse this App JWT, or None if it is valid."""
    try:
        claims = jwt.decode(
            token, public_key, algorithms=["RS256"], options={"require": ["iat", "exp", "iss"]}, leeway=60
        )
    except jwt.ExpiredSignatureError:
        return "'Expiration time' claim ('exp') must be a numeric value representing the future time"
    except jwt.ImmatureSignatureError:
        return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
    except jwt.InvalidTokenError:
        return "A JSON web token could not be decoded"
    if str(claims["iss"]) != str(app_id):
        return "'Issuer' claim ('iss') must be an Integer"
    if claims["exp"] - claims["iat"] > MAX_JWT_LIFETIME_SECONDS:
        return "'Expiration time' claim ('exp') is too far in the future"
    return None


# --- REST shapes -----------------------------------------------------------------------------------


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
    api_url: str = API_URL,
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
        run_url=f"{api_url}/repos/{owner}/{repo}/actions/runs/{run_id}",
        url=f"{api_url}/repos/{owner}/{repo}/actions/jobs/{job_id}",
        html_url=f"https://github.com/{owner}/{repo}/actions/runs/{run_id}/job/{job_id}",
        steps=[],
    )
    return job


# --- seeded data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """An org member and their company record (SAML identity and directory entry alike)."""

    login: str
    user_id: int
    employee_id: str | None = None  # None: known to neither the SAML provider nor the directory
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    department: str = ""

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.given_name, self.family_name) if part)

    def saml_identity(self) -> dict[str, Any]:
        return {
            "nameId": self.employee_id,
            "givenName": self.given_name,
            "familyName": self.family_name,
            "emails": [{"value": self.email, "primary": True}],
        }

    def directory_record(self) -> dict[str, Any]:
        return {"employeeId": self.employee_id, "email": self.email, "name": self.name, "department": self.department}


@dataclass(frozen=True)
class JobSpec:
    name: str
    labels: tuple[str, ...]
    started_at: datetime
    seconds: int
    conclusion: str = "success"  # "skipped": GitHub bills nothing

    @property
    def completed_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class RunSpec:
    """A completed run attempt; ``completed_at`` is the run's ``updated_at`` (its booking month)."""

    repo: str
    run_id: int
    attempt: int
    workflow_name: str
    completed_at: datetime
    jobs: tuple[JobSpec, ...]
    conclusion: str = "success"
    event: str = "push"
    head_branch: str = "main"


@dataclass(frozen=True)
class OrgSeed:
    org: str
    team: str
    app_id: int
    installation_id: int
    members: tuple[Person, ...]
    repos: Mapping[str, bool]  # name -> private
    runs: tuple[RunSpec, ...]
    # A GitHub user (no longer in the org) whose team membership PUT answers 502 every time: the
    # delivery that adds them fails on every try, through both architectures' retries to the end.
    unreachable: Person
    # The free minutes a month of the org's plan, as the fake's billing report applies them.
    included_minutes: int = 0

    def member(self, login: str) -> Person:
        return next(person for person in (*self.members, self.unreachable) if person.login == login)

    def run(self, repo: str, run_id: int, attempt: int) -> RunSpec:
        return next(run for run in self.runs if (run.repo, run.run_id, run.attempt) == (repo, run_id, attempt))


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _sandbox_org() -> OrgSeed:
    people = [
        ("alice", "Alice", "Liddell", "Platform"),
        ("bob", "Bob", "Builder", "Infrastructure"),
        ("carol", "Carol", "Danvers", "Security"),
        ("dave", "Dave", "Bowman", "Platform"),
        ("erin", "Erin", "Brockovich", "Legal"),
        ("frank", "Frank", "Herbert", "Data"),
        ("grace", "Grace", "Hopper", "Compilers"),
        ("heidi", "Heidi", "Klum", "Design"),
        ("ivan", "Ivan", "Petrov", "Infrastructure"),
        ("judy", "Judy", "Hopps", "Security"),
    ]
    members = [
        Person(login, 7_100_001 + index, f"E{1001 + index}", given, family, f"{login}@example.com", department)
        for index, (login, given, family, department) in enumerate(people)
    ]
    members += [Person("contractor-kim", 7_100_101), Person("bot-builder", 7_100_102)]  # no company record
    day = _utc("2026-03-05T10:00:00")
    ci = (
        JobSpec("build", ("ubuntu-latest",), day, 630),  # 11 min x 0.006 = 0.066
        JobSpec("test (windows)", ("windows-latest",), day, 240),  # 4 x 0.010 = 0.040
        JobSpec("test (macos)", ("macos-latest",), day, 61),  # 2 x 0.062 = 0.124
        JobSpec("deploy", ("self-hosted", "linux", "x64"), day, 1800),  # 30 min, free
        JobSpec("lint (arm)", ("ubuntu-24.04-arm",), day, 59),  # 1 x 0.005 = 0.005
        JobSpec("gpu tests", ("org-gpu-large",), day, 300),  # unknown label: 5 x 0.006 = 0.030, estimated
        JobSpec("docs", ("ubuntu-latest",), day, 0, conclusion="skipped"),
    )
    rerun_day = _utc("2026-03-20T08:00:00")
    nightly_start = _utc("2025-12-31T23:50:00")
    matrix_day = _utc("2026-04-02T12:00:00")
    pages_day = _utc("2026-03-07T09:00:00")
    runs = (
        RunSpec("payments", 9_001, 1, "CI", _utc("2026-03-05T10:31:00"), ci),
        RunSpec(
            "payments",
            9_002,
            2,
            "CI",
            _utc("2026-03-20T08:10:00"),
            (
                JobSpec("build", ("ubuntu-latest",), rerun_day, 120),  # 2 x 0.006 = 0.012
                JobSpec("test (windows)", ("windows-latest",), rerun_day, 570),  # 10 x 0.010 = 0.100
            ),
            event="pull_request",
            head_branch="feature/retry",
        ),
        # Started at the 2025 rate, completed (booked) in January 2026: 20 x 0.008 = 0.160
        RunSpec(
            "payments",
            8_001,
            1,
            "Nightly",
            _utc("2026-01-01T00:11:00"),
            (JobSpec("nightly", ("ubuntu-latest",), nightly_start, 1200),),
            event="schedule",
        ),
        # A 101-job matrix: two pages of jobs. 101 x 1 min x 0.006 = 0.606
        RunSpec(
            "payments",
            9_003,
            1,
            "Matrix",
            _utc("2026-04-02T12:05:00"),
            tuple(JobSpec(f"shard {n:03d}", ("ubuntu-latest",), matrix_day, 45) for n in range(101)),
        ),
        # Public repository: standard runners free, the unknown (larger) runner still charged: 1 x 0.006
        RunSpec(
            "website",
            7_001,
            1,
            "Pages",
            _utc("2026-03-07T09:10:00"),
            (
                JobSpec("build", ("ubuntu-latest",), pages_day, 180),
                JobSpec("screenshots", ("macos-latest",), pages_day, 120),
                JobSpec("render", ("org-gpu-large",), pages_day, 60),
            ),
        ),
    )
    return OrgSeed(
        org="octo-org",
        team="onboarding",
        app_id=123456,
        installation_id=2311213,
        members=tuple(members),
        repos={"payments": True, "website": False},
        runs=runs,
        unreachable=Person("departed-dev", 7_100_999, "E0999", "Departed", "Developer", "departed@example.com"),
        included_minutes=10,
    )


SANDBOX_ORG = _sandbox_org()


def run_jobs_json(org: str, run: RunSpec) -> list[dict[str, Any]]:
    """The jobs API's view of a seeded run attempt."""
    return [
        make_job(
            job_id=run.run_id * 1000 + index,
            run_id=run.run_id,
            attempt=run.attempt,
            name=job.name,
            labels=list(job.labels),
            started_at=_iso(job.started_at),
            completed_at=_iso(job.completed_at),
            conclusion=job.conclusion,
            owner=org,
            repo=run.repo,
        )
        for index, job in enumerate(run.jobs)
    ]


# --- the core --------------------------------------------------------------------------------------


@dataclass
class _PendingFault:
    kind: Fault
    remaining: int | None  # None: every matching request
    pattern: re.Pattern[str] | None
    skip: int  # matching requests to let through first


@dataclass
class _Exhaustion:
    seconds: float
    time_scale: float
    pattern: re.Pattern[str]
    ends_at: float | None = None  # time.monotonic(); set by the first request that spends the quota


@dataclass
class _PendingLatency:
    seconds: float
    remaining: int | None  # None: every matching request
    pattern: re.Pattern[str] | None


@dataclass
class FakeGitHub:
    public_key: RSAPublicKey
    app_id: int = 123456
    installation_id: int = 2311213
    # seeded data
    org_members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # login -> SimpleUser (members or not)
    teams: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (org, slug) -> login -> role
    run_jobs: dict[tuple[str, str, int, int], list[dict[str, Any]]] = field(default_factory=dict)
    # org -> login -> samlIdentity; None: the org has no SAML provider (enterprise-level SSO)
    saml: dict[str, dict[str, dict[str, Any]] | None] = field(default_factory=dict)
    directory: dict[str, dict[str, Any]] = field(default_factory=dict)  # login -> company record JSON
    # org -> the usage items of its billing usage report (sandbox/fake_billing.py has their shape)
    billing_usage: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # REST API versions this server knows (github.com's by default; a GitHub Enterprise Server release
    # knows fewer): a request naming another in X-GitHub-Api-Version is a 400, as GitHub answers it.
    api_versions: frozenset[str] = GITHUB_COM_API_VERSIONS
    # GitHub's primary and secondary rate limits for the API requests (sandbox/fake_rate_limits.py)
    rate_limits: RateLimits = field(default_factory=lambda: RateLimits(RateLimitPolicy()))
    # what happened
    requests: list[RecordedRequest] = field(default_factory=list)
    token_exchanges: int = 0
    _tokens: set[str] = field(default_factory=set, repr=False)
    _faults: list[_PendingFault] = field(default_factory=list, repr=False)
    _exhaustion: _Exhaustion | None = field(default=None, repr=False)
    _latencies: list[_PendingLatency] = field(default_factory=list, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def seeded(
        cls,
        seed: OrgSeed,
        public_key: RSAPublicKey,
        *,
        rate_limits: RateLimitPolicy | None = None,
        epoch: float | None = None,
    ) -> FakeGitHub:
        """A fake holding ``seed``: its members (with SAML identities and directory records), the team,
        the jobs of its runs, and the always-failing team membership of ``seed.unreachable``; its API
        requests limited by ``rate_limits`` (GitHub's defaults at GitHub's pace, if None), on GitHub's
        clock from ``epoch`` (``RateLimits``)."""
        fake = cls(
            public_key=public_key,
            app_id=seed.app_id,
            installation_id=seed.installation_id,
            rate_limits=RateLimits(rate_limits or RateLimitPolicy(), epoch=epoch),
        )
        fake.add_team(seed.org, seed.team)
        fake.saml[seed.org] = {}
        for person in seed.members:
            fake.add_member(seed.org, person.login, person.user_id)
            if person.employee_id is not None:
                fake.saml[seed.org][person.login] = person.saml_identity()  # type: ignore[index]
                fake.directory[person.login] = person.directory_record()
        fake.users[seed.unreachable.login] = make_user(seed.unreachable.login, seed.unreachable.user_id)
        for run in seed.runs:
            fake.run_jobs[(seed.org, run.repo, run.run_id, run.attempt)] = run_jobs_json(seed.org, run)
        from sandbox.fake_billing import billing_usage_items

        fake.billing_usage[seed.org] = billing_usage_items(seed, included_minutes=seed.included_minutes)
        fake.fail(
            "server_error",
            times=None,
            path=rf"^/orgs/{re.escape(seed.org)}/teams/[^/]+/memberships/{re.escape(seed.unreachable.login)}$",
        )
        return fake

    # --- seeding, faults, what happened ------------------------------------------------------------

    def add_member(self, org: str, login: str, user_id: int) -> None:
        with self._lock:
            user = make_user(login, user_id)
            self.org_members.setdefault(org, []).append(user)
            self.users[login] = user

    def add_team(self, org: str, slug: str) -> None:
        with self._lock:
            self.teams.setdefault((org, slug), {})

    def fail(self, kind: Fault, *, times: int | None = 1, path: str | None = None, skip: int = 0) -> None:
        """Answer ``times`` requests (every one, if None) whose path matches the regular expression
        ``path`` (any path, if None) with ``kind``, after letting ``skip`` of them through."""
        with self._lock:
            self._faults.append(_PendingFault(kind, times, re.compile(path) if path is not None else None, skip))

    def exhaust_rate_limit(self, seconds: float, *, time_scale: float = 1.0, path: str = QUOTA_PATHS) -> None:
        """Exhaust the installation's primary rate limit, as a burst that spends its quota does: from the
        next request whose path matches ``path``, and for ``seconds``, every such request answers 403 with
        ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset`` at the end of the window.

        ``time_scale`` is the sandbox's: the window lasts ``seconds * time_scale`` real seconds, and the
        reset header counts the time left at GitHub's pace on GitHub's clock (``github_now + left /
        time_scale``), so a product that waits as told, with its waits scaled by the sandbox, calls again
        just when the window is over.
        """
        if seconds < 0 or time_scale <= 0:
            raise ValueError(f"seconds must be >= 0 and time_scale > 0, not {seconds} and {time_scale}")
        with self._lock:
            self._exhaustion = _Exhaustion(seconds, time_scale, re.compile(path))

    def _exhausted(self, path: str) -> Reply | None:
        exhaustion = self._exhaustion
        if exhaustion is None or not exhaustion.pattern.search(path):
            return None
        if exhaustion.ends_at is None:
            exhaustion.ends_at = time.monotonic() + exhaustion.seconds * exhaustion.time_scale
        left = exhaustion.ends_at - time.monotonic()
        if left <= 0:
            return None
        reset = math.ceil(self.rate_limits.github_now() + left / exhaustion.time_scale)
        return _primary_rate_limit(self.installation_id, reset)

    def slow_down(self, seconds: float, *, times: int | None = None, path: str | None = None) -> None:
        """Answer ``times`` requests (every one, if None) whose path matches ``path`` ``seconds`` late.

        The wait happens outside the fake's lock, so concurrent slow requests overlap as they would
        on GitHub. A latency and a fault may apply to the same request: the fault comes late.
        """
        if seconds < 0:
            raise ValueError(f"slow_down: seconds must be >= 0, got {seconds!r}")
        with self._lock:
            self._latencies.append(_PendingLatency(seconds, times, re.compile(path) if path is not None else None))

    def clear_faults(self) -> None:
        """Remove every pending fault and latency."""
        with self._lock:
            self._faults.clear()
            self._exhaustion = None
            self._latencies.clear()

    def calls(self, path_pattern: str, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                request
                for request in self.requests
                if re.search(path_pattern, request.path) and (method is None or request.method == method)
            ]

    # --- the server --------------------------------------------------------------------------------

    def handle(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request; raises :class:`SimulatedTimeout` for the ``timeout`` fault.

        On arrival, under the lock: the request's latency, then an exhausted quota or a fault, else (an API
        request) the rate limits' verdict. An admitted request is in flight while its latency is slept
        (outside the lock) and it is answered; ``rate_limits.done()`` once it has been.
        """
        parts = urlsplit(url)
        path = unquote(parts.path)
        method = method.upper()
        lowered = {k.lower(): v for k, v in headers.items()}
        version = lowered.get("x-github-api-version")
        api = re.search(QUOTA_PATHS, path) is not None
        verdict: Verdict | None = None
        fault: Fault | None = None
        with self._lock:
            delay = self._take_latency(path)
            early = self._exhausted(path)
            if early is None and (fault := self._take_fault(path)) is None and api:
                verdict = self.rate_limits.admit(method, path, body)
                if not verdict.admitted:
                    early = self._rate_limited(verdict)
        try:
            if delay > 0:
                time.sleep(delay)
            with self._lock:
                try:
                    if early is not None:
                        reply = early
                    elif fault is not None:
                        reply = _fault_reply(fault, self.installation_id, self.rate_limits.github_now())
                    else:
                        reply = self._answer(method, url, parts.path, lowered, body)
                except SimulatedTimeout:
                    self.requests.append(RecordedRequest(method, path, parts.query, None, version, parts.path))
                    raise
                self.requests.append(RecordedRequest(method, path, parts.query, reply.status, version, parts.path))
                if not api:
                    return reply
                # as GitHub, every API response says where its quota stands; a fault keeps the values it set
                quota = verdict.headers if verdict is not None else self.rate_limits.headers(resource_of(path))
                return reply._replace(headers={**quota, **reply.headers})
        finally:
            if verdict is not None and verdict.admitted:
                self.rate_limits.done()

    def _rate_limited(self, verdict: Verdict) -> Reply:
        """GitHub's answer to a request the rate limits refused."""
        if verdict.refused == "secondary":
            return _error(403, SECONDARY_MESSAGE, verdict.headers)
        if verdict.resource == "graphql":
            return _graphql_rate_limited(verdict.headers)
        return _primary_refusal(self.installation_id, verdict.headers)

    def _answer(self, method: str, url: str, raw_path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Routes match the raw path, one segment per ``/`` as sent, and each segment is then unescaped,
        as GitHub does: an escaped ``%2F`` stays inside its segment. (An exhausted quota, a fault and the
        rate limits were decided on arrival, in :meth:`handle`.)"""
        path = unquote(raw_path)
        if method == "GET" and (match := re.fullmatch(rf"{DIRECTORY_PREFIX}/([^/]+)", raw_path)):
            return self._directory_record(unquote(match.group(1)))
        if (version := headers.get("x-github-api-version")) is not None and version not in self.api_versions:
            supported = ", ".join(sorted(self.api_versions))
            return _error(400, f"Unsupported 'X-GitHub-Api-Version' header: {version}. Supported: {supported}")
        if match := re.fullmatch(r"/app/installations/(\d+)/access_tokens", path):
            return self._access_token(method, headers, int(match.group(1)))
        if (refusal := self._check_token(headers)) is not None:
            return refusal
        routes: tuple[tuple[str, str, Callable[..., Reply]], ...] = (
            ("PUT", r"/orgs/([^/]+)/teams/([^/]+)/memberships/([^/]+)", self._put_team_membership),
            ("GET", r"/orgs/([^/]+)/members", self._list_members),
            ("GET", r"/users/([^/]+)", self._get_user),
            ("GET", r"/repos/([^/]+)/([^/]+)/actions/runs/(\d+)/attempts/(\d+)/jobs", self._list_jobs),
            ("GET", r"/organizations/([^/]+)/settings/billing/usage", self._billing_usage),
            ("POST", r"/graphql", self._graphql),
        )
        for route_method, pattern, handler in routes:
            if method == route_method and (match := re.fullmatch(pattern, raw_path)):
                return handler(url, body, *(unquote(group) for group in match.groups()))
        return _error(404, "Not Found")

    def _take_latency(self, path: str) -> float:
        """Seconds to wait before answering ``path``: the sum of the matching latencies."""
        with self._lock:
            delay = 0.0
            for latency in self._latencies:
                if latency.remaining != 0 and (latency.pattern is None or latency.pattern.search(path)):
                    if latency.remaining is not None:
                        latency.remaining -= 1
                    delay += latency.seconds
            return delay

    def _take_fault(self, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.remaining != 0 and (fault.pattern is None or fault.pattern.search(path)):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault.kind
        return None

    def _access_token(self, method: str, headers: dict[str, str], installation_id: int) -> Reply:
        if method != "POST":
            return _error(404, "Not Found")
        authorization = headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            return _error(401, "A JSON web token could not be decoded")
        if (problem := verify_app_jwt(authorization.removeprefix("Bearer "), self.public_key, self.app_id)) is not None:
            return _error(401, problem)
        if installation_id != self.installation_id:
            return _error(404, "Not Found")
        self.token_exchanges += 1
        token = f"ghs_{secrets.token_hex(18)}"
        self._tokens.add(token)
        expires_at = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return _json(201, {"token": token, "expires_at": expires_at, "permissions": {}, "repository_selection": "all"})

    def _check_token(self, headers: dict[str, str]) -> Reply | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or token not in self._tokens:
            return _error(401, "Bad credentials")
        return None

    def _put_team_membership(self, url: str, body: bytes, org: str, slug: str, login: str) -> Reply:
        if (org, slug) not in self.teams:
            return _error(404, "Not Found")
        role = json.loads(body or b"{}").get("role", "member")
        if role not in ("member", "maintainer"):
            return _error(422, "Validation Failed")
        self.teams[(org, slug)][login] = role
        in_org = any(user["login"] == login for user in self.org_members.get(org, []))
        return _json(
            200,
            {
                "url": f"{_base(url)}/organizations/1/team/1/memberships/{login}",
                "role": role,
                "state": "active" if in_org else "pending",
            },
        )

    def _list_members(self, url: str, body: bytes, org: str) -> Reply:
        if org not in self.org_members:
            return _error(404, "Not Found")
        items, headers = _page(url, self.org_members[org])
        return _json(200, items, headers)

    def _get_user(self, url: str, body: bytes, login: str) -> Reply:
        user = self.users.get(login)
        return _json(200, user) if user is not None else _error(404, "Not Found")

    def _list_jobs(self, url: str, body: bytes, owner: str, repo: str, run_id: str, attempt: str) -> Reply:
        key = (owner, repo, int(run_id), int(attempt))
        if key not in self.run_jobs:
            return _error(404, "Not Found")
        jobs = self.run_jobs[key]
        items, headers = _page(url, jobs)
        return _json(200, {"total_count": len(jobs), "jobs": items}, headers)

    def _billing_usage(self, url: str, body: bytes, org: str) -> Reply:
        from sandbox.fake_billing import usage_report

        if org not in self.billing_usage:
            return _error(404, "Not Found")
        params = {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}
        try:
            year = int(params.get("year", datetime.now(UTC).year))
            month = int(params["month"]) if "month" in params else None
            day = int(params["day"]) if "day" in params else None
        except ValueError:
            return _error(400, "Invalid request: year, month and day must be integers")
        if not (month is None or 1 <= month <= 12) or not (day is None or 1 <= day <= 31):
            return _error(400, "Invalid request: month must be 1-12 and day 1-31")
        return _json(200, usage_report(self.billing_usage[org], year, month, day))

    def _graphql(self, url: str, body: bytes) -> Reply:
        request = json.loads(body)
        query, variables = request["query"], request.get("variables") or {}
        if "samlIdentityProvider" not in query or "externalIdentities" not in query:
            return _json(200, {"errors": [{"message": "this fake only answers the SAML identity lookup"}]})
        org = variables["org"]
        if org not in self.saml:
            return _json(
                200,
                {
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
            return _json(200, {"data": {"organization": {"samlIdentityProvider": None}}})
        if "login" not in variables:
            return _identities_page(query, variables.get("after"), identities)
        login = variables["login"]
        nodes = [{"samlIdentity": identities[login]}] if login in identities else []
        provider = {"externalIdentities": {"nodes": nodes}}
        return _json(200, {"data": {"organization": {"samlIdentityProvider": provider}}})

    def _directory_record(self, login: str) -> Reply:
        record = self.directory.get(login)
        return _json(200, record) if record is not None else _json(404, {"message": f"no such person: {login}"})


#: GitHub's cap on a connection's ``first``/``last``.
GRAPHQL_PAGE_MAX = 100
_CURSOR_PREFIX = "cursor:v2:"


def identities_cursor(index: int) -> str:
    """The opaque cursor of the identity at ``index`` (base64, as GitHub's look)."""
    return base64.b64encode(f"{_CURSOR_PREFIX}{index}".encode()).decode()


def _cursor_index(cursor: str) -> int | None:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    number = text.removeprefix(_CURSOR_PREFIX)
    return int(number) if text.startswith(_CURSOR_PREFIX) and number.isdigit() else None


def _identities_page(query: str, after: str | None, identities: dict[str, dict[str, Any]]) -> Reply:
    """``externalIdentities(first: n, after: cursor)``: the org's identities in the order they were added, each
    with its ``user { login }``, and ``pageInfo``; GitHub's errors for a missing, too large or bad ``first``
    or ``after``."""
    match = re.search(r"externalIdentities\(([^)]*)\)", query)
    arguments = match.group(1) if match else ""
    first = re.search(r"\bfirst:\s*(\d+)", arguments)
    if first is None:
        message = "You must provide a `first` or `last` value to properly paginate the `externalIdentities` connection."
        return _json(200, {"data": None, "errors": [{"type": "MISSING_PAGINATION_BOUNDARIES", "message": message}]})
    size = int(first.group(1))
    if size > GRAPHQL_PAGE_MAX:
        message = (
            f"Requesting {size} records on the `externalIdentities` connection exceeds the `first` limit of "
            f"{GRAPHQL_PAGE_MAX} records."
        )
        return _json(200, {"data": None, "errors": [{"type": "EXCESSIVE_PAGINATION", "message": message}]})
    start = 0
    if after is not None:
        index = _cursor_index(after)
        if index is None:
            invalid = {"message": f"`{after}` does not appear to be a valid cursor."}
            return _json(200, {"data": None, "errors": [invalid]})
        start = index + 1
    logins = list(identities)[start : start + size]
    nodes = [{"user": {"login": login}, "samlIdentity": identities[login]} for login in logins]
    end = start + len(logins) - 1
    page_info = {
        "hasNextPage": start + size < len(identities),
        "endCursor": identities_cursor(end) if logins else None,
    }
    provider = {"externalIdentities": {"pageInfo": page_info, "nodes": nodes}}
    return _json(200, {"data": {"organization": {"samlIdentityProvider": provider}}})


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _base(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _page(url: str, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """One page of ``items`` and its ``Link`` header, as GitHub paginates (per_page default 30, max 100)."""
    parts = urlsplit(url)
    params = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    per_page = max(1, min(int(params.get("per_page", PER_PAGE_DEFAULT)), PER_PAGE_MAX))
    page = max(1, int(params.get("page", 1)))
    start = (page - 1) * per_page

    def page_url(number: int) -> str:
        return urlunsplit(parts._replace(query=urlencode({**params, "page": str(number)})))

    links = []
    if start + per_page < len(items):
        last = (len(items) + per_page - 1) // per_page
        links = [f'<{page_url(page + 1)}>; rel="next"', f'<{page_url(last)}>; rel="last"']
    return items[start : start + per_page], ({"link": ", ".join(links)} if links else {})


def _json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
    content_type = {"content-type": "application/json; charset=utf-8"}
    return Reply(status, {**content_type, **(headers or {})}, json.dumps(payload).encode())


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
    payload = {"message": message, "documentation_url": "https://docs.github.com/rest", "status": str(status)}
    return _json(status, payload, headers)


def _primary_rate_limit(installation_id: int, reset: int) -> Reply:
    exhausted = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    return _primary_refusal(installation_id, exhausted)


def _primary_refusal(installation_id: int, headers: Mapping[str, str]) -> Reply:
    """GitHub's 403 to a REST request once the installation's primary quota is spent."""
    return _error(403, PRIMARY_MESSAGE.format(installation_id=installation_id), headers)


def _graphql_rate_limited(headers: Mapping[str, str]) -> Reply:
    """GitHub's answer to a GraphQL query once the quota is spent: a 200 with a ``RATE_LIMITED`` error."""
    return _json(200, {"errors": [{"type": "RATE_LIMITED", "message": GRAPHQL_RATE_LIMITED_MESSAGE}]}, headers)


def _fault_reply(kind: Fault, installation_id: int, github_now: float) -> Reply:
    """``kind``'s answer; a reset is on GitHub's clock (``github_now``: its time now)."""
    quota = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4990"}
    reset = str(int(github_now) + PRIMARY_RESET_SECONDS)
    exhausted = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    match kind:
        case "server_error":
            return Reply(502, {"content-type": "text/html"}, b"<html><body><h1>502 Bad Gateway</h1></body></html>")
        case "timeout":
            raise SimulatedTimeout
        case "too_many_requests":
            return _error(429, "Too Many Requests", {"retry-after": str(RETRY_AFTER_SECONDS)})
        case "secondary_rate_limit":
            return _error(403, "You have exceeded a secondary rate limit. Please wait a few minutes.", quota)
        case "secondary_rate_limit_retry_after":
            retry_after = {**quota, "retry-after": str(RETRY_AFTER_SECONDS)}
            return _error(403, "You have exceeded a secondary rate limit.", retry_after)
        case "primary_rate_limit":
            return _primary_rate_limit(installation_id, int(reset))
        case "forbidden":
            return _error(403, "Resource not accessible by integration", quota)
        case "graphql_rate_limited":
            return _graphql_rate_limited(exhausted)
    raise ValueError(f"unknown fault {kind!r}")


# --- adapters --------------------------------------------------------------------------------------


def httpx_handler(github: FakeGitHub) -> Callable[[httpx.Request], httpx.Response]:
    """``github`` as an httpx request handler (a respx side effect, or ``httpx.MockTransport``)."""

    def handle(request: httpx.Request) -> httpx.Response:
        try:
            status, headers, body = github.handle(request.method, str(request.url), request.headers, request.read())
        except SimulatedTimeout as timeout:
            raise httpx.ReadTimeout("timed out", request=request) from timeout
        return httpx.Response(status, headers=headers, content=body)

    return handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], github: FakeGitHub, hang_seconds: float) -> None:
        super().__init__(address, _Handler)
        self.github = github
        self.hang_seconds = hang_seconds
        self.stopping = threading.Event()
        self.errors: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects of GitHub
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        url = f"http://{self.headers.get('host') or '{}:{}'.format(*self.server.server_address[:2])}{self.path}"
        try:
            status, headers, payload = self.server.github.handle(self.command, url, dict(self.headers.items()), body)
        except SimulatedTimeout:
            self.server.stopping.wait(self.server.hang_seconds)  # until the client gives up, or stop()
            self.close_connection = True
            return
        except Exception:
            self.server.errors.append(traceback.format_exc())
            status, headers, payload = _error(500, "the fake GitHub failed; see FakeGitHubServer.errors")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # the fake records requests itself
        pass


class FakeGitHubServer:
    """``github`` served over HTTP on 127.0.0.1, on a free port. Use as a context manager, or
    ``start()``/``stop()``. A ``timeout`` fault holds the connection ``hang_seconds`` (or until stop)."""

    def __init__(self, github: FakeGitHub, *, hang_seconds: float = 15.0) -> None:
        self.github = github
        self._server = _Server(("127.0.0.1", 0), github, hang_seconds)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-github", daemon=True
        )

    @property
    def url(self) -> str:
        """The REST/GraphQL base URL (the stack's ``githubApiUrl``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def directory_url(self) -> str:
        """The company directory (a stack's ``directory``)."""
        return self.url + DIRECTORY_PREFIX

    @property
    def errors(self) -> list[str]:
        """Tracebacks of requests the fake itself failed on (answered 500); empty in a good run."""
        return list(self._server.errors)

    def start(self) -> FakeGitHubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> FakeGitHubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
