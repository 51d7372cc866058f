"""The cost model: a :class:`~stackops.usage.UsageReport` priced into a :class:`~stackops.cost.CostReport`.

Per design, per workload (each use case, and a mix of them) and per monthly volume: every line item
(the usage line's quantity per delivery x deliveries a month, priced with ``stackops.prices``: tiers
and permanent free tiers over the month's total of each unit), the idle cost apart, the crossovers
between every pair of designs, and the levers' effects at 10 thousand, 1 million and 100 million
deliveries a month.

Designs are the measured stacks (by label) and designs DERIVED from their lines by the
transformations below, each stated in ``CostReport.notes``; nothing here is a made-up usage figure:

- ``floor``: what any design pays: the HTTP API request, the receiver's invoke, the DynamoDB units,
  and the stack's secrets and keys; taken from the sqs stack (or the first one).
- ``article-sqs``: the sqs stack as the original article built it: x86_64, one record per batch, and
  a Lambda behind its own queue for every DynamoDB write.
- ``article-stepfunctions``: the Standard stepfunctions stack with x86_64 and a Lambda task for every
  DynamoDB write instead of the native integration.

Idle cost is what the stack's idle lines cost alone; per-event cost is what the traffic adds to it (so
free tiers are used by the idle usage first, and total = idle + per-event exactly).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import combinations

from components.catalog import BUSINESS_FUNCTIONS, RECEIVER, Needs
from components.config import StackConfig
from stackops.cost import CostLine, CostReport, Crossover, Estimate, LeverEffect, Workload
from stackops.prices import PriceEntry, PriceTable, load_prices
from stackops.usage import StackUsage, UsageLine, UsageReport, UseCase

#: 1 thousand to 100 million deliveries a month, six points a decade (exact powers of ten included).
DEFAULT_VOLUMES: tuple[int, ...] = tuple(round(10 ** (3 + k / 6)) for k in range(31))
#: The volumes the levers are shown at.
LEVER_VOLUMES: tuple[int, ...] = (10_000, 1_000_000, 100_000_000)

WRITER = "store-records"  # the function that writes DynamoDB in the sqs design
ARTICLE_WRITER = "article-writer"  # the article's extra Lambda per DynamoDB write
MAX_RECEIVE_BATCH = 10  # SQS returns at most 10 messages per ReceiveMessage / deletes 10 per batch
MEMORY_SETTINGS = (128, 512, 1024, 1769)
XRAY_SETTINGS = ("PassThrough", "Active")  # components/config.py xrayTracing
XRAY_RESERVOIR_PER_SECOND = 1.0  # Lambda's sampling: the first request each second ...
XRAY_FIXED_RATE = 0.05  # ... and 5% of the others
BATCH_SIZE_SETTINGS = (1, 10, 100)
BATCH_WINDOW_SETTINGS = (0, 1, 5, 20)
#: The floor's compute: the receiver and the functions that wait on GitHub, at Lambda's smallest memory.
FLOOR_CALLERS = frozenset(
    {RECEIVER.key} | {spec.key for spec in BUSINESS_FUNCTIONS if Needs.GITHUB_APP_SECRET in spec.needs}
)
FLOOR_MEMORY_MB = 128
DEFAULT_WINDOW_SECONDS: int = StackConfig.model_fields["sqs_batch_window_seconds"].default
DEFAULT_BATCH_SIZE: int = StackConfig.model_fields["sqs_batch_size"].default


class CostModelError(ValueError):
    """Bad input to the cost model: one clear line naming the argument, the value and what is allowed."""


@dataclass(frozen=True)
class Design:
    """What one design consumes: usage lines per delivery by use case, and its idle lines per month."""

    name: str
    lambda_architecture: str
    per_delivery: Mapping[UseCase, Sequence[UsageLine]]
    idle: Sequence[UsageLine]
    workflow_type: str | None = None


def _add(notes: list[str], note: str) -> None:
    """State an assumption in the report, once."""
    if note not in notes:
        notes.append(note)


# --- line helpers -----------------------------------------------------------------------------------


def _attr(line: UsageLine, key: str, default: float = 0.0) -> float:
    value = line.attributes.get(key, default)
    try:
        return float(value)
    except ValueError:
        return default


def _scaled(line: UsageLine, factor: float, **attributes: str | float) -> UsageLine:
    return line.model_copy(update={"quantity": line.quantity * factor, "attributes": {**line.attributes, **attributes}})


def _is(line: UsageLine, service: str, unit: str) -> bool:
    return line.service == service and line.unit == unit


def _map_lines(design: Design, fn: Callable[[UsageLine], Iterable[UsageLine]], name: str) -> Design:
    per_delivery = {uc: [out for line in lines for out in fn(line)] for uc, lines in design.per_delivery.items()}
    return replace(design, name=name, per_delivery=per_delivery)


def _with_cpu(design: Design, cpu: str, name: str) -> Design:
    def fn(line: UsageLine) -> Iterable[UsageLine]:
        yield _scaled(line, 1.0, architecture=cpu) if _is(line, "lambda", "gb_seconds") else line

    return replace(_map_lines(design, fn, name), lambda_architecture=cpu)


def _records_per_invoke(lines: Sequence[UsageLine]) -> dict[str, float]:
    """Observed mean records per invoke of each SQS-triggered function (by function = queue name)."""
    return {
        line.resource: max(1.0, _attr(line, "recordsPerInvoke", 1.0))
        for line in lines
        if _is(line, "lambda", "requests") and line.attributes.get("trigger") == "sqs"
    }


def _refill(lines: Sequence[UsageLine], new_fill: Callable[[UsageLine], float]) -> list[UsageLine]:
    """Lines with each SQS-triggered function's records per invoke set to ``new_fill(its requests line)``.

    Invokes scale by old/new fill; the pollers' receives and deletes on its queue (same short name)
    by old/new fill capped at 10 (a receive returns, a batch delete takes, at most 10 messages);
    GB-seconds are kept: the work is per record.
    """
    old = _records_per_invoke(lines)
    new = {line.resource: new_fill(line) for line in lines if line.resource in old and _is(line, "lambda", "requests")}
    out: list[UsageLine] = []
    for line in lines:
        queue = line.resource
        if queue in old and _is(line, "lambda", "requests"):
            out.append(_scaled(line, old[queue] / new[queue], recordsPerInvoke=new[queue]))
        elif (
            queue in old
            and _is(line, "sqs", "requests")
            and line.attributes.get("caller") == "poller"
            and line.attributes.get("empty") != "true"
        ):
            out.append(_scaled(line, min(old[queue], MAX_RECEIVE_BATCH) / min(new[queue], MAX_RECEIVE_BATCH)))
        elif queue in old and _is(line, "lambda", "gb_seconds"):
            invokes = _attr(line, "invokesPerDelivery")
            out.append(_scaled(line, 1.0, invokesPerDelivery=invokes * old[queue] / new[queue]))
        else:
            out.append(line)
    return out


def _writes(line: UsageLine) -> float:
    """DynamoDB write requests per delivery behind a write-units line: 1 KB items assumed, so one unit
    per write, two per item of a TransactWriteItems."""
    return line.quantity / (2.0 if line.attributes.get("operation") == "TransactWriteItems" else 1.0)


@dataclass(frozen=True)
class _Writer:
    billed_ms: float
    memory_mb: float


def _writer_profile(stacks: Sequence[StackUsage]) -> _Writer | None:
    """The measured invoke of the function that writes DynamoDB (store-records), else the mean invoke."""
    gb_lines = [
        line
        for stack in stacks
        for uc in stack.use_cases
        for line in uc.lines
        if _is(line, "lambda", "gb_seconds") and _attr(line, "invokesPerDelivery") > 0
    ]
    writers = [line for line in gb_lines if line.resource == WRITER] or gb_lines
    if not writers:
        return None
    weights = [_attr(line, "invokesPerDelivery") for line in writers]
    total = sum(weights)
    billed = sum(w * _attr(line, "billedMsPerInvoke") for w, line in zip(weights, writers, strict=True)) / total
    memory = sum(w * _attr(line, "memoryMb") for w, line in zip(weights, writers, strict=True)) / total
    return _Writer(billed, memory)


def _writer_lines(writes: float, writer: _Writer, trigger: str) -> list[UsageLine]:
    attrs: dict[str, str | float] = {"trigger": trigger}
    if trigger == "sqs":
        attrs["recordsPerInvoke"] = 1.0
    gb = writes * writer.billed_ms / 1000 * writer.memory_mb / 1024
    return [
        UsageLine(service="lambda", unit="requests", quantity=writes, resource=ARTICLE_WRITER, attributes=attrs),
        UsageLine(
            service="lambda",
            unit="gb_seconds",
            quantity=gb,
            resource=ARTICLE_WRITER,
            attributes={
                "architecture": "x86_64",
                "memoryMb": writer.memory_mb,
                "billedMsPerInvoke": writer.billed_ms,
                "invokesPerDelivery": writes,
            },
        ),
    ]


# --- designs ----------------------------------------------------------------------------------------


def measured_design(stack: StackUsage) -> Design:
    per_delivery = {uc.use_case: list(uc.lines) for uc in stack.use_cases if uc.deliveries > 0}
    return Design(stack.label, stack.lambda_architecture, per_delivery, list(stack.idle.lines), stack.workflow_type)


def floor_design(source: Design) -> Design:
    """What any design of this product pays per delivery: the HTTP API request, the compute nothing can
    avoid, the DynamoDB writes and the notification; no queues, transitions, logs or traces.

    The compute is one invoke per delivery (the receiver's request line) billed for the receiver's work
    and the GitHub calls' wait (the GB-seconds of the receiver and of the functions that call GitHub,
    ``FLOOR_CALLERS``) at the smallest memory, ``FLOOR_MEMORY_MB``: a wait does not shrink with memory.
    """

    def fn(line: UsageLine) -> Iterable[UsageLine]:
        one_invoke = _is(line, "lambda", "requests") and line.resource == "receiver"
        if line.service in ("apigateway", "dynamodb", "sns") or one_invoke:
            yield line
        elif _is(line, "lambda", "gb_seconds") and line.resource in FLOOR_CALLERS:
            memory = _attr(line, "memoryMb")
            yield _scaled(line, FLOOR_MEMORY_MB / memory, memoryMb=float(FLOOR_MEMORY_MB)) if memory > 0 else line

    idle = [line for line in source.idle if line.service in ("secretsmanager", "kms")]
    return replace(_map_lines(source, fn, "floor"), idle=idle, workflow_type=None)


def article_sqs_design(sqs: Design, writer: _Writer) -> Design:
    x86 = _with_cpu(sqs, "x86_64", "article-sqs")
    per_delivery: dict[UseCase, list[UsageLine]] = {}
    for uc, lines in x86.per_delivery.items():
        one_record = _refill(lines, lambda _line: 1.0)
        writes = sum(_writes(line) for line in lines if _is(line, "dynamodb", "write_request_units"))
        extra = _writer_lines(writes, writer, "sqs")
        for operation, caller in (
            ("SendMessage", "function"),
            ("ReceiveMessage", "poller"),
            ("DeleteMessage", "poller"),
        ):
            extra.append(
                UsageLine(
                    service="sqs",
                    unit="requests",
                    quantity=writes,
                    resource=ARTICLE_WRITER,
                    attributes={"operation": operation, "caller": caller, "empty": "false"},
                )
            )
        per_delivery[uc] = one_record + extra
    return replace(x86, per_delivery=per_delivery)


def article_stepfunctions_design(standard: Design, writer: _Writer) -> Design:
    x86 = _with_cpu(standard, "x86_64", "article-stepfunctions")
    per_delivery: dict[UseCase, list[UsageLine]] = {}
    for uc, lines in x86.per_delivery.items():
        writes = sum(_writes(line) for line in lines if _is(line, "dynamodb", "write_request_units"))
        per_delivery[uc] = [*lines, *_writer_lines(writes, writer, "states")]
    return replace(x86, per_delivery=per_delivery, workflow_type="STANDARD")


def designs_from(usage: UsageReport, notes: list[str] | None = None) -> list[Design]:
    """The measured designs, then floor and the article's designs derived from them (the
    transformations' assumptions appended to ``notes``)."""
    notes = [] if notes is None else notes
    if not usage.stacks:
        raise CostModelError("usage: the report has no stacks to price")
    measured = [measured_design(stack) for stack in usage.stacks]
    names = [d.name for d in measured]
    if len(set(names)) != len(names):
        raise CostModelError(f"usage: two stacks share a design label ({', '.join(names)}): one stack per design")
    sqs = next((d for d in measured if d.name == "sqs"), None)
    standard = next((d for d in measured if d.workflow_type == "STANDARD"), None)
    writer = _writer_profile(usage.stacks)
    derived = [floor_design(sqs or measured[0])]
    _add(
        notes,
        f"floor = from the {(sqs or measured[0]).name} stack: the HTTP API request, one invoke per delivery "
        f"billed for the receiver's and the GitHub calls' duration ({', '.join(sorted(FLOOR_CALLERS))}) at "
        f"{FLOOR_MEMORY_MB} MB, the DynamoDB units and the notification (SNS publish and email), with its "
        "secrets and keys: what every design pays; no queues, transitions, logs or traces.",
    )
    if writer is None:
        _add(notes, "article designs left out: the usage has no Lambda duration to derive their extra invokes from.")
    else:
        _add(
            notes,
            f"article designs: the extra Lambda per DynamoDB write bills {writer.billed_ms:.1f} ms at "
            f"{writer.memory_mb:.0f} MB on x86_64 (the measured {WRITER} invoke, else the mean invoke); "
            "one write per 1 KB write unit (two units per item of a TransactWriteItems).",
        )
        if sqs is not None:
            derived.append(article_sqs_design(sqs, writer))
            _add(
                notes,
                "article-sqs = the sqs lines with cpu x86_64 (duration unchanged), one record per batch "
                "(invokes, poller receives and deletes x the observed records per invoke; GB-s unchanged: the "
                "work is per record), plus per DynamoDB write one Lambda invoke and an SQS hop (send, receive, "
                "delete); idle as measured (its extra queues' pollers are not added).",
            )
        else:
            _add(notes, "article-sqs left out: the usage has no sqs stack.")
        if standard is not None:
            derived.append(article_stepfunctions_design(standard, writer))
            _add(
                notes,
                "article-stepfunctions = the stepfunctions-STANDARD lines with cpu x86_64 plus one Lambda task "
                "invoke per DynamoDB write (a Task state either way: transitions unchanged; units unchanged).",
            )
        else:
            _add(notes, "article-stepfunctions left out: the usage has no STANDARD stepfunctions stack.")
    return measured + derived


