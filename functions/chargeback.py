"""Per-repository chargeback for a month, read from the workflow-runs table with ``Query`` only.

Shared by ``python -m stackops chargeback`` and the stack's ``GET /chargeback`` function
(``functions/chargeback_report.py``), so both answer the same figures in the same JSON.

The table (``functions/records.py``) keeps, per repository, one item per run attempt (``RUN#...``) and
totals per month (``MONTH#YYYY-MM``, ``period`` = ``YYYY-MM``); the GSI ``period-index`` (``period``/``pk``)
holds only the totals, so one ``Query`` of the index on ``period = YYYY-MM`` is the month's every
repository, and one ``Query`` of a repository's ``pk`` with ``begins_with(sk, "RUN#")`` its runs. Never a
``Scan`` (it would read every run of every month), and every page: a month of large job lists is more
than the 1 MB one ``Query`` answers.

Money is :class:`~decimal.Decimal` as stored (exact); it is rounded to cents only when shown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from functions import records

PERIOD_INDEX = "period-index"
CENT = Decimal("0.01")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_deserializer = TypeDeserializer()


def month_argument(text: str) -> str:
    """``--month 2026-11``: a calendar month, ``YYYY-MM`` (the table's booking months are UTC)."""
    match = _MONTH.fullmatch(text)
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1970:
        raise ValueError(f"{text!r} is not a month: expected YYYY-MM, e.g. 2026-11")
    return text


def repository_argument(text: str) -> str:
    """``--repo owner/name``: a repository's full name as GitHub spells it."""
    if not _REPOSITORY.fullmatch(text) or text.split("/")[1] in (".", ".."):
        raise ValueError(f"{text!r} is not a repository: expected owner/name, e.g. octo-org/payments")
    return text


def cents(amount: Decimal) -> Decimal:
    """Dollars to the cent, half up (an exact total of e.g. $0.125 is shown as $0.13)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def query_pages(client: Any, **request: Any) -> Iterator[dict[str, Any]]:
    """Every item a ``Query`` matches, as plain values, following ``LastEvaluatedKey`` to the last page."""
    while True:
        page = client.query(**request)
        for item in page.get("Items", []):
            yield {name: _deserializer.deserialize(value) for name, value in item.items()}
        if "LastEvaluatedKey" not in page:
            return
        request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}


@dataclass(frozen=True)
class RepositoryTotal:
    """A repository's ``MONTH#`` totals item."""

    repository: str
    runs: int
    minutes: int
    billable_minutes: int
    cost_usd: Decimal
    estimated_jobs: int

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> RepositoryTotal:
        return cls(
            repository=str(item["repository"]),
            runs=int(item.get("runs", 0)),
            minutes=int(item.get("minutes", 0)),
            billable_minutes=int(item.get("billableMinutes", 0)),
            cost_usd=Decimal(item.get("costUsd", 0)),
            estimated_jobs=int(item.get("estimatedJobs", 0)),
        )


@dataclass(frozen=True)
class StoredJob:
    """One job of a stored run (the run item's ``jobs`` JSON)."""

    labels: tuple[str, ...]
    sku: str
    billable_minutes: int
    usd_per_minute: Decimal
    cost_usd: Decimal
    estimated: bool


@dataclass(frozen=True)
class StoredRun:
    """A run item, as ``--repo`` lists it and reconciliation sums it per SKU."""

    repository: str
    run_id: int
    run_attempt: int
    workflow_name: str
    conclusion: str
    completed_at: str
    job_count: int
    minutes: int
    billable_minutes: int
    cost_usd: Decimal
    estimated_jobs: int
    jobs: tuple[StoredJob, ...]

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> StoredRun:
        jobs = tuple(
            StoredJob(
                labels=tuple(job.get("labels", ())),
                sku=str(job["sku"]),
                billable_minutes=int(job.get("billableMinutes", 0)),
                usd_per_minute=Decimal(job.get("usdPerMinute", "0")),
                cost_usd=Decimal(job.get("costUsd", "0")),
                estimated=bool(job.get("estimated", False)),
            )
            for job in json.loads(item.get("jobs") or "[]")
        )
        return cls(
            repository=str(item["repository"]),
            run_id=int(item["runId"]),
            run_attempt=int(item.get("runAttempt", 1)),
            workflow_name=str(item.get("workflowName", "")),
            conclusion=str(item.get("conclusion", "")),
            completed_at=str(item.get("completedAt", "")),
            job_count=int(item.get("jobCount", len(jobs))),
            minutes=int(item.get("minutes", 0)),
            billable_minutes=int(item.get("billableMinutes", 0)),
            cost_usd=Decimal(item.get("costUsd", 0)),
            estimated_jobs=int(item.get("estimatedJobs", 0)),
            jobs=jobs,
        )


class ChargebackTable:
    """The reads chargeback makes of a stack's workflow-runs table: ``Query`` only, every page."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def month_totals(self, month: str) -> list[RepositoryTotal]:
        """Every repository's totals for ``month`` (one ``Query`` of ``period-index``), by repository."""
        items = query_pages(
            self.client,
            TableName=self.table,
            IndexName=PERIOD_INDEX,
            KeyConditionExpression="#period = :month",
            ExpressionAttributeNames={"#period": "period"},
            ExpressionAttributeValues={":month": {"S": month}},
        )
        totals = [RepositoryTotal.from_item(item) for item in items if item.get("sk") == records.month_sk(month)]
        return sorted(totals, key=lambda total: total.repository)

    def runs(self, repository: str, month: str) -> list[StoredRun]:
        """The run attempts of ``repository`` booked to ``month``, in run id and attempt order."""
        owner, _, name = repository.partition("/")
        items = query_pages(
            self.client,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :runs)",
            FilterExpression="#month = :month",
            ExpressionAttributeNames={"#month": "month"},
            ExpressionAttributeValues={
                ":pk": {"S": records.repository_pk(owner, name)},
                ":runs": {"S": "RUN#"},
                ":month": {"S": month},
            },
        )
        return [StoredRun.from_item(item) for item in items]


