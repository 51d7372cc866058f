"""GitHub's primary and secondary rate limits for the fake GitHub, on the sandbox's scaled clock.

GitHub documents them in "Rate limits for the REST API" and the GraphQL API's "Rate limits and query
limits"; what :class:`RateLimits` enforces, per installation:

- primary: ``primary_per_hour`` requests per hour and resource (``core`` for REST, ``graphql`` for
  ``POST /graphql``); the window starts with the resource's first request, as GitHub's does, and a
  request over it is a 403 ``API rate limit exceeded`` (REST) or a 200 with a ``RATE_LIMITED`` error
  (GraphQL), with ``x-ratelimit-remaining: 0``;
- secondary: ``rest_points_per_minute`` and ``graphql_points_per_minute`` points a minute (REST ``GET``,
  ``HEAD``, ``OPTIONS`` 1 point, ``POST``, ``PATCH``, ``PUT``, ``DELETE`` 5; GraphQL 1 for a query, 5 for a
  mutation), and ``concurrent_requests`` requests in flight (REST and GraphQL together); a request over
  one of them is a 403 ``You have exceeded a secondary rate limit`` with ``retry-after``.

Every answer to an API request carries the ``x-ratelimit-*`` headers of its resource. Time is the sandbox's:
one GitHub second lasts ``time_scale`` real seconds, so the hour lasts ``3600 * time_scale`` real seconds;
windows run on ``clock`` (``time.monotonic``). ``retry-after`` counts the time left at GitHub's pace
(``left / time_scale``). ``x-ratelimit-reset`` is fixed for a window, as GitHub's is (clients tell windows
apart by it: a later reset is a new window, ``functions/common/github_pacing.py``), and it is on GitHub's
own clock, which reads the wall's at ``epoch`` and runs ``1 / time_scale`` times as fast: the window's start
on that clock plus an hour. The sandbox's function processes pace on the same clock
(sandbox/github_clock.py), as a Lambda process's clock agrees with GitHub's on AWS: one that waits
``reset - now``, scaled by the sandbox, calls again when the window has ended, not before.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sandbox.github_clock import GitHubClock

Resource = Literal["core", "graphql"]
RefusalKind = Literal["primary", "secondary"]

GRAPHQL_PATH = "/graphql"
HOUR_SECONDS = 3600
MINUTE_SECONDS = 60
#: Secondary rate limit points (GitHub: "Calculating points for the secondary rate limit").
READ_POINTS, WRITE_POINTS = 1, 5
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PRIMARY_MESSAGE = "API rate limit exceeded for installation ID {installation_id}."
GRAPHQL_RATE_LIMITED_MESSAGE = "API rate limit exceeded for installation."
SECONDARY_MESSAGE = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."


@dataclass(frozen=True)
class RateLimitPolicy:
    """The limits one installation gets (GitHub's defaults) and the sandbox's ``time_scale``."""

    primary_per_hour: int = 5000
    rest_points_per_minute: int = 900
    graphql_points_per_minute: int = 2000
    concurrent_requests: int = 100
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("primary_per_hour", "rest_points_per_minute", "graphql_points_per_minute", "concurrent_requests"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"RateLimitPolicy.{name} must be a positive int, not {value!r}")
        for name in ("rest_points_per_minute", "graphql_points_per_minute"):
            if getattr(self, name) < WRITE_POINTS:
                raise ValueError(
                    f"RateLimitPolicy.{name} must be at least {WRITE_POINTS} (what one write costs), "
                    f"not {getattr(self, name)!r}: a write could never pass"
                )
        if isinstance(self.time_scale, bool) or not isinstance(self.time_scale, int | float) or self.time_scale <= 0:
            raise ValueError(f"RateLimitPolicy.time_scale must be a number > 0, not {self.time_scale!r}")

    def points_per_minute(self, resource: Resource) -> int:
        return self.graphql_points_per_minute if resource == "graphql" else self.rest_points_per_minute


def resource_of(path: str) -> Resource:
    """The primary quota a request counts against: ``graphql`` for ``/graphql``, ``core`` for the rest."""
    return "graphql" if path == GRAPHQL_PATH else "core"


def points(method: str, path: str, body: bytes = b"") -> int:
    """A request's secondary rate limit points: REST reads 1, writes 5; a GraphQL query 1, a mutation 5."""
    if resource_of(path) == "graphql":
        return WRITE_POINTS if _is_mutation(body) else READ_POINTS
    return READ_POINTS if method.upper() in READ_METHODS else WRITE_POINTS


def _is_mutation(body: bytes) -> bool:
    try:
        query = json.loads(body or b"{}").get("query", "")
    except (ValueError, AttributeError):
        return False
    return isinstance(query, str) and query.lstrip().startswith("mutation")


@dataclass(frozen=True)
class Verdict:
    """The limiter's decision on one API request. ``headers``: the ``x-ratelimit-*`` of its resource (and
    ``retry-after`` for a secondary refusal), to put on whatever answers the request."""

    resource: Resource
    headers: dict[str, str]
    refused: RefusalKind | None = None  # None: admitted (and in flight until RateLimits.done())

    @property
    def admitted(self) -> bool:
        return self.refused is None


@dataclass(frozen=True)
class Refusal:
    method: str
    path: str
    kind: RefusalKind
    resource: Resource
    when: float  # the limiter's clock (time.monotonic() by default)


@dataclass
class _Window:
    ends_at: float | None = None  # clock seconds; None: not started (the next counted request starts it)
    used: int = 0
    reset: int = 0  # epoch seconds: x-ratelimit-reset of a started primary window


class RateLimits:
    """GitHub's rate limits for one installation (module docstring). Thread-safe.

    Our choice, where GitHub does not say: a refused request counts nothing, neither against the primary
    quota nor the points, nor is it in flight; a request costs the points of its kind in the minute
    window that started with the first request of its kind (REST or GraphQL), and that window, not a
    sliding minute, is what ``retry-after`` counts down."""

    def __init__(
        self,
        policy: RateLimitPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        epoch: float | None = None,
    ) -> None:
        """``epoch``: the wall time at which GitHub's clock read the wall's (now, if None): the sandbox's
        ``GitHubClock.epoch``, so that the function processes' pacing reads the same clock."""
        self.policy = policy or RateLimitPolicy()
        self._clock, self._wall = clock, wall
        self._started = (wall(), clock())
        self._github = GitHubClock(self._started[0] if epoch is None else epoch, self.policy.time_scale)
        self._lock = threading.Lock()
        self._primary: dict[Resource, _Window] = {"core": _Window(), "graphql": _Window()}
        self._points: dict[Resource, _Window] = {"core": _Window(), "graphql": _Window()}
        self._in_flight = 0
        #: every refusal, in order (for tests)
        self.refused: list[Refusal] = []

    # --- what tests read -------------------------------------------------------------------------

    def used(self, resource: Resource) -> int:
        """Requests counted against ``resource``'s primary quota in its current window."""
        with self._lock:
            return self._current(self._primary[resource], self._clock()).used

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def headers(self, resource: Resource) -> dict[str, str]:
        """The ``x-ratelimit-*`` headers ``resource``'s quota stands at, counting nothing."""
        with self._lock:
            return self._headers(resource, self._clock())

    # --- deciding --------------------------------------------------------------------------------

    def admit(self, method: str, path: str, body: bytes = b"") -> Verdict:
        """Decide one API request: refused (primary) if its resource's quota is spent this window, else
        refused (secondary) if its points or one more request in flight would exceed the limits, else
        admitted: counted against the quota and the points, and in flight until :meth:`done`."""
        resource = resource_of(path)
        cost = points(method, path, body)
        with self._lock:
            now = self._clock()
            primary = self._current(self._primary[resource], now)
            minute = self._current(self._points[resource], now)
            if primary.used >= self.policy.primary_per_hour:
                return self._refuse(method, path, "primary", resource, now, {})
            if minute.used + cost > self.policy.points_per_minute(resource):
                # the window has started: only admitted requests spend points, and a cost fits an empty one
                assert minute.ends_at is not None
                wait = math.ceil((minute.ends_at - now) / self.policy.time_scale)
                return self._refuse(method, path, "secondary", resource, now, {"retry-after": str(max(1, wait))})
            if self._in_flight >= self.policy.concurrent_requests:
                return self._refuse(method, path, "secondary", resource, now, {"retry-after": "1"})
            for window, seconds in ((primary, HOUR_SECONDS), (minute, MINUTE_SECONDS)):
                if window.ends_at is None:
                    window.ends_at = now + seconds * self.policy.time_scale
                    window.reset = math.ceil(self._github_time(now) + seconds)
            primary.used += 1
            minute.used += cost
            self._in_flight += 1
            return Verdict(resource, self._headers(resource, now))

    def done(self) -> None:
        """An admitted request has been answered: it is no longer in flight."""
        with self._lock:
            if self._in_flight == 0:
                raise RuntimeError("RateLimits.done() without an admitted request in flight")
            self._in_flight -= 1

    # --- under the lock --------------------------------------------------------------------------

    def _refuse(
        self, method: str, path: str, kind: RefusalKind, resource: Resource, now: float, extra: dict[str, str]
    ) -> Verdict:
        self.refused.append(Refusal(method, path, kind, resource, now))
        return Verdict(resource, {**self._headers(resource, now), **extra}, kind)

    def github_now(self) -> float:
        """GitHub's clock now (epoch seconds): where a reset or a wait's end is reckoned from."""
        return self._github_time(self._clock())

    def _github_time(self, now: float) -> float:
        """GitHub's clock (epoch seconds) at ``now`` on ``clock``: equal to the wall's at ``epoch``, it runs
        ``1 / time_scale`` times as fast."""
        wall, clock = self._started
        return self._github.at(wall + (now - clock))

    @staticmethod
    def _current(window: _Window, now: float) -> _Window:
        """``window``, emptied (not started) if it has ended."""
        if window.ends_at is not None and now >= window.ends_at:
            window.ends_at, window.used = None, 0
        return window

    def _headers(self, resource: Resource, now: float) -> dict[str, str]:
        window = self._current(self._primary[resource], now)
        limit = self.policy.primary_per_hour
        # a window not started yet would start now: it would end an hour of GitHub time from now
        reset = window.reset if window.ends_at is not None else math.ceil(self._github_time(now) + HOUR_SECONDS)
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(limit - window.used),
            "x-ratelimit-used": str(window.used),
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-resource": resource,
        }