def with_lambda_duration(usage: UsageReport, billed_ms: float) -> UsageReport:
    """``usage`` with every Lambda invoke billed ``billed_ms`` (rounded up to 1 ms) at its memory."""
    ms = float(math.ceil(billed_ms))

    def change(line: UsageLine) -> UsageLine:
        if not _is(line, "lambda", "gb_seconds"):
            return line
        gb = _attr(line, "invokesPerDelivery") * ms / 1000 * _attr(line, "memoryMb") / 1024
        return line.model_copy(update={"quantity": gb, "attributes": {**line.attributes, "billedMsPerInvoke": ms}})

    stacks = [
        stack.model_copy(
            update={
                "use_cases": [
                    uc.model_copy(update={"lines": [change(line) for line in uc.lines]}) for uc in stack.use_cases
                ]
            }
        )
        for stack in usage.stacks
    ]
    return usage.model_copy(update={"stacks": stacks})


# --- pricing ----------------------------------------------------------------------------------------


def _entry(table: PriceTable, line: UsageLine, default_cpu: str) -> PriceEntry:
    variant: str | None = None
    if _is(line, "lambda", "gb_seconds"):
        variant = str(line.attributes.get("architecture", default_cpu))
    elif _is(line, "logs", "ingested_gb"):
        variant = "lambda" if line.attributes.get("source") == "lambda" else "standard"
    return table.entry(line.service, line.unit, variant)


