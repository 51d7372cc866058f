"""GitHub rate-limit headroom: the ``GitHubRateLimitRemaining`` metric, from GitHub's own response headers.

Every GitHub API response says what is left of the quota it counts against (``x-ratelimit-remaining``
of ``x-ratelimit-limit``, per ``x-ratelimit-resource``: ``core``, ``graphql``, ...). An httpx response
hook on the client (:func:`observe`) keeps, per resource, the least remaining seen; the handler
publishes it once per invocation (:func:`publish`), so the metric's Minimum (what the dashboard shows)
is exactly the least headroom any call saw, at one log line per resource per invocation instead of
one per call.

The metric has its own dimensions (service, Stack, ``Resource``), which the invocation's other metrics
do not have, so it goes out as a metric document of its own (Powertools ``single_metric``), not into
the shared metric set. The record threads of an SQS batch call GitHub at once: the bookkeeping is
under a lock, and so is printing (two threads' documents must not interleave on one line).

The App's token exchange (``POST /app/installations/{id}/access_tokens``) counts against the App's
own limit, not the installation's: it is left out, as a response without the headers is.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from functions.common.observability import metrics

if TYPE_CHECKING:  # only the functions that call GitHub import httpx (store-records never does)
    import httpx

METRIC = "GitHubRateLimitRemaining"
RESOURCE_DIMENSION = "Resource"
#: ``Resource`` when GitHub names none (older GitHub Enterprise Server releases): the dimensions stay fixed.
UNKNOWN_RESOURCE = "unknown"
_APP_TOKEN_EXCHANGE = re.compile(r"/app/installations/[^/]+/access_tokens$")


class Headroom:
    """The least quota left per rate-limit resource since the last :meth:`take`, and its limit; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._least: dict[str, tuple[int, int]] = {}  # resource -> (remaining, limit)

    def record(self, headers: Mapping[str, str]) -> None:
        """Note the quota these response headers report; headers that are missing or not numbers are ignored."""
        try:
            remaining, limit = int(headers["x-ratelimit-remaining"]), int(headers["x-ratelimit-limit"])
        except (KeyError, ValueError):
            return
        resource = headers.get("x-ratelimit-resource") or UNKNOWN_RESOURCE
        with self._lock:
            least = self._least.get(resource)
            if least is None or remaining < least[0]:
                self._least[resource] = (remaining, limit)

    def take(self) -> dict[str, tuple[int, int]]:
        """What was recorded since the last call, forgotten here."""
        with self._lock:
            taken, self._least = self._least, {}
            return taken


headroom = Headroom()
_print_lock = threading.Lock()


def is_token_exchange(path: str) -> bool:
    """Whether ``path`` is the App's token exchange, which the installation's quota does not count."""
    return _APP_TOKEN_EXCHANGE.search(path) is not None


def observe(response: httpx.Response) -> None:
    """The client's httpx response hook: record the quota the response reports."""
    if is_token_exchange(response.request.url.path):
        return
    headroom.record(response.headers)


def publish(metadata: Mapping[str, object] | None = None) -> None:
    """Emit the least headroom per resource seen since the last publish (nothing if no GitHub call);
    ``metadata``: what else each document says (the deliveries of the invocation)."""
    for resource, (remaining, limit) in sorted(headroom.take().items()):
        with (
            _print_lock,
            single_metric(
                name=METRIC,
                unit=MetricUnit.Count,
                value=remaining,
                default_dimensions=metrics.default_dimensions,
            ) as metric,
        ):
            metric.add_dimension(name=RESOURCE_DIMENSION, value=resource)
            metric.add_metadata(key="rateLimit", value=limit)
            for key, value in (metadata or {}).items():
                metric.add_metadata(key=key, value=value)
