"""The report's plotly charts, each built from the cost (or usage) report and titled with what it shows.

Every figure's subtitle names where its numbers come from (the metering source and the price table's
as-of date); the page under each chart repeats the full command. A chart with nothing to draw is not
made (the page says so instead): the report never shows an empty or invented chart.
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.colors import qualitative

from stackops import cost_queries as q
from stackops.cost import CostReport
from stackops.usage import UsageReport

_REFERENCE_DASH = "dash"
#: The lever that swaps a design for another (Standard <-> Express): its bar would dwarf every other
#: lever's, and the volume chart already shows both designs, so the levers chart leaves it to the table.
DESIGN_SWITCH = "workflowType"
_HEIGHT = 480
#: Bars whose largest is this many times the smallest get a log axis (else the small ones are invisible).
LOG_AXIS_SPREAD = 20


@dataclass(frozen=True)
class Chart:
    """A figure and the id of the div it is drawn in."""

    id: str
    title: str
    figure: go.Figure


def _design_color(cost: CostReport, design: str) -> str:
    """One colour per design on every chart (its place in the cost report's designs)."""
    palette: list[str] = qualitative.Plotly
    return palette[cost.designs.index(design) % len(palette)] if design in cost.designs else "#444444"


def _service_color(index: int) -> str:
    """Services get another palette than designs, so a bar segment is never mistaken for a design."""
    palette: list[str] = qualitative.Safe
    return palette[index % len(palette)]


def _subtitle(usage: UsageReport, cost: CostReport) -> str:
    return f"{usage.source} usage · prices as of {cost.prices_as_of} ({cost.region}) · stackops compare"


def _layout(figure: go.Figure, title: str, usage: UsageReport, cost: CostReport) -> None:
    figure.update_layout(
        title={"text": title, "subtitle": {"text": _subtitle(usage, cost)}, "x": 0.01, "xanchor": "left"},
        height=_HEIGHT,
        margin={"t": 90, "l": 70, "r": 30, "b": 60},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.18},
    )


def volume_chart(usage: UsageReport, cost: CostReport) -> Chart | None:
    """Monthly cost against volume per design (log-log), with the crossovers marked."""
    workload = q.main_workload(cost)
    title = f"Monthly cost against deliveries per month, per design: {q.workload_label(workload, cost)}"
    figure = go.Figure()
    reference = set(q.references(usage, cost))
    for design in cost.designs:
        points = [e for e in q.series(cost, design, workload) if e.volume > 0 and e.total_usd > 0]
        if not points:
            continue
        figure.add_trace(
            go.Scatter(
                x=[e.volume for e in points],
                y=[e.total_usd for e in points],
                name=design,
                mode="lines+markers",
                line={
                    "dash": _REFERENCE_DASH if design in reference else "solid",
                    "color": _design_color(cost, design),
                },
                hovertemplate="%{x:,} deliveries: $%{y:,.2f}/month<extra>" + design + "</extra>",
            )
        )
    if not figure.data:
        return None
    marks = [
        (c, height)
        for c in cost.crossovers
        if c.workload == workload
        and c.volume is not None
        and (height := q.total_at(cost, c.cheaper_below, workload, c.volume)) is not None
        and height > 0
    ]
    if marks:
        figure.add_trace(
            go.Scatter(
                x=[c.volume for c, _ in marks],
                y=[height for _, height in marks],
                name="crossover",
                mode="markers",
                marker={"symbol": "x", "size": 12, "color": "black"},
                text=[f"{c.cheaper_below} cheaper below, {c.cheaper_above} above" for c, _ in marks],
                hovertemplate="%{text}<br>%{x:,.0f} deliveries/month: $%{y:,.2f}<extra>crossover</extra>",
            )
        )
    _layout(figure, title, usage, cost)
    figure.update_xaxes(type="log", title="deliveries per month")
    figure.update_yaxes(type="log", title="USD per month (idle included)")
    return Chart("chart-volume", title, figure)


def per_million_chart(usage: UsageReport, cost: CostReport) -> Chart | None:
    """Per-event cost of a million deliveries, per use case and design."""
    volume = q.nearest_volume(cost, q.BREAKDOWN_VOLUME)
    title = "Cost per million deliveries, per use case and design"
    figure = go.Figure()
    cases = q.workloads(cost)
    for design in cost.designs:
        found = [(w, e) for w in cases if (e := q.estimate(cost, design, w, volume)) is not None]
        if found:
            figure.add_trace(
                go.Bar(
                    x=[w for w, _ in found],
                    y=[e.per_million_usd for _, e in found],
                    name=design,
                    marker={"color": _design_color(cost, design)},
                    hovertemplate="%{x}: $%{y:,.2f} per million<extra>" + design + "</extra>",
                )
            )
    if not figure.data:
        return None
    _layout(figure, title, usage, cost)
    figure.update_layout(barmode="group")
    values = [y for trace in figure.data for y in trace.y if y > 0]
    spread = bool(values) and max(values) / min(values) > LOG_AXIS_SPREAD
    figure.update_yaxes(title="USD per million deliveries (per-event part)", type="log" if spread else "linear")
    return Chart("chart-per-million", title, figure)