@dataclass(frozen=True)
class _Quantities:
    """Monthly quantities by price key and resource: per delivery (x volume) and idle (fixed)."""

    entries: dict[str, PriceEntry]
    per_delivery: dict[str, dict[str, float]]
    idle: dict[str, dict[str, float]]

    def price_keys(self) -> list[str]:
        return sorted(set(self.per_delivery) | set(self.idle))

    def event_total(self, key: str) -> float:
        return sum(self.per_delivery.get(key, {}).values())

    def idle_total(self, key: str) -> float:
        return sum(self.idle.get(key, {}).values())


def _quantities(table: PriceTable, design: Design, lines: Sequence[UsageLine]) -> _Quantities:
    entries: dict[str, PriceEntry] = {}
    per_delivery: dict[str, dict[str, float]] = {}
    idle: dict[str, dict[str, float]] = {}
    for target, source in ((per_delivery, lines), (idle, design.idle)):
        for line in source:
            entry = _entry(table, line, design.lambda_architecture)
            entries[entry.key] = entry
            by_resource = target.setdefault(entry.key, {})
            by_resource[line.resource] = by_resource.get(line.resource, 0.0) + line.quantity
    return _Quantities(entries, per_delivery, idle)


def _totals(table: PriceTable, q: _Quantities, volume: float, apply_free_tier: bool) -> tuple[list[float], list[float]]:
    keys = q.price_keys()
    both = [(q.entries[k], q.idle_total(k) + volume * q.event_total(k)) for k in keys]
    idle = [(q.entries[k], q.idle_total(k)) for k in keys]
    return (
        table.monthly_usd_pooled(both, apply_free_tier=apply_free_tier),
        table.monthly_usd_pooled(idle, apply_free_tier=apply_free_tier),
    )