# --- the monthly report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportLine:
    total: RepositoryTotal
    share: Decimal | None  # of the org's cost for the month (0..1); None when the month cost nothing
    included_minutes: Decimal  # allocated to this repository (0 unless allocated)
    included_credit_usd: Decimal  # what those minutes are worth at the repository's own rates

    @property
    def net_cost_usd(self) -> Decimal:
        return self.total.cost_usd - self.included_credit_usd


@dataclass(frozen=True)
class MonthlyReport:
    month: str
    lines: tuple[ReportLine, ...]
    included_minutes: int | None  # None: included minutes not allocated (the default)

    @property
    def runs(self) -> int:
        return sum(line.total.runs for line in self.lines)

    @property
    def billable_minutes(self) -> int:
        return sum(line.total.billable_minutes for line in self.lines)

    @property
    def cost_usd(self) -> Decimal:
        return sum((line.total.cost_usd for line in self.lines), Decimal(0))

    @property
    def estimated_jobs(self) -> int:
        return sum(line.total.estimated_jobs for line in self.lines)

    @property
    def included_credit_usd(self) -> Decimal:
        return sum((line.included_credit_usd for line in self.lines), Decimal(0))

    @property
    def allocation(self) -> str:
        """The sentence the report states about included minutes."""
        if self.included_minutes is None:
            return "Included minutes: not allocated; costs are gross, before the free minutes of the org's plan."
        used = min(self.included_minutes, self.billable_minutes)
        return (
            f"Included minutes: {self.included_minutes:,} allocated pro rata to billable minutes "
            f"({used:,} used this month), each repository credited at its own rates."
        )


def monthly_report(month: str, totals: Sequence[RepositoryTotal], included_minutes: int | None = None) -> MonthlyReport:
    """The report of ``totals``: each repository's share of the org's cost, and, with ``included_minutes``,
    the plan's free minutes allocated pro rata to billable minutes.

    Pro rata: a repository with ``b`` of the month's ``B`` billable minutes gets ``min(N, B) * b / B`` of
    the ``N`` included minutes, worth ``cost * min(N, B) / B`` at its own rates. (GitHub applies included
    minutes to usage in the order it happens; pro rata shares them fairly instead.)
    """
    if included_minutes is not None and included_minutes < 0:
        raise ValueError(f"included minutes must be 0 or more, not {included_minutes}")
    org_cost = sum((total.cost_usd for total in totals), Decimal(0))
    org_billable = sum(total.billable_minutes for total in totals)
    used = Decimal(min(included_minutes or 0, org_billable))
    lines = []
    for total in totals:
        fraction = used / org_billable if org_billable else Decimal(0)
        lines.append(
            ReportLine(
                total=total,
                share=total.cost_usd / org_cost if org_cost else None,
                included_minutes=total.billable_minutes * fraction,
                included_credit_usd=total.cost_usd * fraction,
            )
        )
    return MonthlyReport(month=month, lines=tuple(lines), included_minutes=included_minutes)


# --- the report as JSON (the CLI's --format json and GET /chargeback) -------------------------------

SHARE_PLACES = Decimal("0.0001")


def exact(amount: Decimal) -> str:
    """An exact amount as a plain decimal string (no exponent, no trailing zeros beyond the cent)."""
    text = format(amount.normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def report_rows(report: MonthlyReport) -> list[dict[str, Any]]:
    """One dict per repository, the exact values: what CSV and JSON print."""
    rows = []
    for line in report.lines:
        total = line.total
        row: dict[str, Any] = {
            "repository": total.repository,
            "runs": total.runs,
            "minutes": total.minutes,
            "billableMinutes": total.billable_minutes,
            "costUsd": exact(total.cost_usd),
            "estimatedJobs": total.estimated_jobs,
            "share": None if line.share is None else str(line.share.quantize(SHARE_PLACES)),
        }
        if report.included_minutes is not None:
            row |= {
                "includedMinutes": str(line.included_minutes.quantize(Decimal("0.1"))),
                "includedCreditUsd": exact(line.included_credit_usd.quantize(Decimal("0.000001"))),
                "netCostUsd": exact(line.net_cost_usd.quantize(Decimal("0.000001"))),
            }
        rows.append(row)
    return rows


def report_json(report: MonthlyReport) -> dict[str, Any]:
    return {
        "month": report.month,
        "includedMinutes": report.included_minutes,
        "allocation": report.allocation,
        "repositories": report_rows(report),
        "total": {
            "runs": report.runs,
            "billableMinutes": report.billable_minutes,
            "costUsd": exact(report.cost_usd),
            "estimatedJobs": report.estimated_jobs,
            **(
                {"netCostUsd": exact((report.cost_usd - report.included_credit_usd).quantize(Decimal("0.000001")))}
                if report.included_minutes is not None
                else {}
            ),
        },
    }
