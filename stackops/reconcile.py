"""Reconcile the stored chargeback of a month with what GitHub bills, per repository and SKU.

GitHub's side is the org's billing usage report (``stackops/github_billing.py``): minutes, gross amount,
discount and net amount per day, repository and SKU. The stored side is the month's run items (each job's
SKU, billable minutes and cost). Quantity (minutes) and gross amount are compared per repository and
SKU, and each difference is explained where the data can show why; nothing is asserted:

- **a SKU the rate file lacks**: GitHub bills a SKU ``runner_rates.json`` does not have, and the
  repository has estimated jobs whose labels the rate file does not know (priced at the fallback
  rate, docs/pricing.md rule 6): those minutes are the SKU's; the amount differs by the price;
- **a rate change**: GitHub's ``pricePerUnit`` on a day is none the rate file gives that SKU on that day
  or the day before (a hosted job runs at most 6 hours, so it started on one of the two): the
  difference is the day's minutes times the change;
- **runs that never arrived**: GitHub bills more minutes than the stored runs hold, and what is left
  of the amount is those minutes at GitHub's (or the rate file's) rates: runs whose
  ``workflow_run.completed`` never reached the stack, or was never processed;
- **included minutes**: GitHub's ``discountAmount``, the plan's free minutes; gross is compared, so the
  discount explains the net amount, not a difference.

What is left is *unexplained*, and the command exits 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from functions.chargeback import StoredJob, StoredRun
from functions.pricing import SELF_HOSTED_LABEL, SELF_HOSTED_SKU, RateCard
from stackops.github_billing import UsageItem

Kind = Literal["unknown_sku", "rate_change", "missing_runs", "included_minutes"]
Status = Literal["match", "explained", "unexplained"]
ZERO = Decimal(0)
#: The row of estimated jobs on runners the rate file does not know that no GitHub SKU accounts for.
UNMAPPED = "(unknown runner)"


@dataclass(frozen=True)
class Explanation:
    kind: Kind
    minutes: Decimal  # of the quantity difference this explains
    amount: Decimal  # of the gross amount difference this explains (the discount, for included minutes)
    text: str


@dataclass(frozen=True)
class ReconciledLine:
    repository: str
    sku: str
    github_minutes: Decimal
    github_gross: Decimal
    github_discount: Decimal
    github_net: Decimal
    stored_minutes: Decimal
    stored_cost: Decimal
    explanations: tuple[Explanation, ...]
    unexplained_minutes: Decimal
    unexplained_amount: Decimal

    @property
    def status(self) -> Status:
        if self.unexplained_minutes or self.unexplained_amount:
            return "unexplained"
        if self.explanations or self.github_minutes != self.stored_minutes or self.github_gross != self.stored_cost:
            return "explained"
        return "match"


@dataclass(frozen=True)
class Reconciliation:
    month: str
    org: str
    lines: tuple[ReconciledLine, ...]

    @property
    def unexplained(self) -> tuple[ReconciledLine, ...]:
        return tuple(line for line in self.lines if line.status == "unexplained")

    def total(self, name: str) -> Decimal:
        return sum((getattr(line, name) for line in self.lines), ZERO)


@dataclass
class _Stored:
    minutes: Decimal = ZERO
    cost: Decimal = ZERO
    labels: set[str] = field(default_factory=set)

    def add(self, job: StoredJob) -> None:
        self.minutes += job.billable_minutes
        self.cost += job.cost_usd
        self.labels.update(job.labels)


def _unknown_runner(job: StoredJob, card: RateCard) -> bool:
    """An estimated job whose labels name no SKU of the rate file (priced at the fallback rate)."""
    self_hosted = any(label.lower() == SELF_HOSTED_LABEL for label in job.labels)
    return job.estimated and not self_hosted and card.sku_for(job.labels) is None


def stored_by_sku(
    runs: Mapping[str, Sequence[StoredRun]], card: RateCard
) -> tuple[dict[tuple[str, str], _Stored], dict[str, _Stored]]:
    """Billed minutes and cost per (repository, SKU), and per repository those of unknown runners."""
    known: dict[tuple[str, str], _Stored] = {}
    unknown: dict[str, _Stored] = {}
    for repository, repository_runs in runs.items():
        for run in repository_runs:
            for job in run.jobs:
                if job.billable_minutes == 0 and job.cost_usd == 0:
                    continue  # free: GitHub bills nothing either
                if _unknown_runner(job, card):
                    unknown.setdefault(repository, _Stored()).add(job)
                else:
                    known.setdefault((repository, job.sku), _Stored()).add(job)
    return known, unknown


def reconcile(
    month: str, org: str, items: Iterable[UsageItem], runs: Mapping[str, Sequence[StoredRun]], card: RateCard
) -> Reconciliation:
    github: dict[tuple[str, str], list[UsageItem]] = {}
    for item in items:
        github.setdefault((item.repository(org), item.rate_file_sku), []).append(item)
    known, unknown = stored_by_sku(runs, card)
    skus = {sku.sku: sku for sku in card.skus}
    lines = []
    for repository, sku in sorted(github.keys() | known.keys()):
        billed = github.get((repository, sku), [])
        stored = known.get((repository, sku), _Stored())
        pool = unknown.get(repository) if billed and sku not in skus and sku != SELF_HOSTED_SKU else None
        lines.append(_line(repository, sku, billed, stored, pool, card))
    for repository, pool in sorted(unknown.items()):
        if pool.minutes or pool.cost:  # estimated minutes no GitHub SKU accounted for
            lines.append(_line(repository, UNMAPPED, [], pool, None, card))
    return Reconciliation(month=month, org=org, lines=tuple(lines))


def _line(
    repository: str,
    sku: str,
    billed: list[UsageItem],
    stored: _Stored,
    unknown_pool: _Stored | None,
    card: RateCard,
) -> ReconciledLine:
    minutes = sum((item.quantity for item in billed), ZERO)
    gross = sum((item.gross_amount for item in billed), ZERO)
    left_minutes, left_amount = minutes - stored.minutes, gross - stored.cost
    explanations: list[Explanation] = []

    if unknown_pool is not None and unknown_pool.minutes and left_minutes > 0:
        taken = min(unknown_pool.minutes, left_minutes)
        cost = unknown_pool.cost * taken / unknown_pool.minutes
        unknown_pool.minutes -= taken
        unknown_pool.cost -= cost
        at_github = gross * taken / minutes  # GitHub's price of those minutes
        labels = ", ".join(sorted(unknown_pool.labels - _known_labels(unknown_pool.labels, card))) or "?"
        explanations.append(
            Explanation(
                "unknown_sku",
                taken,
                at_github,
                f"{sku} is not in runner_rates.json: {_n(taken)} min of jobs on runners it does not know "
                f"({labels}) are stored as estimated at the {card.fallback_sku} rate (${_n(cost)}); "
                f"GitHub bills them as {sku} (${_n(at_github)})",
            )
        )
        left_minutes -= taken
        left_amount -= at_github

    if sku in {known.sku for known in card.skus}:
        for item in billed:
            day = date.fromisoformat(item.day)
            runner = card.sku(sku)
            in_effect = {
                runner.rate_on(day)[0].usd_per_minute,
                runner.rate_on(day - timedelta(days=1))[0].usd_per_minute,
            }
            if item.price_per_unit not in in_effect:
                file_rate = runner.rate_on(day)[0].usd_per_minute
                delta = item.quantity * (item.price_per_unit - file_rate)
                explanations.append(
                    Explanation(
                        "rate_change",
                        ZERO,
                        delta,
                        f"on {item.day} GitHub charged ${_n(item.price_per_unit)}/min for {_n(item.quantity)} min, "
                        f"the rate file ${_n(file_rate)}: a rate change runner_rates.json does not have",
                    )
                )
                left_amount -= delta

    if left_minutes > 0:
        rates = _rates(billed, sku, card)
        low, high = left_minutes * min(rates, default=ZERO), left_minutes * max(rates, default=ZERO)
        if low <= left_amount <= high:
            explanations.append(
                Explanation(
                    "missing_runs",
                    left_minutes,
                    left_amount,
                    f"GitHub bills {_n(left_minutes)} min (${_n(left_amount)}) no stored run holds: runs whose "
                    "workflow_run.completed never reached the stack, or was never processed",
                )
            )
            left_minutes, left_amount = ZERO, ZERO

    discount = sum((item.discount_amount for item in billed), ZERO)
    if discount:
        free = sum((item.discount_amount / item.price_per_unit for item in billed if item.price_per_unit), ZERO)
        explanations.append(
            Explanation(
                "included_minutes",
                ZERO,
                discount,
                f"the plan's included minutes: GitHub took ${_n(discount)} off ({_n(free)} min), "
                f"net ${_n(gross - discount)}",
            )
        )
    return ReconciledLine(
        repository=repository,
        sku=sku,
        github_minutes=minutes,
        github_gross=gross,
        github_discount=discount,
        github_net=sum((item.net_amount for item in billed), ZERO),
        stored_minutes=stored.minutes,
        stored_cost=stored.cost,
        explanations=tuple(explanations),
        unexplained_minutes=left_minutes,
        unexplained_amount=left_amount,
    )


def _rates(billed: Sequence[UsageItem], sku: str, card: RateCard) -> set[Decimal]:
    """The per-minute prices missing minutes may have: GitHub's on the row's days, and the rate file's."""
    rates = {item.price_per_unit for item in billed}
    if sku in {known.sku for known in card.skus}:
        for item in billed:
            rates.add(card.sku(sku).rate_on(date.fromisoformat(item.day))[0].usd_per_minute)
    return rates


def _known_labels(labels: set[str], card: RateCard) -> set[str]:
    return {label for label in labels if card.sku_for([label]) is not None}


def _n(value: Decimal) -> str:
    """A number as a person reads it: exact, no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return text if text not in ("-0",) else "0"
