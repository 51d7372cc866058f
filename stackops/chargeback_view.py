"""The chargeback report and a repository's runs as a table (rich), CSV or JSON.

A table is for a person: dollars to the cent, shares in percent. CSV and JSON are for a finance tool:
the exact stored amounts as decimal strings (never floats), so their sums are the table's to the cent.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from functions.chargeback import MonthlyReport, StoredRun, cents, exact, report_json, report_rows

Format = Literal["table", "csv", "json"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json")


def money(amount: Decimal) -> str:
    return f"${cents(amount):,}"


def percent(share: Decimal | None) -> str:
    return "-" if share is None else f"{share * 100:.1f}%"


def render_report(report: MonthlyReport, output: Format, console: Console) -> None:
    if output == "json":
        write_raw(console, json.dumps(report_json(report), indent=2) + "\n")
    elif output == "csv":
        write_raw(console, csv_text(report_rows(report), REPORT_FIELDS))
    else:
        _report_table(report, console)


def _report_table(report: MonthlyReport, console: Console) -> None:
    if not report.lines:
        console.print(f"No workflow runs are booked to {report.month}.", markup=False)
        return
    allocated = report.included_minutes is not None
    table = Table(title=f"Chargeback {report.month}: GitHub Actions per repository")
    for column in ("repository", "runs", "billable min", "cost", "estimated jobs", "share"):
        table.add_column(column, justify="left" if column == "repository" else "right")
    if allocated:
        table.add_column("included min", justify="right")
        table.add_column("net cost", justify="right")
    for line in report.lines:
        total = line.total
        cells = [
            total.repository,
            f"{total.runs:,}",
            f"{total.billable_minutes:,}",
            money(total.cost_usd),
            f"{total.estimated_jobs:,}",
            percent(line.share),
        ]
        if allocated:
            cells += [f"{line.included_minutes:,.1f}", money(line.net_cost_usd)]
        table.add_row(*cells)
    footer = [
        "total",
        f"{report.runs:,}",
        f"{report.billable_minutes:,}",
        money(report.cost_usd),
        f"{report.estimated_jobs:,}",
        "100.0%" if report.cost_usd else "-",
    ]
    if allocated:
        footer += [
            f"{min(report.included_minutes or 0, report.billable_minutes):,}",
            money(report.cost_usd - report.included_credit_usd),
        ]
    table.add_section()
    table.add_row(*footer, style="bold")
    console.print(table)
    allocation = report.allocation
    if report.included_minutes is None:
        allocation = allocation.removesuffix(".") + " (--included-minutes N allocates them pro rata)."
    console.print(allocation, markup=False)
    if report.estimated_jobs:
        console.print(
            f"{report.estimated_jobs} jobs ran on runners the rate file does not know and are estimated at the "
            "Linux 2-core rate (docs/pricing.md, rule 6).",
            markup=False,
        )


def run_rows(runs: Sequence[StoredRun]) -> list[dict[str, Any]]:
    return [
        {
            "runId": run.run_id,
            "runAttempt": run.run_attempt,
            "workflowName": run.workflow_name,
            "conclusion": run.conclusion,
            "completedAt": run.completed_at,
            "jobs": run.job_count,
            "minutes": run.minutes,
            "billableMinutes": run.billable_minutes,
            "costUsd": exact(run.cost_usd),
            "estimatedJobs": run.estimated_jobs,
        }
        for run in runs
    ]


def render_runs(repository: str, month: str, runs: Sequence[StoredRun], output: Format, console: Console) -> None:
    if output == "json":
        write_raw(
            console, json.dumps({"repository": repository, "month": month, "runs": run_rows(runs)}, indent=2) + "\n"
        )
        return
    if output == "csv":
        write_raw(console, csv_text(run_rows(runs), RUN_FIELDS))
        return
    if not runs:
        console.print(f"No workflow runs of {repository} are booked to {month}.", markup=False)
        return
    table = Table(title=f"Runs of {repository} booked to {month}")
    for column in ("run", "attempt", "workflow", "conclusion", "completed", "jobs", "billable min", "cost", "est."):
        table.add_column(column, justify="left" if column in ("workflow", "conclusion", "completed") else "right")
    for run in runs:
        table.add_row(
            str(run.run_id),
            str(run.run_attempt),
            run.workflow_name,
            run.conclusion,
            run.completed_at,
            f"{run.job_count:,}",
            f"{run.billable_minutes:,}",
            money(run.cost_usd),
            str(run.estimated_jobs),
        )
    total = sum((run.cost_usd for run in runs), Decimal(0))
    table.add_section()
    table.add_row(
        "total", "", "", "", "", "", f"{sum(run.billable_minutes for run in runs):,}", money(total), "", style="bold"
    )
    console.print(table)


REPORT_FIELDS = ("repository", "runs", "minutes", "billableMinutes", "costUsd", "estimatedJobs", "share")
RUN_FIELDS = (
    "runId",
    "runAttempt",
    "workflowName",
    "conclusion",
    "completedAt",
    "jobs",
    "minutes",
    "billableMinutes",
    "costUsd",
    "estimatedJobs",
)


def csv_text(rows: list[dict[str, Any]], fields: Sequence[str]) -> str:
    """The rows under a header (the header alone when there are none: an empty month is still a CSV)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows({name: "" if value is None else value for name, value in row.items()} for row in rows)
    return out.getvalue()


def write_raw(console: Console, text: str) -> None:
    """Machine-readable output as is: no markup, highlighting or wrapping."""
    console.file.write(text)
    console.file.flush()