def _total_usd(table: PriceTable, q: _Quantities, volume: float, apply_free_tier: bool) -> float:
    return sum(_totals(table, q, volume, apply_free_tier)[0])


def _split(entry: PriceEntry, usd: float, quantities: Mapping[str, float], scale: float) -> list[CostLine]:
    total = sum(quantities.values())
    return [
        CostLine(
            service=entry.service,
            unit=entry.unit,
            resource=resource,
            quantity=quantity * scale,
            usd=max(0.0, usd * quantity / total) if total > 0 else 0.0,
            priceKey=entry.key,
        )
        for resource, quantity in sorted(quantities.items())
    ]


def _estimate(
    table: PriceTable, design: str, workload: Workload, q: _Quantities, volume: int, apply_free_tier: bool
) -> Estimate:
    both, idle = _totals(table, q, volume, apply_free_tier)
    lines: list[CostLine] = []
    idle_lines: list[CostLine] = []
    for key, total_usd, idle_usd in zip(q.price_keys(), both, idle, strict=True):
        entry = q.entries[key]
        if key in q.per_delivery:
            lines += _split(entry, max(0.0, total_usd - idle_usd), q.per_delivery[key], volume)
        if key in q.idle:
            idle_lines += _split(entry, idle_usd, q.idle[key], 1.0)
    idle_usd_total = sum(idle)
    per_event = max(0.0, sum(both) - idle_usd_total)
    return Estimate(
        design=design,
        workload=workload,
        volume=volume,
        perEventUsd=per_event,
        idleUsd=idle_usd_total,
        totalUsd=per_event + idle_usd_total,
        perMillionUsd=per_event / volume * 1e6 if volume else 0.0,
        lines=lines,
        idleLines=idle_lines,
    )


