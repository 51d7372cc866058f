"""The GitHub client of the App installation, and the one place GitHub failures become our errors.

Retries are the architecture's job (Step Functions ``Retry``, SQS redelivery), so githubkit's own
retrying is off: a rate-limited call fails fast with ``GitHubRateLimited`` instead of sleeping
inside a Lambda invocation, and a 5xx fails with ``GitHubUnavailable``.

Every response's rate-limit headers feed the ``GitHubRateLimitRemaining`` metric (``functions.common.github_quota``)
and the pacing (``functions.common.github_pacing``): a request the quota cannot afford is not sent, it
fails with ``GitHubRateLimited`` until the quota resets.

Every request names the REST API version of the target (``GITHUB_API_VERSION``, stack config
``githubApiVersion``), not githubkit's own newest schema version, which GitHub Enterprise Server
releases do not know.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import httpx
from githubkit import AppInstallationAuthStrategy, GitHub
from githubkit.cache import MemCacheStrategy
from githubkit.exception import (
    GitHubException,
    GraphQLFailed,
    RateLimitExceeded,
    RequestError,
    RequestFailed,
    RequestTimeout,
)

from functions.common import github_pacing, github_quota
from functions.common.errors import GitHubRateLimited, GitHubRequestRejected, GitHubUnavailable
from functions.common.observability import GITHUB_PATCHED_MODULES, tracer
from functions.common.secrets import GitHubAppCredentials, github_app_credentials
from functions.common.settings import settings

# Before any client exists: every GitHub call is an X-Ray subsegment (functions.common.observability).
tracer.patch(modules=GITHUB_PATCHED_MODULES)

# Each call must answer well inside a Lambda's timeout; a slow GitHub is retried by the architecture.
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "github-automation"
API_VERSION_HEADER = "X-GitHub-Api-Version"

AppGitHub = GitHub[AppInstallationAuthStrategy]


def github_client() -> AppGitHub:
    """The client of this process, rebuilt only if the App secret (or the API URL) changes."""
    current = settings()
    return _client_for(github_app_credentials(), current.github_api_url, current.github_api_version)


def api_version_hook(version: str) -> Callable[[httpx.Request], None]:
    """An httpx request hook that names ``version`` on every request, the installation token exchange
    included (githubkit sets its own schema version per REST call; the hook runs after it)."""

    def name_version(request: httpx.Request) -> None:
        request.headers[API_VERSION_HEADER] = version

    return name_version


@lru_cache(maxsize=1)
def _client_for(credentials: GitHubAppCredentials, base_url: str, api_version: str) -> AppGitHub:
    return GitHub(
        AppInstallationAuthStrategy(credentials.app_id, credentials.private_key, credentials.installation_id),
        base_url=base_url,
        user_agent=USER_AGENT,
        timeout=HTTP_TIMEOUT,
        auto_retry=False,
        event_hooks={
            "request": [api_version_hook(api_version), github_pacing.pace(_reserve)],
            "response": [github_quota.observe, github_pacing.observe],
        },
        # No HTTP response cache: every call must see GitHub's current state. The strategy also
        # holds the installation token (about an hour), kept per client rather than process-wide.
        http_cache=False,
        cache_strategy=MemCacheStrategy(),
    )


def _reserve() -> int:
    """Requests of the quota left to the other processes' requests in flight (``functions.common.github_pacing``)."""
    return settings().github_rate_limit_reserve


def path_segment(value: str | int) -> str:
    """``value`` percent-escaped as exactly one URL path segment.

    githubkit builds REST paths with unescaped f-strings (``f"/orgs/{org}/teams/{team_slug}/..."``)
    and httpx then resolves ``.``/``..`` segments, so every value a function puts into a path goes
    through here: ``/``, ``%`` and every non-ASCII character are escaped, and a value that is all
    dots (which ``quote`` leaves alone) is escaped too. An empty value would drop the segment:
    it is refused.
    """
    text = str(value)
    if not text:
        raise ValueError("an empty value cannot be a URL path segment")
    escaped = quote(text, safe="")
    return escaped.replace(".", "%2E") if escaped.strip(".") == "" else escaped


