"""Memory per function after a power-tuning sweep (`make bench`, or `python -m sandbox bench --power-tuning`).

Like aws-lambda-power-tuning: every function of every deployed architecture runs at several memory sizes
(``MEMORY_SIZES`` and its current one), ``invokes`` warm invokes of one representative event each; per size
the median billed duration, the cost of a million invokes at it (Lambda's arm64 GB-s price and its request
price, from stackops/data/aws_prices.json) and whether the median stays within the function's bound
(``LATENCY_BOUND_S``, or ``LATENCY_SLACK`` x its fastest median when even that is over it). The cheapest
size within the bound is the pick; one catalog memory_mb serves both architectures, so the
recommendation for a function is the larger of its architectures' picks.

How it is measured:

- CPU as Lambda gives it: each function process runs in a cgroup with ``memory / 1769`` of a core
  (sandbox/cpu_share.py). Without writable cgroups the sweep prints why and measures nothing.
- Representative events: three deliveries (a member added, a workflow run completed, an installation
  created) are sent through each stack once, and every function's first invoke payload is recorded; the
  sweep replays it with the Invoke API (RequestResponse), the function's MemorySize changed with
  UpdateFunctionConfiguration before each size (new configuration, so new, limited processes).
- Per size: one invoke to start the process (cold, at the machine's full CPU, not counted), then the
  process gets its CPU share and ``invokes`` warm invokes run; the duration
  is the local runtime's (event handed over -> result), billed rounded up to the next 1 ms. Between
  invokes the stack is left to finish what the replay set off downstream (sqs forwards to the next queue),
  so the next invoke runs alone; the tables are emptied before each store-records replay, so it writes
  anew instead of finding its write already done.
- GitHub latency: the fake GitHub answers in ~1 ms on loopback, real GitHub in ~100 ms or more; the sweep
  delays every fake GitHub answer by ``GITHUB_LATENCY_S`` (an assumption), since waiting on GitHub is billed
  at every memory size alike and is what makes more memory dearer for these functions.
- The machine's other load (the emulator, the fake GitHub, other processes) shares its cores: the figures
  are this machine's, not Lambda's; the cold start is not part of the pick (it is rarer than warm invokes).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from components.catalog import BUSINESS_FUNCTIONS, STORE_RECORDS
from sandbox.cpu_share import CpuShares, cpu_shares, vcpus_for
from sandbox.environment import STACK_NAMES, Sandbox
from sandbox.lambda_runtime import FunctionConfig
from sandbox.workload import installation_created, member_added, workflow_run_completed
from stackops.prices import PriceTable, load_prices

#: Memory sizes every function is measured at (besides its current one): 1,769 MB is one vCPU.
MEMORY_SIZES = (128, 256, 512, 1024, 1769)
#: Warm invokes per function and size.
INVOKES = 7
#: A function's median warm duration must stay within this: the sqs p50 target (1 s end to end, issue 9)
#: shared by the four functions of the longest chain (receiver -> add-team-member -> lookup-directory ->
#: store-records), queue hand-overs not counted ...
LATENCY_BOUND_S = 0.25
#: ... or, for a function whose fastest size is already slower than that (it waits on GitHub, which more
#: memory does not shorten), within this factor of its fastest size's median.
LATENCY_SLACK = 1.25
#: Added to every fake GitHub answer during the sweep (real GitHub answers in ~100 ms or more).
GITHUB_LATENCY_S = 0.1
#: The functions are arm64 (components/lambda_function.py): priced at its GB-s.
LAMBDA_ARCHITECTURE = "arm64"
CATALOG_MEMORY_MB = {spec.key: spec.memory_mb for spec in (*BUSINESS_FUNCTIONS, STORE_RECORDS)}
IDLE_TIMEOUT = 180.0
OUTPUT = Path(__file__).resolve().parent.parent / "build" / "bench.json"


# --- the figures (pure) ------------------------------------------------------------------------------


def sweep_sizes(current_mb: int, sizes: Iterable[int] = MEMORY_SIZES) -> list[int]:
    """The sizes to measure, largest first, so the first differs from the current one (the function's
    running processes belong to the current configuration and have no CPU limit); if the current one is the
    largest, smallest first."""
    ordered = sorted({*sizes, current_mb}, reverse=True)
    return ordered if ordered[0] != current_mb else ordered[::-1]


def billed_ms(duration_s: float) -> int:
    """Lambda bills duration rounded up to the next millisecond."""
    return max(1, math.ceil(duration_s * 1000 - 1e-9))


def cost_per_million_usd(memory_mb: int, billed: int, prices: PriceTable) -> float:
    """A million invokes of ``billed`` ms at ``memory_mb``: duration (GB-s) plus requests, no free tier."""
    gb_seconds = billed / 1000 * memory_mb / 1024 * 1_000_000
    duration = prices.entry("lambda", "gb_seconds", LAMBDA_ARCHITECTURE).usd_for(gb_seconds)
    return duration + prices.entry("lambda", "requests").usd_for(1_000_000)


@dataclass(frozen=True)
class SizeFigures:
    memory_mb: int
    vcpus: float  # the CPU share the process had
    invokes: int  # warm invokes measured
    errors: int
    p50_s: float | None
    billed_p50_ms: int | None
    cost_per_million_usd: float | None
    within_bound: bool


def size_figures(
    memory_mb: int, durations: Sequence[float], errors: int, cores: int, prices: PriceTable
) -> SizeFigures:
    """One size's figures; ``within_bound`` is set later (:func:`within_bound`), from every size's."""
    if not durations:
        return SizeFigures(memory_mb, vcpus_for(memory_mb, cores), 0, errors, None, None, None, False)
    p50 = statistics.median(durations)
    billed = billed_ms(p50)
    return SizeFigures(
        memory_mb,
        vcpus_for(memory_mb, cores),
        len(durations),
        errors,
        p50,
        billed,
        cost_per_million_usd(memory_mb, billed, prices),
        False,
    )


def function_bound_s(
    sizes: Iterable[SizeFigures], bound_s: float = LATENCY_BOUND_S, slack: float = LATENCY_SLACK
) -> float:
    """``bound_s``, or ``slack`` x the fastest median when even that is over ``bound_s``."""
    fastest = min((s.p50_s for s in sizes if s.p50_s is not None and not s.errors), default=None)
    return bound_s if fastest is None or fastest <= bound_s else slack * fastest


def within_bound(sizes: Sequence[SizeFigures], bound_s: float) -> list[SizeFigures]:
    """The sizes with ``within_bound`` set: no function error and the median within ``bound_s``."""
    return [replace(s, within_bound=not s.errors and s.p50_s is not None and s.p50_s <= bound_s) for s in sizes]


def cheapest_within_bound(sizes: Iterable[SizeFigures]) -> int | None:
    """The memory of the cheapest size within the bound (the smaller memory on a tie), None if none is."""
    kept = [s for s in sizes if s.within_bound and s.cost_per_million_usd is not None]
    if not kept:
        return None
    return min(kept, key=lambda s: (s.cost_per_million_usd, s.memory_mb)).memory_mb


@dataclass
class FunctionSweep:
    architecture: str
    function: str  # the catalog key
    name: str  # the deployed function
    current_mb: int
    sizes: list[SizeFigures] = field(default_factory=list)
    bound_s: float = LATENCY_BOUND_S  # the bound this function was held to (function_bound_s)
    problems: list[str] = field(default_factory=list)

    @property
    def pick_mb(self) -> int | None:
        return cheapest_within_bound(self.sizes)


@dataclass(frozen=True)
class Recommendation:
    function: str
    catalog_mb: int
    picks: dict[str, int | None]  # per architecture
    recommended_mb: int | None  # the largest pick: one memory_mb serves both architectures

    @property
    def differs(self) -> bool:
        return self.recommended_mb is not None and self.recommended_mb != self.catalog_mb


def recommendations(
    sweeps: Iterable[FunctionSweep], catalog: Mapping[str, int] = CATALOG_MEMORY_MB
) -> list[Recommendation]:
    picks: dict[str, dict[str, int | None]] = {}
    for sweep in sweeps:
        picks.setdefault(sweep.function, {})[sweep.architecture] = sweep.pick_mb
    result = []
    for key, catalog_mb in catalog.items():
        if key not in picks:
            continue
        chosen = [pick for pick in picks[key].values() if pick is not None]
        # No size within the bound in some architecture: no recommendation for the function.
        recommended = max(chosen) if chosen and len(chosen) == len(picks[key]) else None
        result.append(Recommendation(key, catalog_mb, picks[key], recommended))
    return result


@dataclass
class PowerTuning:
    available: bool
    reason: str = ""  # why not, when not available
    invokes: int = INVOKES
    bound_s: float = LATENCY_BOUND_S
    github_latency_s: float = GITHUB_LATENCY_S
    cores: int = 0
    period_us: int = 0
    sweeps: list[FunctionSweep] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        for sweep, data in zip(self.sweeps, document["sweeps"], strict=True):
            data["pick_mb"] = sweep.pick_mb
        document["recommendations"] = [asdict(r) | {"differs": r.differs} for r in recommendations(self.sweeps)]
        document["definitions"] = {
            "p50_s": "median duration of the warm invokes at that memory (event handed over -> result)",
            "billed_p50_ms": "p50 rounded up to the next ms, as Lambda bills",
            "cost_per_million_usd": f"1M invokes at billed_p50_ms: Lambda {LAMBDA_ARCHITECTURE} GB-s + requests, "
            "us-east-1, no free tier",
            "within_bound": f"no function error and p50_s <= the function's bound_s: {LATENCY_BOUND_S} s, or "
            f"{LATENCY_SLACK} x its fastest p50 when that is over {LATENCY_BOUND_S} s",
            "pick_mb": "the cheapest memory within the bound",
            "recommended_mb": "the largest pick over the architectures (one catalog memory_mb serves both)",
            "github_latency_s": "added to every fake GitHub answer during the sweep (an assumption)",
        }
        return document


# --- measuring ---------------------------------------------------------------------------------------


def _function_key(name: str) -> str | None:
    for key in sorted(CATALOG_MEMORY_MB, key=len, reverse=True):
        if name.endswith("-" + key):
            return key
    return None


class _PayloadRecorder:
    """The first payload each function was invoked with (``LocalLambdaRuntime.on_invoke``)."""

    def __init__(self) -> None:
        self.payloads: dict[str, bytes] = {}

    def __call__(self, config: FunctionConfig, payload: bytes) -> None:
        self.payloads.setdefault(config.name, payload)


def capture_events(sandbox: Sandbox, architectures: Sequence[str]) -> dict[str, bytes]:
    """Every function's first invoke payload while three deliveries go through each stack."""
    assert sandbox.aws is not None
    runtime, seed = sandbox.aws.runtime, sandbox.seed
    recorder = _PayloadRecorder()
    runtime.on_invoke = recorder
    try:
        for architecture in architectures:
            for delivery in (
                member_added(seed, seed.members[0]),
                workflow_run_completed(seed, seed.runs[0]),
                installation_created(seed),
            ):
                sandbox.send(architecture, delivery)
                sandbox.wait_until_idle([architecture], timeout=IDLE_TIMEOUT)
    finally:
        runtime.on_invoke = None
    return recorder.payloads


