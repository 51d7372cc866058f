"""The report's figures as tables and its conclusion as sentences, computed from the usage and cost reports.

One source for both renderings: ``report.md`` (Markdown, embedded in ``docs/comparison.md``) and the
tables of ``report.html``. The conclusion is derived from the numbers (which design is cheapest over
which volumes, by how much, what idling costs), never written by hand.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from stackops import cost_queries as q
from stackops.cost import CostReport, Workload
from stackops.observability import ObservabilityReport
from stackops.prices import PriceTable
from stackops.usage import UsageReport


@dataclass(frozen=True)
class Table:
    """A titled table of already formatted cells; ``numeric`` columns are right-aligned."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)
    note: str = ""


def provenance(usage: UsageReport, cost: CostReport) -> str:
    """Where every figure comes from: the metering command, its source and period, the price table."""
    where = "on the sandbox" if usage.source == "sandbox" else f"from a real AWS account ({usage.period or 'period'})"
    return (
        f"Usage metered {where} by `{usage.command}` at {usage.generated_at}; priced by the cost model with the "
        f"price table `stackops/data/aws_prices.json` as of {cost.prices_as_of} ({cost.region})."
    )


def per_million(usage: UsageReport, cost: CostReport) -> Table:
    """Per-event cost of a million deliveries, per workload and design."""
    volume = q.nearest_volume(cost, q.BREAKDOWN_VOLUME)
    designs = q.deployable(usage, cost) + q.references(usage, cost)
    rows = []
    for workload in q.workloads(cost):
        cells = [q.workload_label(workload, cost)]
        for design in designs:
            e = q.estimate(cost, design, workload, volume)
            cells.append(q.usd(e.per_million_usd) if e else "-")
        rows.append(cells)
    return Table(
        title=f"Cost per million deliveries (per-event part, USD, priced at {q.volume_label(volume)}/month)",
        headers=["workload", *designs],
        rows=rows,
        numeric=set(range(1, len(designs) + 1)),
    )


def monthly(usage: UsageReport, cost: CostReport, workload: Workload) -> Table:
    """Monthly total (per-event + idle) at 10k, 1M and 100M deliveries, per design."""
    volumes = sorted({q.nearest_volume(cost, v) for v in q.TABLE_VOLUMES})
    rows = []
    for design in q.deployable(usage, cost) + q.references(usage, cost):
        cells = [design]
        for volume in volumes:
            e = q.estimate(cost, design, workload, volume)
            cells.append(q.usd(e.total_usd) if e else "-")
        rows.append(cells)
    return Table(
        title=f"Monthly cost, USD ({q.workload_label(workload, cost)}, idle included)",
        headers=["design", *(f"{q.volume_label(v)}/month" for v in volumes)],
        rows=rows,
        numeric=set(range(1, len(volumes) + 1)),
    )


def idle(usage: UsageReport, cost: CostReport) -> Table:
    """What each design costs a month with no traffic, and its largest items."""
    workload = q.main_workload(cost)
    volume = q.nearest_volume(cost, q.BREAKDOWN_VOLUME)
    rows = []
    for design in q.deployable(usage, cost) + q.references(usage, cost):
        e = q.estimate(cost, design, workload, volume)
        if e is None:
            continue
        largest = sorted(e.idle_lines, key=lambda line: -line.usd)[:3]
        items = "; ".join(
            f"{line.service} {line.unit}{f' ({line.resource})' if line.resource else ''} {q.usd(line.usd)}"
            for line in largest
            if line.usd > 0
        )
        rows.append([design, q.usd(e.idle_usd), items or "-"])
    return Table(
        title="Idle cost per month (no traffic)",
        headers=["design", "USD/month", "largest items"],
        rows=rows,
        numeric={1},
    )


def crossovers(cost: CostReport) -> Table:
    """Where two designs' monthly totals cross, for the main workload (cost.json has every workload's)."""
    workload = q.main_workload(cost)
    priced = sorted({e.volume for e in cost.estimates})
    span = f"{q.volume_label(priced[0])}-{q.volume_label(priced[-1])}" if priced else "the priced range"
    rows = []
    for c in cost.crossovers:
        if c.workload != workload:
            continue
        pair = " vs ".join(c.pair) if c.pair else f"{c.cheaper_below} vs {c.cheaper_above}"
        if c.volume is None:
            rows.append([pair, f"{c.cheaper_below} everywhere", "-", f"never in {span}"])
        else:
            rows.append([pair, c.cheaper_below, c.cheaper_above, f"{q.volume_label(c.volume)}/month"])
    others = sum(c.workload != workload for c in cost.crossovers)
    return Table(
        title=f"Crossovers ({q.workload_label(workload, cost)}, monthly totals, idle included)",
        headers=["designs", "cheaper below", "cheaper above", "at"],
        rows=rows,
        numeric={3},
        note=f"cost.json has {others} more: the crossovers of each use case." if others else "",
    )


