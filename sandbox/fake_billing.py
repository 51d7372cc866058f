"""What the fake GitHub bills the seeded org for Actions: the usage items of its billing usage report.

``GET /organizations/{org}/settings/billing/usage`` (the enhanced billing platform) answers
``{"usageItems": [...]}``, one item per day, repository and SKU: ``date``, ``product``, ``sku``,
``quantity``, ``unitType``, ``pricePerUnit``, ``grossAmount``, ``discountAmount``, ``netAmount``,
``organizationName``, ``repositoryName`` (GitHub's documented shape). :func:`billing_usage_items`
builds them from the seeded runs the way GitHub bills, with **its own** price list (:data:`GITHUB_PRICES`),
not the product's rate file: reconciling the product against itself would prove nothing. It agrees
with ``functions/data/runner_rates.json`` for the runners the rate file knows, and bills the org's GPU
runner (label ``org-gpu-large``, which the rate file does not know) under a SKU the rate file lacks.

How the fake bills, as GitHub does:
- each job's minutes rounded up, priced at the rate of the day it started, dated the day its run
  completed (the day the product books it to);
- standard runners are free in public repositories and self-hosted runners cost nothing: neither is
  billed (no item);
- the plan's included minutes (``included_minutes`` a month) come off the month's first billable
  standard-runner minutes of private repositories, in date order: ``discountAmount``, ``netAmount``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.fake_github import OrgSeed, RunSpec


@dataclass(frozen=True)
class BilledRunner:
    sku: str
    standard: bool  # included minutes and public repositories' free use apply to standard runners only
    rates: tuple[tuple[date, Decimal], ...]  # (from, USD per minute), by date

    def rate_on(self, day: date) -> Decimal:
        return [rate for since, rate in self.rates if since <= day][-1]


_2025, _2026 = date(2025, 1, 1), date(2026, 1, 1)
#: GitHub's price list as the fake bills it, by ``runs-on`` label of the seeded runs.
GITHUB_PRICES: Mapping[str, BilledRunner] = {
    "ubuntu-latest": BilledRunner("linux", True, ((_2025, Decimal("0.008")), (_2026, Decimal("0.006")))),
    "windows-latest": BilledRunner("windows", True, ((_2025, Decimal("0.016")), (_2026, Decimal("0.010")))),
    "macos-latest": BilledRunner("macos", True, ((_2025, Decimal("0.080")), (_2026, Decimal("0.062")))),
    "ubuntu-24.04-arm": BilledRunner("linux_2_core_arm", True, ((_2025, Decimal("0.005")),)),
    # The org's GPU larger runner: a SKU the product's rate file does not have (the fake's own price).
    "org-gpu-large": BilledRunner("linux_4_core_gpu", False, ((_2025, Decimal("0.052")),)),
}
SELF_HOSTED = "self-hosted"
PRODUCT, UNIT = "actions", "minutes"


def billed_runner(labels: Iterable[str]) -> BilledRunner | None:
    """The runner GitHub bills a job's labels as; None for a self-hosted runner."""
    labels = tuple(labels)
    if SELF_HOSTED in labels:
        return None
    return next(GITHUB_PRICES[label] for label in labels if label in GITHUB_PRICES)


def billing_usage_items(seed: OrgSeed, *, included_minutes: int = 0) -> list[dict[str, Any]]:
    """The usage items GitHub reports for ``seed``'s runs, by date, repository and SKU."""
    lines: dict[tuple[date, str, str, Decimal], int] = {}  # (day, repository, sku, price) -> minutes
    standard: dict[tuple[date, str, str, Decimal], bool] = {}
    for run in seed.runs:
        for key, minutes, is_standard in _billed_jobs(seed, run):
            lines[key] = lines.get(key, 0) + minutes
            standard[key] = is_standard
    items = []
    left: dict[tuple[int, int], int] = {}  # (year, month) -> included minutes not used yet
    for key in sorted(lines):
        day, repository, sku, price = key
        quantity = lines[key]
        month = (day.year, day.month)
        left.setdefault(month, included_minutes)
        free = min(quantity, left[month]) if standard[key] and seed.repos[repository] else 0
        left[month] -= free
        gross, discount = price * quantity, price * free
        items.append(
            {
                "date": day.isoformat(),
                "product": PRODUCT,
                "sku": sku,
                "quantity": quantity,
                "unitType": UNIT,
                "pricePerUnit": float(price),
                "grossAmount": float(gross),
                "discountAmount": float(discount),
                "netAmount": float(gross - discount),
                "organizationName": seed.org,
                "repositoryName": f"{seed.org}/{repository}",
            }
        )
    return items


def _billed_jobs(seed: OrgSeed, run: RunSpec) -> Iterable[tuple[tuple[date, str, str, Decimal], int, bool]]:
    private = seed.repos[run.repo]
    for job in run.jobs:
        runner = billed_runner(job.labels)
        minutes = 0 if job.conclusion == "skipped" else math.ceil(job.seconds / 60)
        if runner is None or minutes == 0 or (runner.standard and not private):
            continue
        day = run.completed_at.astimezone(UTC).date()
        yield (day, run.repo, runner.sku, runner.rate_on(job.started_at.date())), minutes, runner.standard


def usage_report(items: Iterable[Mapping[str, Any]], year: int, month: int | None, day: int | None) -> dict[str, Any]:
    """The report GitHub answers for the year (and month, and day) asked; items are daily, so an ``hour``
    filter (which GitHub also accepts) is not modelled."""
    prefix = f"{year:04d}" + (f"-{month:02d}" if month else "") + (f"-{day:02d}" if month and day else "")
    return {"usageItems": [dict(item) for item in items if str(item["date"]).startswith(prefix)]}