def _deployed(sandbox: Sandbox, architecture: str) -> list[tuple[str, str, int]]:
    """(catalog key, function name, current memory) of the stack's functions, in catalog order."""
    assert sandbox.aws is not None
    stack = STACK_NAMES[architecture]
    pages = sandbox.aws.client("lambda").get_paginator("list_functions").paginate()
    found = {
        _function_key(f["FunctionName"]): (f["FunctionName"], int(f["MemorySize"]))
        for page in pages
        for f in page["Functions"]
        if f"-{stack}-" in f["FunctionName"]
    }
    return [(key, *found[key]) for key in CATALOG_MEMORY_MB if key in found]


def _invoke(sandbox: Sandbox, architecture: str, key: str, name: str, payload: bytes) -> tuple[float | None, bool]:
    """One invoke: its duration as the runtime recorded it (None if it recorded none) and whether it failed."""
    assert sandbox.aws is not None
    runtime = sandbox.aws.runtime
    if key == "store-records":
        sandbox.clear_tables()
    mark = len(runtime.records())
    response = sandbox.aws.client("lambda").invoke(FunctionName=name, Payload=payload)
    failed = "FunctionError" in response
    response["Payload"].read()
    durations = [r.duration for r in runtime.records()[mark:] if r.function == name]
    if architecture == "sqs" or key == "receiver":  # what it set off downstream finishes before the next
        sandbox.wait_until_idle([architecture], timeout=IDLE_TIMEOUT, settle=0.05)
    return (durations[0] if durations else None), failed