def levers(cost: CostReport) -> Table:
    """Each cost lever's effect against the measured configuration (one workload, one volume)."""
    workload, volume, levers = q.lever_view(cost)
    shown = [lever for lever in levers if abs(lever.delta_usd) >= q.NO_CHANGE_USD]
    rows = [
        [lever.lever, lever.setting, lever.design, q.usd(lever.total_usd), q.signed_usd(lever.delta_usd)]
        for lever in shown
    ]
    unchanged = len(levers) - len(shown)
    others = len(cost.levers) - len(levers)
    notes = []
    if unchanged:
        settings = "1 setting changes" if unchanged == 1 else f"{unchanged} settings change"
        notes.append(f"{settings} the total by less than a cent (not shown; the measured settings among them).")
    if others:
        notes.append(f"cost.json has {others} more: every workload at every lever volume.")
    return Table(
        title=(
            f"Cost levers at {q.volume_label(volume)} deliveries a month, {q.workload_label(workload, cost)} "
            "(monthly total with the lever set, and the change against the measured configuration)"
        ),
        headers=["lever", "setting", "design", "USD/month", "change"],
        rows=rows,
        numeric={3, 4},
        note=" ".join(notes),
    )


#: The target for the default configuration (issue 9): per use case, at a million deliveries a month, at
#: most this multiple of the floor, in sqs and in stepfunctions with EXPRESS per-event machines.
FLOOR_TARGET = 1.5
FLOOR_TARGET_DESIGNS = ("sqs", "stepfunctions-EXPRESS")
#: The defaults issue 9 changed, as the levers that put each back: (lever, setting, what it was).
FORMER_DEFAULTS = (
    ("batchWindow", "1 s (batch 10)", "window 1 s"),
    ("xrayTracing", "Active", "X-Ray Active"),
    ("logLevel", "states ALL", "state machines logging ALL"),
)


def against_floor(usage: UsageReport, cost: CostReport) -> Table:
    """Each deployable design's per-million cost at 1M a month against the floor, per workload, with the
    target for the defaults, and what each former default would add back (its lever, same volume)."""
    volume = q.nearest_volume(cost, q.BREAKDOWN_VOLUME)
    rows = []
    for workload in q.workloads(cost):
        floor = q.estimate(cost, "floor", workload, volume)
        if floor is None or floor.per_million_usd <= 0:
            continue
        for design in q.deployable(usage, cost):
            e = q.estimate(cost, design, workload, volume)
            if e is None:
                continue
            ratio = e.per_million_usd / floor.per_million_usd
            target = ("met" if ratio <= FLOOR_TARGET else "NOT met") if design in FLOOR_TARGET_DESIGNS else "(reported)"
            former = []
            for name, setting, label in FORMER_DEFAULTS:
                effect = next(
                    (
                        x
                        for x in cost.levers
                        if (x.lever, x.setting, x.design, x.workload, x.volume)
                        == (name, setting, design, workload, volume)
                    ),
                    None,
                )
                if effect is not None and abs(effect.delta_usd) >= q.NO_CHANGE_USD:
                    former.append(f"{label} {q.signed_usd(effect.delta_usd / volume * 1e6)}")
            rows.append(
                [
                    q.workload_label(workload, cost),
                    design,
                    q.usd(e.per_million_usd),
                    q.usd(floor.per_million_usd),
                    f"{ratio:.2f}x",
                    target,
                    "; ".join(former) or "-",
                ]
            )
    return Table(
        title=(
            f"The defaults against the floor at {q.volume_label(volume)} deliveries a month (per million, "
            f"per-event part; target <= {FLOOR_TARGET:g}x for {' and '.join(FLOOR_TARGET_DESIGNS)})"
        ),
        headers=["workload", "design", "per million", "floor", "x floor", "target", "former default would add"],
        rows=rows,
        numeric={2, 3, 4},
        note=(
            "The floor: the HTTP API request, one invoke billed for the receiver's and the GitHub calls' time at "
            "128 MB, the DynamoDB writes and the notification; no queues, transitions, logs or traces. The last "
            "column puts one former default back (its lever at this volume), against today's defaults."
        ),
    )