def breakdown_chart(usage: UsageReport, cost: CostReport) -> Chart | None:
    """Where the money goes: monthly cost by service per design at 1M deliveries a month."""
    workload = q.main_workload(cost)
    volume = q.nearest_volume(cost, q.BREAKDOWN_VOLUME)
    title = (
        f"Monthly cost by service per design at {q.volume_label(volume)} deliveries a month "
        f"({q.workload_label(workload, cost)}, idle included)"
    )
    by_service: dict[str, dict[str, float]] = {}
    designs = [d for d in cost.designs if q.estimate(cost, d, workload, volume) is not None]
    for design in designs:
        e = q.estimate(cost, design, workload, volume)
        assert e is not None
        for line in [*e.lines, *e.idle_lines]:
            by_service.setdefault(line.service, {}).setdefault(design, 0.0)
            by_service[line.service][design] += line.usd
    figure = go.Figure()
    ranked = sorted(by_service.items(), key=lambda item: -sum(item[1].values()))
    for index, (service, amounts) in enumerate(item for item in ranked if sum(item[1].values()) > 0):
        figure.add_trace(
            go.Bar(
                x=designs,
                y=[amounts.get(d, 0.0) for d in designs],
                name=service,
                marker={"color": _service_color(index)},
                hovertemplate="%{x}: $%{y:,.2f}/month<extra>" + service + "</extra>",
            )
        )
    if not figure.data:
        return None
    _layout(figure, title, usage, cost)
    figure.update_layout(barmode="stack")
    figure.update_yaxes(title="USD per month")
    return Chart("chart-breakdown", title, figure)


def levers_chart(usage: UsageReport, cost: CostReport) -> Chart | None:
    """Each lever's effect on the monthly total, against the design's measured configuration."""
    workload, volume, levers = q.lever_view(cost)
    shown = [lever for lever in levers if abs(lever.delta_usd) >= q.NO_CHANGE_USD and lever.lever != DESIGN_SWITCH]
    if not shown:
        return None
    switched = any(lever.lever == DESIGN_SWITCH for lever in levers)
    title = (
        "Cost levers: change of the monthly total against the measured configuration, at "
        f"{q.volume_label(volume)} deliveries a month ({q.workload_label(workload, cost)})"
        + (f"; {DESIGN_SWITCH} is in the table: it swaps one design for another" if switched else "")
    )
    figure = go.Figure()
    labels = list(dict.fromkeys(f"{lever.lever} = {lever.setting}" for lever in shown))
    designs = list(dict.fromkeys(lever.design for lever in shown))
    for design in designs:
        effects = [lever for lever in shown if lever.design == design]
        figure.add_trace(
            go.Bar(
                y=[f"{lever.lever} = {lever.setting}" for lever in effects],
                x=[lever.delta_usd for lever in effects],
                name=design,
                orientation="h",
                marker={"color": _design_color(cost, design)},
                customdata=[lever.total_usd for lever in effects],
                hovertemplate="%{y}: %{x:+,.2f} USD/month (total $%{customdata:,.2f})<extra>" + design + "</extra>",
            )
        )
    _layout(figure, title, usage, cost)
    figure.update_layout(barmode="group", height=max(_HEIGHT, 200 + 12 * len(labels) * len(designs)))
    figure.update_xaxes(title="change, USD per month", zeroline=True)
    figure.update_yaxes(automargin=True, categoryorder="array", categoryarray=labels[::-1])
    return Chart("chart-levers", title, figure)


def latency_chart(usage: UsageReport, cost: CostReport) -> Chart | None:
    """End-to-end latency per delivery, per use case and design (where it was measured)."""
    title = "End-to-end latency per delivery (webhook sent to its last notification), per use case and design"
    figure = go.Figure()
    for stack in usage.stacks:
        x: list[str] = []
        y: list[float] = []
        for case in stack.use_cases:
            x += [case.use_case] * len(case.latency_seconds)
            y += case.latency_seconds
        if y:
            color = _design_color(cost, stack.label)
            figure.add_trace(go.Box(x=x, y=y, name=stack.label, boxpoints=False, marker={"color": color}))
    if not figure.data:
        return None
    _layout(figure, title, usage, cost)
    figure.update_layout(boxmode="group")
    figure.update_yaxes(title="seconds", rangemode="tozero")
    return Chart("chart-latency", title, figure)


def charts(usage: UsageReport, cost: CostReport) -> dict[str, Chart | None]:
    """Every chart of the report by section, None where there is nothing to draw."""
    return {
        "volume": volume_chart(usage, cost),
        "per-million": per_million_chart(usage, cost),
        "breakdown": breakdown_chart(usage, cost),
        "levers": levers_chart(usage, cost),
        "latency": latency_chart(usage, cost),
    }