def sweep_function(
    sandbox: Sandbox,
    shares: CpuShares,
    prices: PriceTable,
    architecture: str,
    key: str,
    name: str,
    current_mb: int,
    payload: bytes,
    invokes: int,
    bound_s: float,
) -> FunctionSweep:
    assert sandbox.aws is not None
    client = sandbox.aws.client("lambda")
    sweep = FunctionSweep(architecture, key, name, current_mb)
    try:
        for memory_mb in sweep_sizes(current_mb):
            client.update_function_configuration(FunctionName=name, MemorySize=memory_mb)
            _, cold_failed = _invoke(sandbox, architecture, key, name, payload)  # starts the process
            shares.limit_all()  # its memory's CPU share from here on
            durations, errors = [], int(cold_failed)
            for _ in range(invokes):
                duration, failed = _invoke(sandbox, architecture, key, name, payload)
                errors += failed
                if duration is not None and not failed:
                    durations.append(duration)
            if errors:
                sweep.problems.append(f"{memory_mb} MB: {errors} function errors")
            sweep.sizes.append(size_figures(memory_mb, durations, errors, shares.cores, prices))
    finally:
        client.update_function_configuration(FunctionName=name, MemorySize=current_mb)
    sweep.bound_s = function_bound_s(sweep.sizes, bound_s)
    sweep.sizes = within_bound(sorted(sweep.sizes, key=lambda s: s.memory_mb), sweep.bound_s)
    return sweep


