"""The AWS price table (``stackops/data/aws_prices.json``), loaded, validated and applied.

Every entry prices one ``service``/``unit`` (the units of ``stackops.usage``), optionally per
``variant`` (``arm64``/``x86_64`` for Lambda GB-seconds, ``lambda``/``standard`` for log ingestion), as
tiers over the month's total quantity and an optional free tier. Only permanent free tiers are
applied (Lambda's 1M requests and 400,000 GB-s, SQS's 1M requests, 4,000 Standard transitions...);
twelve-month offers for new accounts (HTTP API) never are. Entries sharing a ``freeTierPool`` (Lambda
GB-s of both architectures; CloudWatch Logs' 5 GB for ingestion and storage) share one allowance:
price them together with :meth:`PriceTable.monthly_usd_pooled`.

``python -m stackops.prices`` prints the Markdown table that ``docs/aws-prices.md`` embeds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

DATA_DIR = Path(__file__).parent / "data"
TABLE_FILES = {"us-east-1": DATA_DIR / "aws_prices.json"}


class PriceError(ValueError):
    """A price asked for that the table does not have (region, service/unit, variant): one clear line."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Tier(_Model):
    """``usd`` per entry's ``per`` units, for the month's units up to ``up_to`` (None: no upper bound)."""

    up_to: float | None = Field(default=None, alias="upTo", gt=0)
    usd: Decimal = Field(ge=0)


class FreeTier(_Model):
    quantity: float = Field(gt=0)
    permanent: bool


class PriceEntry(_Model):
    """One priced unit with its source: a line item names it by :attr:`key`."""

    service: str
    unit: str
    variant: str | None = None
    description: str
    per: int = Field(gt=0)
    tiers: list[Tier] = Field(min_length=1)
    free_tier: FreeTier | None = Field(default=None, alias="freeTier")
    free_tier_pool: str | None = Field(default=None, alias="freeTierPool")
    source: str = Field(pattern=r"^https://")
    as_of: date = Field(alias="asOf")
    verified: bool
    checked_at: list[str] = Field(default_factory=list, alias="checkedAt")
    note: str = ""

    @model_validator(mode="after")
    def _tiers_ascend_to_unbounded(self) -> PriceEntry:
        bounds = [t.up_to for t in self.tiers]
        if bounds[-1] is not None or any(b is None for b in bounds[:-1]):
            raise ValueError(f"{self.key}: only the last tier may (and must) have no upTo")
        finite = [b for b in bounds if b is not None]
        if finite != sorted(finite) or len(set(finite)) != len(finite):
            raise ValueError(f"{self.key}: tiers' upTo must increase, got {finite}")
        return self

    @property
    def key(self) -> str:
        """``lambda/gb_seconds/arm64``: how a cost line names the price it used."""
        return "/".join(p for p in (self.service, self.unit, self.variant) if p)

    def usd_for(self, quantity: float, *, free_units: float = 0.0) -> float:
        """What ``quantity`` units in one month cost when the first ``free_units`` of them are free."""
        if not math.isfinite(quantity) or quantity < 0:
            raise PriceError(f"{self.key}: quantity must be a finite number >= 0, got {quantity!r}")
        start = min(max(free_units, 0.0), quantity)
        total = 0.0
        lower = 0.0
        for tier in self.tiers:
            upper = math.inf if tier.up_to is None else tier.up_to
            billed = max(0.0, min(quantity, upper) - max(start, lower))
            total += billed * float(tier.usd) / self.per
            lower = upper
            if lower >= quantity:
                break
        return total


class Assumption(_Model):
    """A figure the model needs that is not a price (e.g. idle pollers per SQS mapping), with its source."""

    key: str
    value: float
    source: str = Field(pattern=r"^https://")
    as_of: date = Field(alias="asOf")
    verified: bool
    note: str = ""


