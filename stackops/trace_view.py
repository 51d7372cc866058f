"""A trace for a person: the outcome, a table of steps in time order, and what answering took."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from stackops.trace_model import Trace, TraceStep

STATUS_STYLE = {"succeeded": "green", "failed": "bold red", "caught": "red", "running": "yellow", "waiting": "yellow"}
OUTCOME_STYLE = {"succeeded": "bold green", "failed": "bold red", "parked": "bold red", "running": "bold yellow"}
VALUE_WIDTH = 48


def render(trace: Trace, console: Console, *, full: bool = False) -> None:
    """``full``: every input and output whole; otherwise cut to one line each."""
    style = OUTCOME_STYLE.get(trace.outcome, "bold")
    origin = next((s.started_at for s in trace.steps if s.started_at is not None), None)
    headline = Text.assemble(
        (f"delivery {trace.delivery_id}", "bold"),
        f" on {trace.stack} ({trace.architecture}): ",
        (trace.outcome, style),
        f" — {trace.stopped_at}" if trace.stopped_at else "",
        f" (received {_clock(origin)} UTC; 'at' counts from then)" if origin is not None else "",
    )
    console.print(headline)
    if not trace.steps:
        looked = ", ".join(place.name for place in trace.places)
        console.print(f"Nothing of this delivery in {looked or 'the stack'} over the period searched (--since).")
    else:
        console.print(_steps_table(trace, origin, full))
    _footer(trace, console)


def _steps_table(trace: Trace, origin: float | None, full: bool) -> Table:
    table = Table(show_lines=False, expand=True)
    for column, width in (("at", 7), ("where", 14), ("step", 16), ("status", 9), ("tries", 5), ("ms", 5)):
        table.add_column(column, no_wrap=True, min_width=width)
    for column in ("input", "output / error"):
        table.add_column(column, overflow="fold" if full else "ellipsis", no_wrap=not full, ratio=1)
    for step in trace.steps:
        table.add_row(
            "" if step.started_at is None or origin is None else f"+{step.started_at - origin:.2f}s",
            _where(step),
            step.name,
            Text(step.status, style=STATUS_STYLE.get(step.status, "")),
            str(step.attempts),
            "" if step.duration_ms is None else f"{step.duration_ms:.0f}",
            _value(step.input, full),
            _result(step, full),
        )
    return table


def _footer(trace: Trace, console: Console) -> None:
    looked = len(trace.places)
    with_data = sum(place.found for place in trace.places)
    console.print(
        f"{len(trace.steps)} steps · {trace.cost.total_calls} API calls "
        f"({', '.join(f'{op} {n}' for op, n in trace.cost.api_calls.items())}) · {trace.cost.seconds:.2f} s · "
        f"{looked} places looked in, {with_data} with something of this delivery",
        style="dim",
    )
    for note in trace.notes:
        console.print(f"note: {note}", style="dim")


def _clock(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%H:%M:%S.%f")[:-3]


def _where(step: TraceStep) -> str:
    where = step.where.split(":", 1)[0].rsplit("-", 1)[-1] if ":" in step.where else step.where
    return f"{where}[{step.iteration}]" if step.iteration is not None else where


def _result(step: TraceStep, full: bool) -> Text:
    if step.error and step.status in ("failed", "caught", "waiting") or step.error and step.attempts > 1:
        retried = " (earlier attempts)" if step.status == "succeeded" else ""
        return Text(f"{step.error}{retried}: {_value(step.cause, full)}", style="red" if not retried else "yellow")
    queued = f"queued {step.queued_ms / 1000:.2f}s · " if step.queued_ms is not None else ""
    return Text(queued + _value(step.output, full))


def _value(value: Any, full: bool) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if full or len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"