# --- workloads --------------------------------------------------------------------------------------


def default_mix(usage: UsageReport) -> dict[str, float]:
    """The metered workload's own shares: deliveries per use case over all stacks, for the use cases
    every stack measured (so the mix weighs each use case as the workload that was run did)."""
    common = set.intersection(*({uc.use_case for uc in s.use_cases if uc.deliveries > 0} for s in usage.stacks))
    counts = {uc: sum(u.deliveries for s in usage.stacks for u in s.use_cases if u.use_case == uc) for uc in common}
    total = sum(counts.values())
    if total == 0:
        raise CostModelError("usage: no use case has deliveries in every stack, so there is no default mix")
    return {uc: counts[uc] / total for uc in sorted(counts)}


def _check_mix(mix: Mapping[str, float], designs: Sequence[Design]) -> dict[str, float]:
    known = sorted(set.intersection(*(set(d.per_delivery) for d in designs)))
    for use_case, share in mix.items():
        if use_case not in known:
            raise CostModelError(
                f"mix: use case {use_case!r} is not measured in every stack; one of {', '.join(known)}"
            )
        if not math.isfinite(share) or share < 0:
            raise CostModelError(f"mix: share of {use_case} must be a number >= 0, got {share!r}")
    if not math.isclose(sum(mix.values()), 1.0, abs_tol=1e-9):
        raise CostModelError(f"mix: shares must sum to 1, got {sum(mix.values())!r} ({dict(mix)})")
    return dict(mix)


def _workload_lines(design: Design, workload: Workload, mix: Mapping[str, float]) -> list[UsageLine]:
    if workload != "mix":
        return list(design.per_delivery[workload])
    return [
        _scaled(line, share)
        for use_case, share in mix.items()
        for line in design.per_delivery[use_case]  # type: ignore[index]
    ]


def _workloads(design: Design) -> list[Workload]:
    return [*sorted(design.per_delivery), "mix"]


def estimate(
    design: Design,
    workload: Workload,
    volume: int,
    *,
    prices: PriceTable | None = None,
    mix: Mapping[str, float] | None = None,
    apply_free_tier: bool = True,
) -> Estimate:
    """One design's cost for one workload at ``volume`` deliveries a month (``mix`` needed for "mix")."""
    table = prices or load_prices()
    if workload == "mix" and mix is None:
        raise CostModelError("mix: the 'mix' workload needs the shares of its use cases")
    if workload != "mix" and workload not in design.per_delivery:
        raise CostModelError(
            f"workload: {design.name} has no usage for {workload!r}; one of {', '.join(design.per_delivery)}"
        )
    q = _quantities(table, design, _workload_lines(design, workload, mix or {}))
    return _estimate(table, design.name, workload, q, volume, apply_free_tier)


# --- crossovers -------------------------------------------------------------------------------------


def _breakpoints(q: _Quantities, low: float, high: float) -> list[float]:
    """Volumes where some unit crosses a free tier or tier bound: between them totals are linear."""
    points = {low, high}
    pools: dict[str, list[str]] = {}
    for key in q.price_keys():
        entry = q.entries[key]
        rate, base = q.event_total(key), q.idle_total(key)
        bounds = [t.up_to for t in entry.tiers if t.up_to is not None]
        if entry.free_tier is not None:
            bounds.append(entry.free_tier.quantity)
        if entry.free_tier_pool:
            pools.setdefault(entry.free_tier_pool, []).append(key)
        if rate > 0:
            points |= {(b - base) / rate for b in bounds}
    for keys in pools.values():  # a shared allowance runs out where the pool's running total reaches it
        free = q.entries[keys[0]].free_tier.quantity if q.entries[keys[0]].free_tier else 0.0  # type: ignore[union-attr]
        rate = base = 0.0
        for key in keys:
            rate, base = rate + q.event_total(key), base + q.idle_total(key)
            if rate > 0:
                points.add((free - base) / rate)
    return sorted(p for p in points if low <= p <= high)


