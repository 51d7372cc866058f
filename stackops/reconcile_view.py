"""A reconciliation as a table with its explanations (rich), CSV (a row per repository and SKU) or JSON."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from functions.chargeback import exact
from stackops.chargeback_view import Format, csv_text, write_raw
from stackops.reconcile import ReconciledLine, Reconciliation

STATUS_STYLE = {"match": "green", "explained": "yellow", "unexplained": "bold red"}
FIELDS = (
    "repository",
    "sku",
    "githubMinutes",
    "storedMinutes",
    "githubGrossUsd",
    "storedCostUsd",
    "githubDiscountUsd",
    "githubNetUsd",
    "status",
    "explainedBy",
    "unexplainedMinutes",
    "unexplainedUsd",
)


def _minutes(value: Decimal) -> str:
    return format(value.normalize(), "f")


def line_row(line: ReconciledLine) -> dict[str, Any]:
    return {
        "repository": line.repository,
        "sku": line.sku,
        "githubMinutes": _minutes(line.github_minutes),
        "storedMinutes": _minutes(line.stored_minutes),
        "githubGrossUsd": exact(line.github_gross),
        "storedCostUsd": exact(line.stored_cost),
        "githubDiscountUsd": exact(line.github_discount),
        "githubNetUsd": exact(line.github_net),
        "status": line.status,
        "explainedBy": " ".join(explanation.kind for explanation in line.explanations),
        "unexplainedMinutes": _minutes(line.unexplained_minutes),
        "unexplainedUsd": exact(line.unexplained_amount),
    }


def reconciliation_json(reconciliation: Reconciliation) -> dict[str, Any]:
    return {
        "month": reconciliation.month,
        "org": reconciliation.org,
        "lines": [
            line_row(line)
            | {
                "explanations": [
                    {"kind": e.kind, "minutes": _minutes(e.minutes), "amountUsd": exact(e.amount), "text": e.text}
                    for e in line.explanations
                ]
            }
            for line in reconciliation.lines
        ],
        "total": {
            "githubGrossUsd": exact(reconciliation.total("github_gross")),
            "githubDiscountUsd": exact(reconciliation.total("github_discount")),
            "githubNetUsd": exact(reconciliation.total("github_net")),
            "storedCostUsd": exact(reconciliation.total("stored_cost")),
            "unexplainedUsd": exact(reconciliation.total("unexplained_amount")),
            "unexplainedLines": len(reconciliation.unexplained),
        },
    }


def render_reconciliation(reconciliation: Reconciliation, output: Format, console: Console) -> None:
    if output == "json":
        write_raw(console, json.dumps(reconciliation_json(reconciliation), indent=2) + "\n")
        return
    if output == "csv":
        write_raw(console, csv_text([line_row(line) for line in reconciliation.lines], FIELDS))
        return
    if not reconciliation.lines:
        console.print(
            f"Nothing to reconcile for {reconciliation.month}: GitHub bills no Actions minutes and no run is stored.",
            markup=False,
        )
        return
    table = Table(
        title=f"Reconciliation {reconciliation.month}: stored chargeback against GitHub's bill for {reconciliation.org}"
    )
    for column in ("repository", "sku", "GitHub min", "stored min", "GitHub gross", "stored", "discount", "status"):
        table.add_column(column, justify="left" if column in ("repository", "sku", "status") else "right")
    for line in reconciliation.lines:
        table.add_row(
            line.repository,
            line.sku,
            _minutes(line.github_minutes),
            _minutes(line.stored_minutes),
            f"${exact(line.github_gross)}",
            f"${exact(line.stored_cost)}",
            f"${exact(line.github_discount)}",
            f"[{STATUS_STYLE[line.status]}]{line.status}[/]",
        )
    table.add_section()
    table.add_row(
        "total",
        "",
        "",
        "",
        f"${exact(reconciliation.total('github_gross'))}",
        f"${exact(reconciliation.total('stored_cost'))}",
        f"${exact(reconciliation.total('github_discount'))}",
        f"{len(reconciliation.unexplained)} unexplained",
        style="bold",
    )
    console.print(table)
    for line in reconciliation.lines:
        for explanation in line.explanations:
            console.print(f"• {line.repository} {line.sku}: {explanation.text}", markup=False)
        if line.status == "unexplained":
            console.print(
                f"• {line.repository} {line.sku}: UNEXPLAINED {_minutes(line.unexplained_minutes)} min, "
                f"${exact(line.unexplained_amount)} (GitHub minus stored)",
                markup=False,
            )