def power_tuning(
    sandbox: Sandbox,
    architectures: Sequence[str],
    invokes: int = INVOKES,
    bound_s: float = LATENCY_BOUND_S,
    github_latency_s: float = GITHUB_LATENCY_S,
    on_step: Callable[[str], None] = lambda _: None,
) -> PowerTuning:
    """The sweep over a started sandbox; the functions' memory is as before when it returns."""
    assert sandbox.aws is not None and sandbox.github is not None
    shares = cpu_shares(start_unlimited=True)
    if isinstance(shares, str):
        return PowerTuning(False, reason=shares, invokes=invokes, bound_s=bound_s, github_latency_s=github_latency_s)
    started = time.perf_counter()
    result = PowerTuning(True, "", invokes, bound_s, github_latency_s, shares.cores, shares.period_us)
    runtime = sandbox.aws.runtime
    try:
        on_step("recording each function's invoke payloads")
        payloads = capture_events(sandbox, architectures)
        prices = load_prices()
        runtime.process_wrapper = shares.wrap
        if github_latency_s > 0:
            sandbox.github.github.slow_down(github_latency_s)
        for architecture in architectures:
            for key, name, current_mb in _deployed(sandbox, architecture):
                payload = payloads.get(name)
                if payload is None:
                    result.sweeps.append(FunctionSweep(architecture, key, name, current_mb, problems=["never invoked"]))
                    continue
                on_step(f"{architecture} {key}: {invokes} warm invokes at each memory size")
                result.sweeps.append(
                    sweep_function(
                        sandbox, shares, prices, architecture, key, name, current_mb, payload, invokes, bound_s
                    )
                )
    finally:
        runtime.process_wrapper = None
        sandbox.github.github.clear_faults()
        shares.close()  # processes still in a cgroup go back to the machine's whole CPU
    result.seconds = time.perf_counter() - started
    return result


# --- printing ----------------------------------------------------------------------------------------


