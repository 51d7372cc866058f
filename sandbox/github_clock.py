"""GitHub's clock in the sandbox: it starts at the wall time and runs ``1 / time_scale`` times as fast.

On AWS, Lambda's clock and GitHub's agree (both keep to UTC), so the product compares GitHub's
``x-ratelimit-reset`` and the end of a ``Retry-After`` with its own clock. The sandbox scales every wait
(Step Functions' Wait states, SQS delays) by ``time_scale``, and its fake GitHub keeps its rate-limit
windows on the same scale (sandbox/fake_rate_limits.py): an hour of GitHub time lasts ``3600 * time_scale``
real seconds. A function process reading the wall clock would hold a request for a ``Retry-After: 37`` for
37 real seconds, a scaled day and a half, where on AWS it holds 37 seconds. So the sandbox gives each
function process GitHub's clock for its pacing (``functions.common.github_pacing``), as AWS in effect does:
the environment variable :data:`ENV` carries the clock, and ``sandbox/function_site/sitecustomize.py``,
which Python runs at the start of every function process, installs it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

ENV = "SANDBOX_GITHUB_CLOCK"
#: Put on a function process's PYTHONPATH (after its code): holds the sitecustomize that reads :data:`ENV`.
FUNCTION_SITE = Path(__file__).resolve().parent / "function_site"


@dataclass(frozen=True)
class GitHubClock:
    """GitHub's time: equal to the wall's at ``epoch`` (epoch seconds), then ``1 / time_scale`` times as fast."""

    epoch: float
    time_scale: float

    def __post_init__(self) -> None:
        if not self.time_scale > 0:
            raise ValueError(f"GitHubClock.time_scale must be > 0, not {self.time_scale!r}")

    @classmethod
    def starting_now(cls, time_scale: float) -> GitHubClock:
        return cls(time.time(), time_scale)

    def at(self, wall: float) -> float:
        """GitHub's time when the wall clock reads ``wall``."""
        return self.epoch + (wall - self.epoch) / self.time_scale

    def now(self) -> float:
        return self.at(time.time())

    def env(self) -> dict[str, str]:
        """The environment variable that gives a function process this clock."""
        return {ENV: f"{self.epoch!r} {self.time_scale!r}"}

    @classmethod
    def from_env(cls, value: str) -> GitHubClock:
        epoch, time_scale = (float(part) for part in value.split())
        return cls(epoch, time_scale)
