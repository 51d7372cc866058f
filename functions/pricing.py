"""Price the jobs of a workflow run the way GitHub bills them (docs/pricing.md has the rules).

Each job's duration is rounded up to a whole minute and multiplied by the per-minute rate of its
runner, chosen by the job's labels, at the rate in effect when the job started. The rates live in
``functions/data/runner_rates.json`` (with effective dates and sources), not in code. Money is
``decimal.Decimal`` throughout: a cost is exact (whole minutes times a rate with a few decimals).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, field_validator, model_validator
from pydantic.alias_generators import to_camel

RATES_FILE = Path(__file__).parent / "data" / "runner_rates.json"
SELF_HOSTED_LABEL = "self-hosted"
SELF_HOSTED_SKU = "self_hosted"


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, defer_build=True)


class Rate(_Camel):
    effective_from: date
    usd_per_minute: Decimal = Field(ge=0)
    source: str


class RunnerSku(_Camel):
    """A GitHub billing SKU and the ``runs-on`` labels (exact names or ``fnmatch`` patterns) that select it."""

    sku: str
    description: str
    labels: tuple[str, ...]
    free_for_public_repositories: bool
    rates: tuple[Rate, ...] = Field(min_length=1)

    @field_validator("rates")
    @classmethod
    def _sorted_by_date(cls, rates: tuple[Rate, ...]) -> tuple[Rate, ...]:
        return tuple(sorted(rates, key=lambda rate: rate.effective_from))

    def matches(self, label: str) -> bool:
        return any(fnmatchcase(label.lower(), pattern.lower()) for pattern in self.labels)

    def rate_on(self, day: date) -> tuple[Rate, bool]:
        """The rate in effect on ``day``; the flag is True when ``day`` predates every known rate."""
        in_effect = [rate for rate in self.rates if rate.effective_from <= day]
        return (in_effect[-1], False) if in_effect else (self.rates[0], True)


class RateCard(_Camel):
    """The contents of ``runner_rates.json``."""

    as_of: date
    fallback_sku: str
    skus: tuple[RunnerSku, ...]

    @model_validator(mode="after")
    def _consistent(self) -> RateCard:
        names = [sku.sku for sku in self.skus]
        if len(set(names)) != len(names):
            raise ValueError("runner_rates.json names a SKU twice")
        if self.fallback_sku not in names:
            raise ValueError(f"fallbackSku {self.fallback_sku!r} is not one of the SKUs")
        return self

    def sku(self, name: str) -> RunnerSku:
        return next(sku for sku in self.skus if sku.sku == name)

    def sku_for(self, labels: Iterable[str]) -> RunnerSku | None:
        """The SKU of the first label that names a GitHub-hosted runner, if any does."""
        for label in labels:
            for sku in self.skus:
                if sku.matches(label):
                    return sku
        return None


@lru_cache(maxsize=1)
def rate_card() -> RateCard:
    return RateCard.model_validate_json(RATES_FILE.read_bytes())


class JobUsage(BaseModel):
    """What pricing needs from a job of the jobs API."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    job_id: int
    name: str
    labels: tuple[str, ...]
    conclusion: str | None
    started_at: datetime | None
    completed_at: datetime | None


class PricedJob(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    job_id: int
    name: str
    labels: tuple[str, ...]
    sku: str
    minutes: NonNegativeInt
    billable_minutes: NonNegativeInt  # 0 when the minutes are free (public repository, free self-hosted)
    usd_per_minute: Decimal
    cost_usd: Decimal
    estimated: bool  # True when the runner was not recognised or the job predates the rate table


class RunPrice(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    jobs: tuple[PricedJob, ...]

    @property
    def minutes(self) -> int:
        return sum(job.minutes for job in self.jobs)

    @property
    def billable_minutes(self) -> int:
        return sum(job.billable_minutes for job in self.jobs)

    @property
    def cost_usd(self) -> Decimal:
        return sum((job.cost_usd for job in self.jobs), Decimal(0))

    @property
    def estimated_jobs(self) -> tuple[PricedJob, ...]:
        return tuple(job for job in self.jobs if job.estimated)


def billed_minutes(job: JobUsage) -> int:
    """Whole minutes GitHub bills for a job: its duration rounded up; 0 if skipped or never timed."""
    if job.conclusion == "skipped" or job.started_at is None or job.completed_at is None:
        return 0
    seconds = (job.completed_at - job.started_at).total_seconds()
    return max(0, math.ceil(seconds / 60))


def price_job(
    job: JobUsage,
    *,
    repository_private: bool,
    self_hosted_usd_per_minute: Decimal,
    fallback_day: date,
    card: RateCard | None = None,
) -> PricedJob:
    """Price one job. ``fallback_day`` picks the rate when the job has no start time."""
    card = card or rate_card()
    minutes = billed_minutes(job)
    labels = tuple(job.labels)

    if any(label.lower() == SELF_HOSTED_LABEL for label in labels):
        rate, sku_name = self_hosted_usd_per_minute, SELF_HOSTED_SKU
        free, estimated = rate == 0, False
    else:
        day = job.started_at.date() if job.started_at else fallback_day
        sku = card.sku_for(labels)
        recognised = sku is not None
        sku = sku or card.sku(card.fallback_sku)
        chosen, before_table = sku.rate_on(day)
        rate, sku_name = chosen.usd_per_minute, sku.sku
        # An unrecognised label is most likely an organization's larger runner: never free.
        free = recognised and sku.free_for_public_repositories and not repository_private
        estimated = not recognised or before_table

    cost = Decimal(0) if free else rate * minutes
    return PricedJob(
        job_id=job.job_id,
        name=job.name,
        labels=labels,
        sku=sku_name,
        minutes=minutes,
        billable_minutes=0 if free else minutes,
        usd_per_minute=rate,
        cost_usd=cost,
        estimated=estimated and minutes > 0,
    )


def price_run(
    jobs: Sequence[JobUsage],
    *,
    repository_private: bool,
    self_hosted_usd_per_minute: Decimal,
    fallback_day: date,
    card: RateCard | None = None,
) -> RunPrice:
    return RunPrice(
        jobs=tuple(
            price_job(
                job,
                repository_private=repository_private,
                self_hosted_usd_per_minute=self_hosted_usd_per_minute,
                fallback_day=fallback_day,
                card=card,
            )
            for job in jobs
        )
    )


def self_hosted_rate(setting: str) -> Decimal:
    """Parse SELF_HOSTED_USD_PER_MINUTE, refusing what cannot be a price."""
    try:
        rate = Decimal(setting)
    except ArithmeticError as exc:
        raise ValueError(f"SELF_HOSTED_USD_PER_MINUTE={setting!r} is not a decimal number") from exc
    if not rate.is_finite() or rate < 0:
        raise ValueError(f"SELF_HOSTED_USD_PER_MINUTE={setting!r} must be a non-negative number")
    return rate