def print_power_tuning(console: Console, tuning: PowerTuning) -> None:
    console.print()
    console.print("[bold]Memory (power tuning)[/bold]")
    if not tuning.available:
        console.print(f"CPU shares are not available, so no power-tuning sweep: {tuning.reason}")
        return
    console.print(
        f"Each function at {', '.join(map(str, MEMORY_SIZES))} MB and its current size, CPU = memory / 1769 of "
        f"a core (cgroup quota per {tuning.period_us // 1000} ms, at most {tuning.cores} cores); "
        f"{tuning.invokes} warm invokes of one recorded event per size; fake GitHub answers "
        f"{tuning.github_latency_s * 1000:.0f} ms late (assumed GitHub latency); bound: p50 <= "
        f"{tuning.bound_s * 1000:.0f} ms, or {LATENCY_SLACK:g} x the fastest p50 when that is over it; "
        f"cost: 1M invokes at the billed p50, Lambda {LAMBDA_ARCHITECTURE} "
        f"GB-s + requests; * = cheapest within the bound. {tuning.seconds:.0f} s."
    )
    for sweep in tuning.sweeps:
        table = Table(
            title=f"{sweep.architecture} {sweep.function} (current {sweep.current_mb} MB, bound "
            f"{sweep.bound_s * 1000:.0f} ms)",
            title_justify="left",
        )
        for column in ("memory", "vCPU", "p50", "billed", "per 1M invokes", "within bound"):
            table.add_column(column, justify="right")
        for size in sweep.sizes:
            mark = " *" if size.memory_mb == sweep.pick_mb else ""
            table.add_row(
                f"{size.memory_mb} MB{mark}",
                f"{size.vcpus:.3f}",
                "-" if size.p50_s is None else f"{size.p50_s * 1000:.1f} ms",
                "-" if size.billed_p50_ms is None else f"{size.billed_p50_ms} ms",
                "-" if size.cost_per_million_usd is None else f"${size.cost_per_million_usd:.2f}",
                ("yes" if size.within_bound else "no") + (f" ({size.errors} errors)" if size.errors else ""),
            )
        console.print(table)
        for problem in sweep.problems:
            console.print(f"[red]{sweep.architecture} {sweep.function}: {problem}[/red]")
    table = Table(title="Recommended memory_mb (components/catalog.py)", title_justify="left")
    names = sorted({sweep.architecture for sweep in tuning.sweeps})
    for column in ("function", "catalog", *names, "recommended"):
        table.add_column(column, justify="right")
    for rec in recommendations(tuning.sweeps):
        table.add_row(
            rec.function,
            f"{rec.catalog_mb} MB",
            *("-" if rec.picks.get(n) is None else f"{rec.picks[n]} MB" for n in names),
            "none within the bound"
            if rec.recommended_mb is None
            else f"{rec.recommended_mb} MB" + (" (differs)" if rec.differs else " (as is)"),
        )
    console.print(table)


def write_into_bench_json(tuning: PowerTuning, output: Path = OUTPUT) -> Path:
    """Put the sweep under ``power_tuning`` in build/bench.json, keeping the rest of it."""
    try:
        document = json.loads(output.read_text())
    except (OSError, ValueError):
        document = {}
    document["power_tuning"] = tuning.to_json()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n")
    return output


def bench_power_tuning(console: Console, architectures: Sequence[str], time_scale: float) -> int:
    """`python -m sandbox bench --power-tuning`: the sweep alone, on a sandbox of its own."""
    sandbox = Sandbox(architectures, time_scale=time_scale)
    try:
        with console.status("Starting the embedded AWS and the fake GitHub, deploying the Pulumi program"):
            sandbox.start()
        with console.status("power tuning") as status:
            tuning = power_tuning(sandbox, architectures, on_step=status.update)
    finally:
        with console.status("Stopping the sandbox"):
            sandbox.stop()
    print_power_tuning(console, tuning)
    output = write_into_bench_json(tuning)
    console.print(
        f"Figures written to {output.relative_to(Path.cwd()) if output.is_relative_to(Path.cwd()) else output}"
    )
    return 1 if any(sweep.problems for sweep in tuning.sweeps) else 0
