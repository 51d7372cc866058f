"""The priced result (``build/compare/cost.json``): what the cost model makes of a :class:`UsageReport`.

Written by ``stackops.cost_model``, read by the report. Every figure is USD per month unless its name
says otherwise, computed from the usage lines and the price table (``stackops/data/aws_prices.json``),
so each one can be traced to a line item, a price with its source, and the command that metered it.

Designs (``Estimate.design``): the measured stacks by their label (``sqs``, ``stepfunctions-STANDARD``,
``stepfunctions-EXPRESS``), ``floor`` (the HTTP API, one receiver invoke and the writes: what any design
pays), and the original article's designs as written (``article-sqs``, ``article-stepfunctions``: x86,
one record per batch, a Lambda for every DynamoDB write, Standard everywhere).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stackops.usage import UseCase

Workload = UseCase | Literal["mix"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class CostLine(_Model):
    """One line item: a unit's monthly quantity at that volume, and what it costs after free tiers."""

    service: str
    unit: str
    resource: str = ""
    quantity: float = Field(ge=0)
    usd: float = Field(ge=0)
    price_key: str = Field(alias="priceKey")  # the price table entry it was priced with


class Estimate(_Model):
    """One design, one workload, one monthly volume."""

    design: str
    workload: Workload
    volume: int = Field(ge=0, description="deliveries per month")
    per_event_usd: float = Field(alias="perEventUsd", description="the traffic-driven part, per month")
    idle_usd: float = Field(alias="idleUsd", description="what the stack costs per month with no traffic")
    total_usd: float = Field(alias="totalUsd")
    per_million_usd: float = Field(alias="perMillionUsd", description="per-event cost of a million deliveries")
    lines: list[CostLine]
    idle_lines: list[CostLine] = Field(alias="idleLines")


class Crossover(_Model):
    """Where two designs' monthly totals cross for one workload (None: they never do in the range)."""

    workload: Workload
    cheaper_below: str = Field(alias="cheaperBelow")
    cheaper_above: str = Field(alias="cheaperAbove")
    volume: float | None
    #: The two designs compared (added with the cost model: without it a pair that never crosses names
    #: only the cheaper one). Optional, so older cost.json files still load.
    pair: list[str] = Field(default_factory=list)


class LeverEffect(_Model):
    """A cost lever set one way, against the design's measured configuration, at one volume."""

    lever: str  # "logLevel", "xrayTracing", "batchSize", "batchWindow", "memoryMb", "cpu", "workflowType"
    setting: str
    design: str
    workload: Workload
    volume: int
    total_usd: float = Field(alias="totalUsd")
    delta_usd: float = Field(alias="deltaUsd", description="against the measured configuration")


class CostReport(_Model):
    """``build/compare/cost.json``."""

    usage_command: str = Field(alias="usageCommand")  # UsageReport.command it priced
    usage_source: Literal["sandbox", "aws"] = Field(alias="usageSource")
    region: str
    prices_as_of: str = Field(alias="pricesAsOf")
    volumes: list[int]
    mix: dict[str, float]  # the workload mix: use case -> share of deliveries (sums to 1)
    designs: list[str]
    estimates: list[Estimate]
    crossovers: list[Crossover]
    levers: list[LeverEffect]
    notes: list[str] = Field(default_factory=list)
    #: aws only: the real bill per stack from Cost Explorer (service -> USD) over the usage period.
    bill: dict[str, dict[str, float]] = Field(default_factory=dict)