def _crossings(
    table: PriceTable, a: _Quantities, b: _Quantities, low: float, high: float, apply_free_tier: bool
) -> list[float]:
    points = sorted(set(_breakpoints(a, low, high)) | set(_breakpoints(b, low, high)))

    def diff(v: float) -> float:
        return _total_usd(table, a, v, apply_free_tier) - _total_usd(table, b, v, apply_free_tier)

    roots: list[float] = []
    for v1, v2 in zip(points, points[1:], strict=False):
        d1, d2 = diff(v1), diff(v2)
        if d1 == 0 and d2 == 0:
            continue
        if d1 * d2 < 0:
            roots.append(v1 + (v2 - v1) * d1 / (d1 - d2))
        elif d2 == 0 and v2 < high and diff(v2 * 1.0001) * d1 < 0:
            roots.append(v2)
    return roots


def _crossovers(
    table: PriceTable,
    quantities: Mapping[tuple[str, Workload], _Quantities],
    designs: Sequence[str],
    workloads: Sequence[Workload],
    volumes: Sequence[int],
    apply_free_tier: bool = True,
) -> list[Crossover]:
    low, high = float(min(volumes)), float(max(volumes))
    out: list[Crossover] = []
    for workload in workloads:
        present = [d for d in designs if (d, workload) in quantities]
        for name_a, name_b in combinations(present, 2):
            qa, qb = quantities[(name_a, workload)], quantities[(name_b, workload)]
            roots = _crossings(table, qa, qb, low, high, apply_free_tier)
            if not roots:
                cheaper = (
                    name_a
                    if _total_usd(table, qa, high, apply_free_tier) <= _total_usd(table, qb, high, apply_free_tier)
                    else name_b
                )
                out.append(
                    Crossover(
                        workload=workload,
                        cheaperBelow=cheaper,
                        cheaperAbove=cheaper,
                        volume=None,
                        pair=[name_a, name_b],
                    )
                )
            for root in roots:
                below = root * 0.999
                a_cheaper = _total_usd(table, qa, below, apply_free_tier) < _total_usd(
                    table, qb, below, apply_free_tier
                )
                first, second = (name_a, name_b) if a_cheaper else (name_b, name_a)
                out.append(
                    Crossover(
                        workload=workload, cheaperBelow=first, cheaperAbove=second, volume=root, pair=[name_a, name_b]
                    )
                )
    return out


# --- levers -----------------------------------------------------------------------------------------

Lever = Callable[[Design, int], Design | None]


def _log_levers(design: Design) -> list[tuple[str, Lever]]:
    settings: set[tuple[str, str]] = set()
    for lines in design.per_delivery.values():
        for line in lines:
            if _is(line, "logs", "ingested_gb"):
                source = str(line.attributes.get("source", ""))
                settings |= {(source, k.removeprefix("gbAt.")) for k in line.attributes if k.startswith("gbAt.")}

    def lever(source: str, level: str) -> Lever:
        def fn(d: Design, _volume: int) -> Design:
            def swap(line: UsageLine) -> Iterable[UsageLine]:
                key = f"gbAt.{level}"
                if (
                    _is(line, "logs", "ingested_gb")
                    and line.attributes.get("source") == source
                    and key in line.attributes
                ):
                    yield line.model_copy(
                        update={"quantity": _attr(line, key), "attributes": {**line.attributes, "level": level}}
                    )
                else:
                    yield line

            return _map_lines(d, swap, d.name)

        return fn

    return [(f"{source} {level}", lever(source, level)) for source, level in sorted(settings)]


def _memory_lever(memory: int) -> Lever:
    def fn(d: Design, _volume: int) -> Design:
        def change(line: UsageLine) -> Iterable[UsageLine]:
            current = _attr(line, "memoryMb")
            if _is(line, "lambda", "gb_seconds") and current > 0:
                yield _scaled(line, memory / current, memoryMb=float(memory))
            else:
                yield line

        return _map_lines(d, change, d.name)

    return fn


def lambda_traces_recorded(requests_per_month: float, seconds_per_month: float) -> float:
    """Traces Lambda's active tracing records of a function's trace-starting requests in a month: it
    samples the first request each second (the reservoir, ``XRAY_RESERVOIR_PER_SECOND``) and
    ``XRAY_FIXED_RATE`` of the rest; Lambda's sampling is not configurable. Requests assumed evenly spread."""
    reservoir = XRAY_RESERVOIR_PER_SECOND * seconds_per_month
    return min(requests_per_month, reservoir) + XRAY_FIXED_RATE * max(0.0, requests_per_month - reservoir)


