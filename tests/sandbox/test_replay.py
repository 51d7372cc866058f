"""replay()'s pacing and its idle hook, against a stand-in sandbox (no emulator is started here)."""

from __future__ import annotations

import time
from typing import Any, cast

from sandbox.environment import Response, Sandbox
from sandbox.fake_github import SANDBOX_ORG
from sandbox.replay import replay
from sandbox.workload import Delivery, ignored


class _StandIn:
    """One stack that answers every delivery 202 "ignored" and is idle at once; it notes what happened."""

    def __init__(self) -> None:
        self.stacks = {"sqs": object()}
        self.seed = SANDBOX_ORG
        self.events: list[tuple[str, float]] = []

    def send(self, architecture: str, delivery: Delivery) -> Response:
        self.events.append(("sent", time.monotonic()))
        return Response(202, {"status": "ignored"}, time.time(), 0.0)

    def idle(self, architecture: str) -> bool:
        return True

    def wait_until_idle(self, **_: Any) -> None:
        self.events.append(("settled", time.monotonic()))

    def notifications(self, architecture: str) -> list[Any]:
        return []

    def parked(self, architecture: str) -> dict[str, int]:
        return {}

    def table_items(self, architecture: str, export: str) -> list[dict[str, Any]]:
        self.events.append(("read", time.monotonic()))
        return []


def test_deliveries_are_paced_at_the_rate_and_the_idle_hook_runs_before_the_accounting() -> None:
    stand_in = _StandIn()
    deliveries = [ignored(SANDBOX_ORG, "ping", "with-organization") for _ in range(5)]

    replay(cast(Sandbox, stand_in), deliveries, rate=20.0, on_idle=lambda: stand_in.events.append(("idle", 0.0)))

    kinds = [kind for kind, _ in stand_in.events]
    assert kinds == ["sent"] * 5 + ["idle", "settled", "read", "read"]
    sent = [at for kind, at in stand_in.events if kind == "sent"]
    assert sent[-1] - sent[0] >= 4 / 20.0 - 0.01  # the 5th leaves no earlier than 4 / rate after the first