def latency(usage: UsageReport) -> Table:
    """End-to-end latency per delivery (webhook sent to its last notification), per design and use case."""
    rows = []
    for stack in usage.stacks:
        for case in stack.use_cases:
            seconds = sorted(case.latency_seconds)
            if not seconds:
                continue
            p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))]
            rows.append(
                [
                    stack.label,
                    case.use_case,
                    str(len(seconds)),
                    f"{statistics.median(seconds):.3f}",
                    f"{p95:.3f}",
                    f"{seconds[-1]:.3f}",
                ]
            )
    note = "" if rows else "No latency was measured for these stacks."
    return Table(
        title="End-to-end latency per delivery, seconds",
        headers=["design", "use case", "deliveries", "median", "p95", "max"],
        rows=rows,
        numeric={2, 3, 4, 5},
        note=note,
    )


def bill(cost: CostReport) -> Table | None:
    """The real bill per stack and service (Cost Explorer), when the usage came from an account."""
    if not cost.bill:
        return None
    rows = [
        [stack, service, q.usd(amount)]
        for stack, services in sorted(cost.bill.items())
        for service, amount in sorted(services.items(), key=lambda item: -item[1])
    ]
    rows += [[stack, "total", q.usd(sum(services.values()))] for stack, services in sorted(cost.bill.items())]
    return Table(
        title="The bill over the period (Cost Explorer, by the stack's cost allocation tag)",
        headers=["stack", "service", "USD"],
        rows=rows,
        numeric={2},
    )


def prices_used(cost: CostReport, table: PriceTable) -> Table:
    """Every price a line item of the report was priced with: its figure, its source, whether it was verified."""
    used = {line.price_key for e in cost.estimates for line in [*e.lines, *e.idle_lines]}
    rows = []
    for entry in sorted((p for p in table.prices if p.key in used), key=lambda p: p.key):
        tiers = " then ".join(
            f"${tier.usd}" + (f" up to {tier.up_to:,.0f}" if tier.up_to is not None else "") for tier in entry.tiers
        )
        free = "" if entry.free_tier is None or not entry.free_tier.permanent else f"{entry.free_tier.quantity:,.0f}"
        rows.append(
            [entry.key, f"{tiers} per {entry.per:,}", free or "-", entry.source, "yes" if entry.verified else "no"]
        )
    unknown = sorted(used - {p.key for p in table.prices})
    note = f"Not in the price table any more: {', '.join(unknown)}." if unknown else ""
    return Table(
        title=f"Prices used ({table.region}, as of {table.as_of.isoformat()}; permanent free tiers per month)",
        headers=["price", "USD", "free", "source", "verified"],
        rows=rows,
        note=note,
    )


def unverified(cost: CostReport, table: PriceTable) -> list[str]:
    """The prices used that the price table marks as not verified against AWS's page."""
    used = {line.price_key for e in cost.estimates for line in [*e.lines, *e.idle_lines]}
    return sorted(p.key for p in table.prices if p.key in used and not p.verified)


def conclusion(usage: UsageReport, cost: CostReport) -> list[str]:
    """Sentences computed from the figures: who is cheapest where, by how much, and what idling costs."""
    workload = q.main_workload(cost)
    designs = q.deployable(usage, cost) or list(cost.designs)
    label = q.workload_label(workload, cost)
    sentences = []
    runs = q.cheapest_ranges(cost, designs, workload)
    if runs:
        spans = [
            f"**{design}** from {q.volume_label(first)} to {q.volume_label(last)}"
            if first != last
            else f"**{design}** at {q.volume_label(first)}"
            for design, first, last in runs
        ]
        sentences.append(
            f"Cheapest deployable design per month ({label}): " + "; ".join(spans) + " deliveries a month."
        )
        counts: dict[str, int] = {}
        for design, first, last in runs:
            counts[design] = counts.get(design, 0) + sum(first <= v <= last for v in _volumes(cost, workload))
        best = max(counts, key=lambda d: counts[d])
        sentences.append(
            f"Cheapest over most of the priced range ({counts[best]} of {len(_volumes(cost, workload))} volumes "
            f"from {q.volume_label(_volumes(cost, workload)[0])} to {q.volume_label(_volumes(cost, workload)[-1])}): "
            f"**{best}**."
        )
    for c in cost.crossovers:
        if c.workload == workload and c.volume is not None and {c.cheaper_below, c.cheaper_above} <= set(designs):
            sentences.append(
                f"{c.cheaper_above} becomes cheaper than {c.cheaper_below} above "
                f"{q.volume_label(c.volume)} deliveries a month."
            )
    volume = q.nearest_volume(cost, q.BREAKDOWN_VOLUME)
    at_volume = sorted((e.total_usd, d) for d in designs if (e := q.estimate(cost, d, workload, volume)) is not None)
    if at_volume:
        cheapest_total, cheapest = at_volume[0]
        others = ", ".join(
            f"{d} {q.usd(t)}" + (f" ({t / cheapest_total:.1f}x)" if cheapest_total > 0 else "")
            for t, d in at_volume[1:]
        )
        sentence = f"At {q.volume_label(volume)} deliveries a month: {cheapest} {q.usd(cheapest_total)}"
        sentences.append(sentence + (f"; {others}." if others else "."))
        floor = q.estimate(cost, "floor", workload, volume)
        if floor is not None and floor.per_million_usd > 0:
            leader = q.estimate(cost, cheapest, workload, volume)
            assert leader is not None
            sentences.append(
                f"Per million deliveries {cheapest} pays {q.usd(leader.per_million_usd)}, "
                f"{leader.per_million_usd / floor.per_million_usd:.1f}x the floor ({q.usd(floor.per_million_usd)}: "
                "the HTTP API, one invoke for the receiver's and the GitHub calls' time, the writes and the "
                "notification, which any design pays)."
            )
    for case in (w for w in q.workloads(cost) if w != "mix"):
        per_case = sorted(
            (e.per_million_usd, d) for d in designs if (e := q.estimate(cost, d, case, volume)) is not None
        )
        if len(per_case) > 1:
            sentences.append(
                f"{case}: cheapest per million is {per_case[0][1]} ({q.usd(per_case[0][0])}), "
                f"dearest {per_case[-1][1]} ({q.usd(per_case[-1][0])})."
            )
    idle_costs = [(d, e.idle_usd) for d in designs if (e := q.estimate(cost, d, workload, volume)) is not None]
    if idle_costs:
        sentences.append("With no traffic: " + ", ".join(f"{d} {q.usd(v)}/month" for d, v in idle_costs) + ".")
    return sentences