def _xray_lever(mode: str, seconds_per_month: float) -> Lever:
    """``PassThrough``: no trace. ``Active``: a trace per request of each function that starts one (the
    receiver, and each SQS consumer's invoke), recorded as Lambda samples them at the volume."""

    def fn(d: Design, volume: int) -> Design | None:
        def change(line: UsageLine) -> Iterable[UsageLine]:
            if _is(line, "xray", "traces_recorded"):
                return
            yield line
            starts = _is(line, "lambda", "requests") and line.attributes.get("trigger") in ("http", "sqs")
            if mode == "Active" and starts and line.quantity > 0 and volume > 0:
                recorded = lambda_traces_recorded(volume * line.quantity, seconds_per_month) / volume
                yield UsageLine(
                    service="xray",
                    unit="traces_recorded",
                    quantity=recorded,
                    resource=line.resource,
                    attributes={"samplingRate": recorded / line.quantity},
                )

        return _map_lines(d, change, d.name)

    return fn


def _fill_lever(batch_size: int, window_seconds: float, seconds_per_month: float) -> Lever:
    """Records per invoke when a batch closes full or at the window's end: min(size, max(1, rate x window)),
    the rate being that function's records per second at the volume."""

    def fn(d: Design, volume: int) -> Design | None:
        if not any(_records_per_invoke(lines) for lines in d.per_delivery.values()):
            return None

        def fill(line: UsageLine) -> float:
            records_per_delivery = line.quantity * max(1.0, _attr(line, "recordsPerInvoke", 1.0))
            rate = volume * records_per_delivery / seconds_per_month
            return float(min(batch_size, max(1.0, rate * window_seconds)))

        per_delivery = {uc: _refill(lines, fill) for uc, lines in d.per_delivery.items()}
        return replace(d, per_delivery=per_delivery)

    return fn


def _window_for(batch_size: int) -> int:
    """The default batching window, or 1 s where the batch size needs one (SQS allows a batch above 10
    only with a window of at least 1 s: components/config.py)."""
    return max(DEFAULT_WINDOW_SECONDS, 1) if batch_size > MAX_RECEIVE_BATCH else DEFAULT_WINDOW_SECONDS


def _levers(design: Design, measured: Mapping[str, Design], seconds_per_month: float) -> list[tuple[str, str, Lever]]:
    out: list[tuple[str, str, Lever]] = [("logLevel", s, fn) for s, fn in _log_levers(design)]
    out += [("xrayTracing", mode, _xray_lever(mode, seconds_per_month)) for mode in XRAY_SETTINGS]
    out += [
        ("batchSize", f"{size} (window {window} s)", _fill_lever(size, window, seconds_per_month))
        for size in BATCH_SIZE_SETTINGS
        for window in [_window_for(size)]
    ]
    out += [
        ("batchWindow", f"{w} s (batch {DEFAULT_BATCH_SIZE})", _fill_lever(DEFAULT_BATCH_SIZE, w, seconds_per_month))
        for w in BATCH_WINDOW_SETTINGS
    ]
    out += [("memoryMb", str(m), _memory_lever(m)) for m in MEMORY_SETTINGS]
    out += [("cpu", cpu, _cpu_lever(cpu)) for cpu in ("arm64", "x86_64")]
    if design.workflow_type is not None:
        for other in measured.values():
            if other.workflow_type is not None and other.workflow_type != design.workflow_type:
                out.append(("workflowType", other.workflow_type, _design_lever(other)))
    return out


def _cpu_lever(cpu: str) -> Lever:
    def fn(d: Design, _volume: int) -> Design:
        return _with_cpu(d, cpu, d.name)

    return fn


def _design_lever(other: Design) -> Lever:
    """The other measured workflow type: its lines are what this design would consume with it."""

    def fn(_d: Design, _volume: int) -> Design:
        return other

    return fn


# --- the whole report -------------------------------------------------------------------------------


