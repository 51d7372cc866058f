"""Replay deliveries to the sandbox's stacks and account for what became of each.

Shared by `make run`, `make bench` and the end-to-end tests, so what they report is measured one way:
a delivery is *accepted* when its webhook answers 202 "accepted", *failed* when a failure notification
names its delivery id, otherwise *processed* once the stack is idle; its end-to-end latency runs from
the moment it was sent to the last notification that names it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.environment import Response, Sandbox
from sandbox.workload import Delivery, StackSettings, expected_tables


@dataclass
class Outcome:
    delivery: Delivery
    response: Response
    latency: float | None = None  # seconds from sending to its last notification
    failed: bool = False

    @property
    def accepted(self) -> bool:
        return self.response.status == 202 and self.response.body.get("status") == "accepted"


@dataclass
class StackReport:
    architecture: str
    outcomes: list[Outcome] = field(default_factory=list)
    parked: dict[str, int] = field(default_factory=dict)
    oracle_differences: list[str] = field(default_factory=list)
    members: list[dict[str, Any]] = field(default_factory=list)
    workflow_runs: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0  # from the first send until the stack was idle

    def count(self, predicate: Callable[[Outcome], bool]) -> int:
        return sum(1 for outcome in self.outcomes if predicate(outcome))

    @property
    def accepted(self) -> int:
        return self.count(lambda o: o.accepted and not o.delivery.redelivery)

    @property
    def redelivered(self) -> int:
        return self.count(lambda o: o.accepted and o.delivery.redelivery)

    @property
    def ignored(self) -> int:
        return self.count(lambda o: o.response.body.get("status") == "ignored")

    @property
    def rejected(self) -> int:
        return self.count(lambda o: o.response.status >= 400)

    @property
    def failed(self) -> int:
        return self.count(lambda o: o.accepted and o.failed and not o.delivery.redelivery)

    @property
    def processed(self) -> int:
        return self.accepted - self.failed

    def latencies(self, event: str) -> list[float]:
        return [
            o.latency
            for o in self.outcomes
            if o.delivery.event == event and o.latency is not None and not o.delivery.redelivery
        ]

    def totals(self) -> dict[str, str]:
        """Repository -> cost in USD over all time, from the TOTAL rows."""
        return {
            item["repository"]: format(item["costUsd"], "f") for item in self.workflow_runs if item["sk"] == "TOTAL"
        }


def replay(
    sandbox: Sandbox,
    deliveries: Sequence[Delivery],
    *,
    on_sent: Callable[[], None] | None = None,
    timeout: float = 240.0,
    rate: float | None = None,
    on_idle: Callable[[], None] | None = None,
) -> dict[str, StackReport]:
    """Send each delivery to every stack (in turn, as a GitHub App pointed at each would), wait until all
    of it is processed, then account for it and compare the tables with the oracle.

    ``rate``: the n-th delivery leaves no earlier than n / ``rate`` s after the first (a burst longer than
    the HTTP API's throttling burst would otherwise be answered 429); None sends them back to back.
    ``on_idle`` is called once every stack is idle, before the accounting (the oracle, the table scans)."""
    reports = {name: StackReport(name) for name in sandbox.stacks}
    started = time.perf_counter()
    for index, delivery in enumerate(deliveries):
        if rate is not None:
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        for name, report in reports.items():
            report.outcomes.append(Outcome(delivery, sandbox.send(name, delivery)))
            if on_sent is not None:
                on_sent()
    idle_at: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(idle_at) < len(reports):
        if time.monotonic() > deadline:
            raise TimeoutError(f"still processing after {timeout:.0f} s: {sorted(set(reports) - set(idle_at))}")
        for name in reports.keys() - idle_at.keys():
            if sandbox.idle(name):
                idle_at[name] = time.perf_counter()
        time.sleep(0.05)
    if on_idle is not None:
        on_idle()
    sandbox.wait_until_idle(timeout=timeout)  # settled: nothing started again meanwhile
    expected = expected_tables(sandbox.seed, deliveries, StackSettings())
    for name, report in reports.items():
        report.seconds = idle_at[name] - started
        _account(sandbox, report)
        report.oracle_differences = expected.differences(report.members, report.workflow_runs)
    return reports


def _account(sandbox: Sandbox, report: StackReport) -> None:
    notifications = sandbox.notifications(report.architecture)
    last: dict[str, float] = {}
    failed: set[str] = set()
    for notification in notifications:
        if notification.correlation_id is None:
            continue
        last[notification.correlation_id] = max(last.get(notification.correlation_id, 0.0), notification.published_at)
        if notification.failure:
            failed.add(notification.correlation_id)
    for outcome in report.outcomes:
        delivery_id = outcome.delivery.delivery_id
        outcome.failed = delivery_id in failed
        if delivery_id in last and outcome.accepted:
            outcome.latency = max(0.0, last[delivery_id] - outcome.response.sent_at)
    report.parked = sandbox.parked(report.architecture)
    report.members = sandbox.table_items(report.architecture, "membersTable")
    report.workflow_runs = sandbox.table_items(report.architecture, "workflowRunsTable")


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
