"""Reading a :class:`~stackops.cost.CostReport` the way the report needs it, and formatting its figures.

Nothing here computes a price: every figure is looked up in the cost report (or, for a crossover's
height on the chart, interpolated between two of its estimates), so the report shows what the cost
model said and nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from stackops.cost import CostReport, Estimate, LeverEffect, Workload
from stackops.usage import UsageReport

#: The monthly volumes the summary tables show (deliveries per month), and the one the breakdown uses.
TABLE_VOLUMES = (10_000, 1_000_000, 100_000_000)
BREAKDOWN_VOLUME = 1_000_000
#: A lever that moves the monthly total by less than this changed nothing worth a row or a bar.
NO_CHANGE_USD = 0.005


def estimate(cost: CostReport, design: str, workload: Workload, volume: int) -> Estimate | None:
    """The estimate for one design, workload and volume, if the cost model made it."""
    return next(
        (e for e in cost.estimates if e.design == design and e.workload == workload and e.volume == volume), None
    )


def workloads(cost: CostReport) -> list[Workload]:
    """The workloads priced, the use cases first (in the order met) and the mix last."""
    seen: list[Workload] = []
    for e in cost.estimates:
        if e.workload not in seen:
            seen.append(e.workload)
    return sorted(seen, key=lambda w: w == "mix")


def main_workload(cost: CostReport) -> Workload:
    """The workload the charts show: the mix when it was priced, otherwise the first one."""
    found = workloads(cost)
    if not found:
        raise ValueError("the cost report has no estimates")
    return "mix" if "mix" in found else found[0]


def nearest_volume(cost: CostReport, volume: int) -> int:
    """The priced volume closest to ``volume`` on a log scale."""
    priced = sorted({e.volume for e in cost.estimates if e.volume > 0})
    if not priced:
        raise ValueError("the cost report has no estimate at a positive volume")
    return min(priced, key=lambda v: abs(math.log(v / volume)))


def deployable(usage: UsageReport, cost: CostReport) -> list[str]:
    """The designs that are stacks one can deploy (the metered ones), in the cost report's order."""
    labels = {s.label for s in usage.stacks}
    return [d for d in cost.designs if d in labels]


def references(usage: UsageReport, cost: CostReport) -> list[str]:
    """The designs priced for reference only (the floor, the article's designs)."""
    labels = {s.label for s in usage.stacks}
    return [d for d in cost.designs if d not in labels]


def series(cost: CostReport, design: str, workload: Workload) -> list[Estimate]:
    """One design's estimates for one workload, by volume."""
    return sorted((e for e in cost.estimates if e.design == design and e.workload == workload), key=lambda e: e.volume)


def total_at(cost: CostReport, design: str, workload: Workload, volume: float) -> float | None:
    """The design's monthly total at ``volume``, interpolated linearly between the two priced volumes around it.

    Used only to place a crossover on the chart; None outside the priced range.
    """
    points = [(e.volume, e.total_usd) for e in series(cost, design, workload)]
    for (v0, t0), (v1, t1) in zip(points, points[1:], strict=False):
        if v0 <= volume <= v1:
            return t0 if v1 == v0 else t0 + (t1 - t0) * (volume - v0) / (v1 - v0)
    return None


def cheapest_ranges(cost: CostReport, designs: Iterable[str], workload: Workload) -> list[tuple[str, int, int]]:
    """Runs of priced volumes over which one design has the lowest monthly total: (design, first, last)."""
    chosen = list(designs)
    runs: list[tuple[str, int, int]] = []
    for volume in sorted({e.volume for e in cost.estimates if e.workload == workload}):
        priced = [(e.total_usd, d) for d in chosen if (e := estimate(cost, d, workload, volume)) is not None]
        if not priced:
            continue
        best = min(priced)[1]
        if runs and runs[-1][0] == best:
            runs[-1] = (best, runs[-1][1], volume)
        else:
            runs.append((best, volume, volume))
    return runs


def lever_view(cost: CostReport) -> tuple[Workload, int, list[LeverEffect]]:
    """The levers the report shows: the main workload's, at the lever volume nearest 1M a month.

    The cost model sets each lever for every workload at several volumes (``cost.json`` keeps them all);
    one workload at one volume keeps the chart and the table readable.
    """
    workload = main_workload(cost)
    chosen = [lever for lever in cost.levers if lever.workload == workload] or list(cost.levers)
    if not chosen:
        return workload, BREAKDOWN_VOLUME, []
    volume = min({lever.volume for lever in chosen}, key=lambda v: abs(math.log(max(v, 1) / BREAKDOWN_VOLUME)))
    return chosen[0].workload, volume, [lever for lever in chosen if lever.volume == volume]


def notes(usage: UsageReport, cost: CostReport) -> list[str]:
    """The usage's and the cost model's notes, each once (the cost model repeats the usage's)."""
    return list(dict.fromkeys([*usage.notes, *cost.notes]))


def usd(amount: float) -> str:
    """Dollars as a reader wants them: cents under $100, whole dollars above, four decimals under a cent."""
    sign = "-" if amount < 0 else ""
    value = abs(amount)
    if value == 0:
        return "$0"
    if value < 0.01:
        return f"{sign}${value:.4f}"
    if value < 100:
        return f"{sign}${value:,.2f}"
    return f"{sign}${value:,.0f}"


def signed_usd(amount: float) -> str:
    """A difference in dollars, always with its sign."""
    return usd(amount) if amount < 0 else "+" + usd(amount)


def volume_label(volume: float) -> str:
    """1000 -> 1k, 1778 -> 1.8k, 1000000 -> 1M, 100000000 -> 100M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if volume >= size:
            scaled = volume / size
            return f"{scaled:.0f}{suffix}" if scaled >= 10 or scaled == int(scaled) else f"{scaled:.1f}{suffix}"
    return f"{volume:.0f}"


def workload_label(workload: Workload, cost: CostReport) -> str:
    """``member_added``, or ``mix of member_added 30%, workflow_run 70%``."""
    if workload != "mix":
        return workload
    return "mix of " + ", ".join(f"{k} {v:.0%}" for k, v in cost.mix.items())