def price(
    usage: UsageReport,
    *,
    prices: PriceTable | None = None,
    volumes: Sequence[int] = DEFAULT_VOLUMES,
    mix: Mapping[str, float] | None = None,
    apply_free_tier: bool = True,
    lambda_billed_ms: float | None = None,
) -> CostReport:
    """Price ``usage`` for every design, workload and volume; crossovers and levers included.

    ``lambda_billed_ms``: bill every Lambda invoke this long instead of the measured duration (a
    sandbox measures durations on its own machine, not on AWS).
    """
    table = prices or load_prices()
    if not volumes or any(v <= 0 for v in volumes):
        raise CostModelError(f"volumes: need deliveries per month > 0, got {list(volumes)}")
    if lambda_billed_ms is not None and not (math.isfinite(lambda_billed_ms) and lambda_billed_ms > 0):
        raise CostModelError(f"lambda_billed_ms: need a duration in ms > 0, got {lambda_billed_ms!r}")
    volumes = sorted(set(volumes))
    notes: list[str] = []
    if lambda_billed_ms is not None:
        usage = with_lambda_duration(usage, lambda_billed_ms)
        _add(notes, f"Lambda duration: every invoke billed {lambda_billed_ms:g} ms (given), not the measured duration.")
    designs = designs_from(usage, notes)
    measured = {d.name: d for d in designs[: len(usage.stacks)]}
    mix = _check_mix(mix, designs) if mix is not None else default_mix(usage)
    _add(
        notes,
        "mix = "
        + ", ".join(f"{uc} {share:.1%}" for uc, share in mix.items())
        + (" (the metered workload's shares of deliveries)" if mix == default_mix(usage) else " (given)"),
    )
    quantities: dict[tuple[str, Workload], _Quantities] = {}
    estimates: list[Estimate] = []
    for design in designs:
        for workload in _workloads(design):
            if workload == "mix" and not all(uc in design.per_delivery for uc in mix):
                continue
            q = _quantities(table, design, _workload_lines(design, workload, mix))
            quantities[(design.name, workload)] = q
            estimates += [_estimate(table, design.name, workload, q, v, apply_free_tier) for v in volumes]
    names = [d.name for d in designs]
    workloads = sorted({w for _, w in quantities}, key=lambda w: (w == "mix", w))
    levers: list[LeverEffect] = []
    for design in measured.values():
        for lever, setting, fn in _levers(design, measured, table.seconds_per_month):
            for workload in _workloads(design):
                base = quantities.get((design.name, workload))
                if base is None:
                    continue
                for volume in LEVER_VOLUMES:
                    changed = fn(design, volume)
                    if changed is None:
                        continue
                    q = _quantities(table, changed, _workload_lines(changed, workload, mix))
                    total = _total_usd(table, q, volume, apply_free_tier)
                    levers.append(
                        LeverEffect(
                            lever=lever,
                            setting=setting,
                            design=design.name,
                            workload=workload,
                            volume=volume,
                            totalUsd=total,
                            deltaUsd=total - _total_usd(table, base, volume, apply_free_tier),
                        )
                    )
    for note in MODEL_NOTES:
        _add(notes, note)
    _add(
        notes,
        "free tiers: permanent ones applied (Lambda, SQS, Step Functions Standard, SNS, CloudWatch, X-Ray, KMS)"
        if apply_free_tier
        else "free tiers: not applied (apply_free_tier=False)",
    )
    return CostReport(
        usageCommand=usage.command,
        usageSource=usage.source,
        region=table.region,
        pricesAsOf=table.as_of.isoformat(),
        volumes=list(volumes),
        mix=mix,
        designs=names,
        estimates=estimates,
        crossovers=_crossovers(table, quantities, names, workloads, volumes, apply_free_tier),
        levers=levers,
        notes=[*usage.notes, *notes],
    )


MODEL_NOTES: tuple[str, ...] = (
    "per-event cost = what the traffic adds to the idle usage's cost (free tiers go to idle usage first); "
    "per-million = per-event cost / volume x 1M; each unit's tiers and free tier apply to the month's total "
    "and its cost is split over resources by quantity.",
    "idle pollers: the idle lines price AWS's pollers (pollers per mapping x one 20 s long poll, see the price "
    "table's assumptions) whatever the traffic; per-delivery empty receives are only those above that idle "
    "rate (the usage source subtracts it), so no receive is priced twice.",
    "memoryMb lever: GB-s change in proportion to memory, billed duration assumed unchanged (more memory "
    "usually shortens CPU-bound invokes, so larger sizes are an upper bound).",
    "cpu lever and article designs: duration assumed the same on arm64 and x86_64; only the GB-s price changes.",
    "batchSize / batchWindow levers: records per invoke = min(batch size, max(1, records per second x "
    "window)) at each volume; invokes, the pollers' receives and deletes scale with it; GB-s unchanged "
    "(the work is per record). The measured design keeps its observed batch fill at every volume.",
    "xrayTracing lever: Active = a trace per request of the receiver and of each SQS consumer invoke, "
    "recorded as Lambda samples (every request up to one a second per function, 5% beyond); PassThrough = none.",
    "logLevel lever: the bytes the meter derived for the other level (from the lines it saw, or the "
    "execution history for states); workflowType lever: the other measured stepfunctions stack's usage.",
)