def _volumes(cost: CostReport, workload: Workload) -> list[int]:
    return sorted({e.volume for e in cost.estimates if e.workload == workload})


def tables(usage: UsageReport, cost: CostReport, prices: PriceTable | None = None) -> list[Table]:
    """Every table of the report, in reading order (the prices used when the table priced it is given)."""
    found = [
        per_million(usage, cost),
        against_floor(usage, cost),
        monthly(usage, cost, q.main_workload(cost)),
        idle(usage, cost),
        crossovers(cost),
        levers(cost),
        latency(usage),
    ]
    billed = bill(cost)
    return found + ([billed] if billed else []) + ([prices_used(cost, prices)] if prices else [])


def markdown_table(table: Table) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped)."""
    if not table.rows:
        return f"*{table.note or 'Nothing to show.'}*\n"

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    rule = ["---:" if i in table.numeric else "---" for i in range(len(table.headers))]
    lines = [row(table.headers), "| " + " | ".join(rule) + " |", *(row(r) for r in table.rows)]
    return "\n".join(lines) + ("\n\n" + table.note if table.note else "") + "\n"


def matching(cost: CostReport, prices: PriceTable | None) -> PriceTable | None:
    """``prices`` if it is the table the cost report was priced with (same region and as-of date)."""
    if prices is None or prices.as_of.isoformat() != cost.prices_as_of or prices.region != cost.region:
        return None
    return prices


def caveats(cost: CostReport, prices: PriceTable | None) -> list[str]:
    """What the reader must know before trusting the figures: unverified prices, a changed price table."""
    if prices is None:
        return []
    if matching(cost, prices) is None:
        return [
            f"The price table is now {prices.region} as of {prices.as_of.isoformat()}, not the "
            f"{cost.region} table of {cost.prices_as_of} these figures were priced with: rerun the command."
        ]
    keys = unverified(cost, prices)
    if not keys:
        return []
    return [f"Not verified against AWS's page (the price table says so): {', '.join(keys)}. Check them first."]


def render_markdown(
    usage: UsageReport,
    cost: CostReport,
    prices: PriceTable | None = None,
    observability: ObservabilityReport | None = None,
) -> str:
    """``report.md``: the provenance, the conclusion, every table (second-level headings, to embed in a doc).

    ``prices``, the table the cost report was priced with, adds the prices used and their caveats.
    """
    parts = ["## Results\n", provenance(usage, cost) + "\n"]
    parts.append("### Conclusion\n")
    sentences = conclusion(usage, cost) + caveats(cost, prices)
    parts.append("\n".join(f"- {sentence}" for sentence in sentences) + "\n")
    for table in tables(usage, cost, matching(cost, prices)):
        parts.append(f"### {table.title}\n")
        parts.append(markdown_table(table))
    if observability is not None:
        from stackops import observability_summary

        parts.append(observability_summary.render_markdown(observability))
    notes = q.notes(usage, cost)
    if notes:
        parts.append("### How these figures were made\n")
        parts.append("\n".join(f"- {note}" for note in notes) + "\n")
    return "\n".join(parts)
