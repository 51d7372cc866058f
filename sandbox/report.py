"""What `make run` prints: both architectures side by side."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.table import Table

from sandbox.replay import StackReport, median

EVENTS = (
    ("organization", "member added"),
    ("workflow_run", "workflow run completed"),
    ("installation", "installation created (backfill)"),
)


def print_report(console: Console, reports: Mapping[str, StackReport]) -> None:
    names = list(reports)
    deliveries = Table(title="Deliveries", title_justify="left")
    deliveries.add_column("")
    for name in names:
        deliveries.add_column(name, justify="right")
    rows = [
        ("sent", lambda r: len(r.outcomes)),
        ("accepted (202, dispatched)", lambda r: r.accepted),
        ("redelivered (same delivery id)", lambda r: r.redelivered),
        ("ignored (202, not ours)", lambda r: r.ignored),
        ("rejected (4xx)", lambda r: r.rejected),
        ("processed", lambda r: r.processed),
        ("failed", lambda r: r.failed),
    ]
    for label, value in rows:
        deliveries.add_row(label, *(str(value(reports[name])) for name in names))
    deliveries.add_row(
        "failures parked in",
        *("\n".join(f"{where}: {n}" for where, n in reports[name].parked.items()) or "-" for name in names),
    )
    deliveries.add_row("wall time, first send to idle", *(f"{reports[name].seconds:.1f} s" for name in names))
    console.print(deliveries)

    latency = Table(
        title="End-to-end latency per event (sent -> last notification), median / max; both stacks at "
        "once on this machine, cold starts included (make bench measures them one at a time)",
        title_justify="left",
    )
    latency.add_column("event")
    for name in names:
        latency.add_column(name, justify="right")
    for event, label in EVENTS:
        cells = []
        for name in names:
            values = reports[name].latencies(event)
            cells.append(f"{median(values):.2f} s / {max(values):.2f} s (n={len(values)})" if values else "-")
        latency.add_row(label, *cells)
    console.print(latency)

    tables = Table(title="Tables", title_justify="left")
    tables.add_column("")
    for name in names:
        tables.add_column(name, justify="right")
    tables.add_row("members", *(str(len(reports[name].members)) for name in names))
    tables.add_row(
        "workflow runs stored",
        *(str(sum(1 for i in reports[name].workflow_runs if i["sk"].startswith("RUN#"))) for name in names),
    )
    repositories = sorted({repo for report in reports.values() for repo in report.totals()})
    for repository in repositories:
        tables.add_row(f"{repository} total USD", *(reports[name].totals().get(repository, "-") for name in names))
    tables.add_row(
        "equal to the oracle",
        *(
            "yes"
            if not reports[name].oracle_differences
            else f"NO ({len(reports[name].oracle_differences)} differences)"
            for name in names
        ),
    )
    console.print(tables)
    same = _comparable(reports[names[0]]) == _comparable(reports[names[-1]]) if len(names) > 1 else True
    console.print(
        f"Both architectures' tables are {'identical' if same else 'DIFFERENT'} "
        "(member rows compared without when and by which delivery they were first onboarded)."
    )
    for name in names:
        for difference in reports[name].oracle_differences[:10]:
            console.print(f"[red]{name}: {difference}[/red]")


def _comparable(report: StackReport) -> tuple[list[str], list[str]]:
    """Both tables in a stable order, without what legitimately differs between two runs: when and by
    which delivery (member_added or the backfill) a member was first onboarded."""
    volatile = {"onboardedAt", "correlationId", "source"}
    members = sorted(repr(sorted((k, v) for k, v in item.items() if k not in volatile)) for item in report.members)
    runs = sorted(repr(sorted(item.items())) for item in report.workflow_runs)
    return members, runs