class PriceTable(_Model):
    region: str
    currency: str
    as_of: date = Field(alias="asOf")
    about: str = ""
    prices: list[PriceEntry]
    assumptions: list[Assumption] = Field(default_factory=list)

    @model_validator(mode="after")
    def _keys_unique(self) -> PriceTable:
        keys = [p.key for p in self.prices]
        duplicated = sorted({k for k in keys if keys.count(k) > 1})
        if duplicated:
            raise ValueError(f"duplicate price entries: {', '.join(duplicated)}")
        return self

    def entry(self, service: str, unit: str, variant: str | None = None) -> PriceEntry:
        """The entry pricing ``service``/``unit`` (and ``variant`` where the unit has variants)."""
        matches = [p for p in self.prices if p.service == service and p.unit == unit]
        if not matches:
            known = ", ".join(sorted({f"{p.service}/{p.unit}" for p in self.prices}))
            raise PriceError(f"no price for {service}/{unit} in {self.region}: known units are {known}")
        variants = sorted(p.variant for p in matches if p.variant is not None)
        if not variants:
            return matches[0]
        for p in matches:
            if p.variant == variant:
                return p
        raise PriceError(f"{service}/{unit} needs a variant, one of {', '.join(variants)}; got {variant!r}")

    def free_units(self, entry: PriceEntry, *, apply_free_tier: bool = True) -> float:
        """The units of ``entry`` that are free each month (0 unless the free tier is permanent and applied)."""
        if not apply_free_tier or entry.free_tier is None or not entry.free_tier.permanent:
            return 0.0
        return entry.free_tier.quantity

    def monthly_usd(
        self,
        service: str,
        unit: str,
        quantity_per_month: float,
        *,
        variant: str | None = None,
        apply_free_tier: bool = True,
    ) -> float:
        """USD for ``quantity_per_month`` units in one month: tiers, and the permanent free tier if applied."""
        entry = self.entry(service, unit, variant)
        return entry.usd_for(quantity_per_month, free_units=self.free_units(entry, apply_free_tier=apply_free_tier))

    def monthly_usd_pooled(
        self, items: Sequence[tuple[PriceEntry, float]], *, apply_free_tier: bool = True
    ) -> list[float]:
        """Price several entries' monthly quantities at once, each ``freeTierPool`` shared in the given order."""
        remaining: dict[str, float] = {}
        out: list[float] = []
        for entry, quantity in items:
            allowance = self.free_units(entry, apply_free_tier=apply_free_tier)
            if entry.free_tier_pool is not None and allowance:
                allowance = remaining.setdefault(entry.free_tier_pool, allowance)
                remaining[entry.free_tier_pool] = max(0.0, allowance - quantity)
            out.append(entry.usd_for(quantity, free_units=allowance))
        return out

    def assumption(self, key: str) -> Assumption:
        for a in self.assumptions:
            if a.key == key:
                return a
        known = ", ".join(a.key for a in self.assumptions)
        raise PriceError(f"no assumption {key!r} in the price table: known are {known}")

    @property
    def seconds_per_month(self) -> float:
        return self.assumption("hoursPerMonth").value * 3600

    def sqs_idle_receives_per_month(self, mappings: int) -> float:
        """Empty ReceiveMessage requests AWS's pollers make in a month for ``mappings`` idle SQS event
        source mappings: pollers per mapping x one long poll per ``sqs.longPollWaitSeconds``."""
        if mappings < 0:
            raise PriceError(f"mappings must be >= 0, got {mappings}")
        pollers = self.assumption("sqs.idlePollersPerMapping").value
        wait = self.assumption("sqs.longPollWaitSeconds").value
        return mappings * pollers * self.seconds_per_month / wait


@cache
def load_prices(region: str = "us-east-1") -> PriceTable:
    """The validated price table of ``region`` (only ``us-east-1`` is kept)."""
    path = TABLE_FILES.get(region)
    if path is None:
        raise PriceError(f"no price table for region {region!r}: one of {', '.join(sorted(TABLE_FILES))}")
    table = PriceTable.model_validate(json.loads(path.read_text()))
    if table.region != region:
        raise PriceError(f"{path.name} holds {table.region!r} prices, not {region!r}")
    return table


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"


def _tiers(entry: PriceEntry) -> str:
    per = "" if entry.per == 1 else f" per {_number(entry.per)}"
    if len(entry.tiers) == 1:
        return f"${entry.tiers[0].usd}{per}"
    parts = []
    for tier in entry.tiers:
        bound = "beyond" if tier.up_to is None else f"to {_number(tier.up_to)}"
        parts.append(f"${tier.usd} {bound}")
    return f"{'; '.join(parts)} ({per.strip() or 'per unit'})"


def _free(entry: PriceEntry) -> str:
    if entry.free_tier is None:
        return "none"
    kind = "permanent" if entry.free_tier.permanent else "12 months, not applied"
    pool = f", shared ({entry.free_tier_pool})" if entry.free_tier_pool else ""
    return f"{_number(entry.free_tier.quantity)}/month ({kind}{pool})"


def render_markdown(table: PriceTable) -> str:
    """The table for people: what ``docs/aws-prices.md`` embeds between its markers."""
    lines = [
        f"Region `{table.region}`, {table.currency}, as of {table.as_of.isoformat()}.",
        "",
        "| Price key | What | Price | Free tier | Verified | Source | Note |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in table.prices:
        verified = "yes" if e.verified else "no"
        row = f"| `{e.key}` | {e.description} | {_tiers(e)} | {_free(e)} | {verified} | <{e.source}> | {e.note} |"
        lines.append(row)
    lines += ["", "| Assumption | Value | Verified | Source | Note |", "|---|---|---|---|---|"]
    for a in table.assumptions:
        verified = "yes" if a.verified else "no"
        lines.append(f"| `{a.key}` | {_number(a.value)} | {verified} | <{a.source}> | {a.note} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(load_prices()), end="")
