"""Pacing against GitHub's rate limits: no request while the installation's budget is (nearly) spent.

GitHub asks integrations not to call while they are rate limited ("continuing to make requests while you
are rate limited may result in the banning of your integration"). Every API response says what is left of
the primary quota (``x-ratelimit-remaining``), of which resource (``x-ratelimit-resource``: ``core`` for
REST, ``graphql``) and when its window ends (``x-ratelimit-reset``, epoch seconds). The process's
:data:`pacer` learns from each response (:func:`observe`, an httpx response hook) and, before each request
(:func:`pace`, an httpx request hook), refuses to send it when the resource's remaining is at or below the
reserve: it raises :class:`GitHubRateLimited` with the seconds until the reset, and each architecture
waits that out exactly as it waits out GitHub's own 403 (Step Functions: the ``RateLimit*`` states' Wait;
sqs: the delayed re-send of ``functions/common/rate_limits.py``), without spending a request on it.

Why a reserve: many Lambda processes call GitHub at once and each knows only the responses it saw, so the
remaining it knows is behind by the requests in flight elsewhere. A process sends one request at most per
record thread on stale knowledge before its next response tells it, so a reserve as large as the requests
that can be in flight at once (GitHub's secondary limit allows 100 concurrent requests: the default) keeps
the quota from reaching 0. Secondary limits send no headers beforehand: a ``Retry-After`` (429, or 403
on a secondary limit) holds every request of the process until then.

What is known per resource is the least remaining of the latest window: responses of one window carry
the same reset and may arrive out of order (the record threads of a batch call at once), so the least is
the latest; a later reset starts a new window; an earlier one is an old window's late answer, ignored.
Knowledge ends at the reset, read on the pacer's clock (the process's: on AWS it agrees with GitHub's, and
the sandbox gives its function processes the fake GitHub's, sandbox/github_clock.py), so a caller that
waited the seconds it was told finds the request let out. The App's token exchange counts against the App,
not the installation: it is never paced and teaches nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from functions.common.errors import GitHubRateLimited
from functions.common.github_quota import is_token_exchange

if TYPE_CHECKING:  # only the functions that call GitHub import httpx
    import httpx

CORE = "core"
GRAPHQL = "graphql"
PRIMARY_WINDOW_SECONDS = 3600.0


@dataclass(frozen=True)
class Window:
    """What is known of one resource's current quota window."""

    remaining: int
    reset: float  # epoch seconds, on GitHub's clock


def resource_of(path: str) -> str:
    """The rate-limit resource a request to ``path`` counts against (GHES serves GraphQL at /api/graphql)."""
    return GRAPHQL if path.rstrip("/").endswith("/graphql") else CORE


class Pacer:
    """The rate-limit state of one process, fed by responses and consulted before requests; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, Window] = {}
        self._retry_at: float | None = None  # a secondary limit's Retry-After, epoch seconds

    def observe(self, resource: str | None, headers: Mapping[str, str]) -> None:
        """Learn from one response's headers; ``resource`` is the request's, if the headers name none."""
        with self._lock:
            now = self._clock()
            if (retry_after := _number(headers.get("retry-after"))) is not None:
                self._retry_at = max(self._retry_at or 0.0, now + retry_after)
            remaining, reset = _number(headers.get("x-ratelimit-remaining")), _number(headers.get("x-ratelimit-reset"))
            if remaining is None or reset is None:
                return
            resource = headers.get("x-ratelimit-resource") or resource or CORE
            known = self._windows.get(resource)
            if known is None or reset > known.reset:
                self._windows[resource] = Window(int(remaining), reset)
            elif reset == known.reset:
                self._windows[resource] = Window(min(int(remaining), known.remaining), reset)

    def wait_seconds(self, resource: str, reserve: int) -> float | None:
        """Seconds a request against ``resource`` must wait, or None to send it now. At most an hour, a
        primary window's length: GitHub never asks for more, whatever a reset header says."""
        with self._lock:
            now = self._clock()
            holds: list[float] = []  # until when
            if self._retry_at is not None:
                if now < self._retry_at:
                    holds.append(self._retry_at)
                else:
                    self._retry_at = None
            known = self._windows.get(resource)
            if known is not None:
                if now >= known.reset:
                    del self._windows[resource]
                elif known.remaining <= reserve:
                    holds.append(known.reset)
            if not holds:
                return None
            return min(max(holds) - now, PRIMARY_WINDOW_SECONDS)

    def now(self) -> float:
        """The time on the pacer's clock, which every reset and wait is reckoned against."""
        return self._clock()

    def known(self, resource: str) -> Window | None:
        with self._lock:
            return self._windows.get(resource)

    def forget(self) -> None:
        """Start afresh, knowing nothing (tests: one test's rate limit is not the next one's)."""
        with self._lock:
            self._windows.clear()
            self._retry_at = None


pacer = Pacer()


def pace(reserve: Callable[[], int]) -> Callable[[httpx.Request], None]:
    """The client's httpx request hook: raise :class:`GitHubRateLimited` instead of sending a request that
    the budget (less ``reserve()`` requests) cannot afford."""

    def check(request: httpx.Request) -> None:
        path = request.url.path
        if is_token_exchange(path):
            return
        resource = resource_of(path)
        wait = pacer.wait_seconds(resource, reserve())
        if wait is None:
            return
        known = pacer.known(resource)
        left = "" if known is None else f", {known.remaining} left of the {resource} quota"
        raise GitHubRateLimited(
            f"paced: {request.method} {path} not sent before GitHub's rate limit resets{left}",
            retry_after=wait,
        )

    return check


def observe(response: httpx.Response) -> None:
    """The client's httpx response hook: learn what the response says of the quota."""
    path = response.request.url.path
    if not is_token_exchange(path):
        pacer.observe(resource_of(path), response.headers)


def now() -> float:
    """The time on the pacing's clock: a wait until a reset is reckoned from it, as the pacing reckons it."""
    return pacer.now()


def forget() -> None:
    pacer.forget()


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None