@contextmanager
def github_call(action: str) -> Iterator[None]:
    """Run GitHub calls, turning their failures into the errors the architectures retry or catch.

    ``action`` says what was being done, for the error message (e.g. "list jobs of run 42").
    """
    try:
        yield
    except GitHubException as exc:
        raise translate(exc, action) from exc
    except httpx.TimeoutException as exc:
        raise GitHubUnavailable(f"{action}: GitHub did not answer in time") from exc
    except httpx.TransportError as exc:
        raise GitHubUnavailable(f"{action}: could not reach GitHub ({exc!r})") from exc


def translate(exc: GitHubException, action: str) -> Exception:
    """The error of ``functions.common.errors`` that a githubkit failure stands for."""
    if isinstance(exc, RequestTimeout):
        return GitHubUnavailable(f"{action}: GitHub did not answer in time")
    if isinstance(exc, RateLimitExceeded):
        # also GraphQL's, which come as 200 with a RATE_LIMITED error
        response = exc.response.raw_response
        message = _error_message(response) or "rate limit exceeded"
        return GitHubRateLimited(
            f"{action}: GitHub answered {response.status_code} ({message})",
            retry_after=_retry_after(response, exhausted=True),
        )
    if isinstance(exc, RequestFailed):
        return _from_response(exc.response.raw_response, action)
    if isinstance(exc, RequestError):
        # githubkit wraps what fails inside the auth flow (the installation token exchange).
        inner = exc.exc
        if isinstance(inner, GitHubRateLimited):  # the pacing hook's: the request was not sent
            return inner
        if isinstance(inner, GitHubException):
            return translate(inner, action)
        if isinstance(inner, httpx.TimeoutException):
            return GitHubUnavailable(f"{action}: GitHub did not answer in time")
        if isinstance(inner, httpx.TransportError):
            return GitHubUnavailable(f"{action}: could not reach GitHub ({inner!r})")
        return GitHubRequestRejected(f"{action}: {inner!r}")
    if isinstance(exc, GraphQLFailed):
        errors = "; ".join(f"{error.type}: {error.message}" for error in exc.response.errors or [])
        return GitHubRequestRejected(f"{action}: GraphQL errors: {errors}")
    return GitHubRequestRejected(f"{action}: {exc!r}")


def _from_response(response: httpx.Response, action: str) -> Exception:
    status = response.status_code
    message = _error_message(response)
    described = f"{action}: GitHub answered {status}" + (f" ({message})" if message else "")
    if status >= 500:
        return GitHubUnavailable(described)
    if status == 429 or (status == 403 and _is_rate_limit(response, message)):
        exhausted = response.headers.get("x-ratelimit-remaining") == "0"
        return GitHubRateLimited(described, retry_after=_retry_after(response, exhausted=exhausted))
    return GitHubRequestRejected(described)


def _is_rate_limit(response: httpx.Response, message: str) -> bool:
    return (
        "retry-after" in response.headers
        or response.headers.get("x-ratelimit-remaining") == "0"
        or "rate limit" in message.lower()
    )


def _retry_after(response: httpx.Response, *, exhausted: bool) -> float | None:
    """Seconds to wait: ``Retry-After``, else (quota ``exhausted``) until ``x-ratelimit-reset``, reckoned on
    the pacing's clock (``github_pacing.now``) and at most an hour, a primary window; None where GitHub said
    nothing."""
    if (value := response.headers.get("retry-after")) is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    if exhausted and (reset := response.headers.get("x-ratelimit-reset")) is not None:
        try:
            reset_at = float(int(reset))
        except ValueError:
            return None
        return min(max(0.0, reset_at - github_pacing.now()), github_pacing.PRIMARY_WINDOW_SECONDS)
    return None


def _error_message(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""
