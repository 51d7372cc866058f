"""`python -m sandbox bench`: cold starts, warm receiver latency, end-to-end latency and events per second.

Both stacks are deployed into one sandbox, then measured one architecture at a time (the other one idle),
so the two never compete for this machine's cores. Per architecture, in this order:

1. Cold start per function: deliveries sent one at a time, each processed before the next (a member
   added, a workflow run completed, an installation created), so every function's first invoke starts a
   fresh process while nothing else runs. The figure is the first (cold) invoke's duration as the local
   Lambda runtime records it: from handing the event over to the result, so it takes in starting the
   Python process, awslambdaric, importing the handler module and the handler's own work (Lambda's
   "Init Duration" plus "Duration"). The warm invokes' median over the whole bench is shown next to it.
2. Warm receiver latency: after a warm-up, ``ROUND_TRIPS`` webhook round trips one after another
   through the stack's HTTP API (client side: request out -> response in) for an ignored event (``ping``:
   signature check and parsing, nothing dispatched; paced below the stage's throttle, which would
   otherwise answer 429) and ``ACCEPTED_ROUND_TRIPS`` for an accepted one (a ``workflow_run`` completed:
   also SendMessage / StartExecution; paced at ``ACCEPTED_RATE``). The accepted ones set processing off,
   which runs on the same two cores while the next requests are timed, as it would on a busy stack.
3. End to end: the tables emptied, a burst of distinct deliveries (every seeded member added, every
   seeded run completed, fresh delivery ids) sent as fast as one client sends them; per delivery the
   time from sending to the last notification naming it (as `make run` measures it), and events per
   second = deliveries / (first send -> stack idle). The stored tables are checked against the oracle.
Last, memory (power tuning, sandbox/power_tuning.py): every function at several memory sizes, with CPU in
   proportion to memory as Lambda gives it; the cheapest size that keeps a latency bound, against the catalog.

Before the sandbox starts, with nothing else running: cold starts as Lambda pays them (``sandbox.cold_start``:
each handler module's import in a fresh Python 3.13 with the layer as built, against a bare handler, per
layer variant so the effect of each packaging change shows).

The figures are printed as tables and written to ``build/bench.json``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.table import Table

from components.config import StackConfig
from sandbox import cold_start
from sandbox.environment import STACK_NAMES, Response, Sandbox
from sandbox.fake_github import OrgSeed
from sandbox.lambda_runtime import InvokeRecord
from sandbox.power_tuning import power_tuning, print_power_tuning
from sandbox.replay import StackReport, median, percentile, replay
from sandbox.sqs_poller import MappingStats
from sandbox.workload import Delivery, ignored, installation_created, member_added, workflow_run_completed

#: The functions of both architectures, by the key their names end in.
FUNCTIONS = (
    "receiver",
    "add-team-member",
    "lookup-directory",
    "price-workflow-run",
    "list-org-members",
    "store-records",
)
ROUND_TRIPS = 200  # ignored (ping) round trips per architecture
ACCEPTED_ROUND_TRIPS = 100  # accepted (workflow_run) ones: each sets processing off, so fewer (run time)
WARM_UP = 10  # round trips of each kind before timing starts
#: Ignored round trips are paced at this share of the stack's HTTP API rate limit (apiThrottlingRateLimit),
#: so the stage's throttle never answers 429 instead of the receiver.
IGNORED_RATE_SHARE = 0.8
#: Accepted round trips per second: a rate both architectures keep up with on two cores, so the figure is
#: the receiver's latency while processing runs alongside, not the latency of a growing backlog.
ACCEPTED_RATE = 5.0
#: Deliveries of the throughput burst per architecture (issue 9: >= 15 deliveries/s for 300 of them).
THROUGHPUT_DELIVERIES = 300
#: The throughput burst is sent at this share of apiThrottlingRateLimit: faster, the stage's token bucket
#: (apiThrottlingBurstLimit) runs dry within 300 requests and answers 429 instead of the receiver.
THROUGHPUT_RATE_SHARE = 0.8
E2E_EVENTS = (("organization", "member added"), ("workflow_run", "workflow run completed"))
#: Deliveries of the busy-queue burst: enough that every hop's queue holds messages while its function runs,
#: so the figure shows whether a batching window of 0 still batches (records per invoke per hop).
BUSY_DELIVERIES = 100
#: The sqs latency targets for the burst (issue 9): p50 and p99 over all its deliveries, seconds.
SQS_LATENCY_TARGETS = {"p50": 1.0, "p99": 2.5}
OUTPUT = Path(__file__).resolve().parent.parent / "build" / "bench.json"
IDLE_TIMEOUT = 180.0

DEFINITIONS = {
    "cold_start_s": "first invoke of the function in the architecture: from handing the event to a freshly "
    "spawned awslambdaric process to its result (process start + runtime + handler import + "
    "handler); nothing else running meanwhile",
    "warm_invoke_p50_s": "median duration of the function's warm invokes (reused process) over the whole bench",
    "receiver_round_trip": "client-side webhook round trip through the stack's HTTP API (request out -> "
    "response in), one request at a time after a warm-up; ignored = ping (signature "
    "check + parse, no dispatch; paced below the HTTP API throttle), accepted = "
    "workflow_run completed (+ SendMessage / StartExecution, paced, whose processing "
    "runs meanwhile on the same cores); *_invoke = the receiver function's own duration",
    "end_to_end": "burst of distinct deliveries (every seeded member added + every seeded run completed, "
    "fresh ids, empty tables) sent back to back; latency = sent -> last notification naming "
    "the delivery",
    "events_per_second": "burst deliveries / (first send -> stack idle)",
    "throughput": f"{THROUGHPUT_DELIVERIES} distinct deliveries (seeded members added and seeded runs "
    f"completed in turn, fresh ids, empty tables) sent at {THROUGHPUT_RATE_SHARE:.0%} of "
    "apiThrottlingRateLimit; deliveries per second = deliveries / (first send -> stack idle); "
    "cpu_per_delivery_s = this process's CPU seconds (emulator, pollers, HTTP API, fake GitHub, client) "
    "and the function processes' CPU seconds from the first send until the stack is idle, per delivery",
    "batching": "sqs, per hop (the queue a mapping polls): invokes, records and records per invoke during the "
    "burst and during a busy-queue burst of BUSY_DELIVERIES workflow_run completions sent back to back",
}


# --- the figures (pure) ------------------------------------------------------------------------------


def function_key(name: str) -> str | None:
    """The function key a deployed function's name ends in (``...-sandbox-sqs-receiver`` -> ``receiver``)."""
    for key in sorted(FUNCTIONS, key=len, reverse=True):
        if name == key or name.endswith("-" + key):
            return key
    return None


@dataclass(frozen=True)
class FunctionFigures:
    cold_start_s: float | None  # the first cold invoke's duration
    cold_starts: int  # processes started (a function may get more than one)
    warm_invoke_p50_s: float | None
    warm_invokes: int
    errors: int


def function_figures(records: Iterable[InvokeRecord]) -> dict[str, FunctionFigures]:
    """Per function key, from one architecture's invoke records in the order they were made."""
    grouped: dict[str, list[InvokeRecord]] = {}
    for record in records:
        key = function_key(record.function)
        if key is not None:
            grouped.setdefault(key, []).append(record)
    figures = {}
    for key in FUNCTIONS:
        calls = grouped.get(key, [])
        cold = [call.duration for call in calls if call.cold]
        warm = [call.duration for call in calls if not call.cold]
        figures[key] = FunctionFigures(
            cold_start_s=cold[0] if cold else None,
            cold_starts=len(cold),
            warm_invoke_p50_s=median(warm) if warm else None,
            warm_invokes=len(warm),
            errors=sum(1 for call in calls if call.error_type is not None),
        )
    return figures


@dataclass(frozen=True)
class Latency:
    n: int
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    max_s: float | None


def latency(values: Sequence[float]) -> Latency:
    if not values:
        return Latency(0, None, None, None, None)
    return Latency(
        len(values), percentile(values, 0.50), percentile(values, 0.95), percentile(values, 0.99), max(values)
    )


def events_per_second(deliveries: int, seconds: float) -> float | None:
    return deliveries / seconds if seconds > 0 else None


def throughput_burst(seed: OrgSeed, count: int = THROUGHPUT_DELIVERIES) -> list[Delivery]:
    """``count`` distinct deliveries (fresh ids): the seeded members added and the seeded runs completed in
    turn, round and round, so both use cases run throughout the burst."""
    makers: list[Callable[[], Delivery]] = []
    for index in range(max(len(seed.members), len(seed.runs))):
        if index < len(seed.members):
            makers.append(lambda person=seed.members[index]: member_added(seed, person))
        if index < len(seed.runs):
            makers.append(lambda run=seed.runs[index]: workflow_run_completed(seed, run))
    return [makers[index % len(makers)]() for index in range(count)]


def cpu_model(cpuinfo: str) -> str:
    """The first ``model name`` of /proc/cpuinfo (or ``Hardware`` / ``Processor`` on ARM)."""
    for label in ("model name", "Hardware", "Processor"):
        match = re.search(rf"^{label}\s*:\s*(.+)$", cpuinfo, re.M)
        if match:
            return match.group(1).strip()
    return "unknown"


def machine() -> dict[str, Any]:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "nproc": cpus,
        "cpu": cpu_model(cpuinfo) if cpuinfo else platform.processor() or "unknown",
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


@dataclass(frozen=True)
class HopBatching:
    """One sqs hop's batching over a phase: Lambda invokes, records they carried, the largest batch."""

    invokes: int
    records: int
    largest: int

    @property
    def records_per_invoke(self) -> float | None:
        return self.records / self.invokes if self.invokes else None


def hop_batching(
    before: Mapping[str, MappingStats], after: Mapping[str, MappingStats], hops: Mapping[str, str]
) -> dict[str, HopBatching]:
    """Per hop name (``hops``: mapping uuid -> hop), what the mapping's poller invoked between two
    snapshots of its stats. ``largest`` is the largest batch seen so far (the poller keeps no history)."""
    figures: dict[str, HopBatching] = {}
    for uuid, hop in sorted(hops.items(), key=lambda item: item[1]):
        start, end = before.get(uuid, MappingStats()), after.get(uuid, MappingStats())
        figures[hop] = HopBatching(end.batches - start.batches, end.records - start.records, end.largest_batch)
    return figures


@dataclass
class ArchitectureFigures:
    architecture: str
    settings: dict[str, str]
    deployed: list[str] = field(default_factory=list)  # function keys
    functions: dict[str, FunctionFigures] = field(default_factory=dict)
    receiver_ignored: Latency = field(default_factory=lambda: latency([]))
    receiver_accepted: Latency = field(default_factory=lambda: latency([]))
    receiver_ignored_invoke: Latency = field(default_factory=lambda: latency([]))  # the function's own share
    receiver_accepted_invoke: Latency = field(default_factory=lambda: latency([]))
    accepted_drain_s: float = 0.0  # after the accepted round trips: last response -> idle
    end_to_end: dict[str, Latency] = field(default_factory=dict)
    end_to_end_all: Latency = field(default_factory=lambda: latency([]))  # every burst delivery
    batching: dict[str, HopBatching] = field(default_factory=dict)  # sqs: per hop, during the burst
    busy_batching: dict[str, HopBatching] = field(default_factory=dict)  # sqs: during the busy-queue burst
    burst_deliveries: int = 0
    burst_seconds: float = 0.0
    events_per_second: float | None = None
    throughput_deliveries: int = 0
    throughput_seconds: float = 0.0
    throughput_per_second: float | None = None
    cpu_per_delivery_s: dict[str, float] = field(default_factory=dict)  # "sandbox" / "functions"
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0  # the whole measurement of this architecture
    phase_seconds: dict[str, float] = field(default_factory=dict)


def to_json(
    machine_info: Mapping[str, Any],
    time_scale: float,
    round_trips: int,
    accepted_round_trips: int,
    figures: Mapping[str, ArchitectureFigures],
) -> dict[str, Any]:
    return {
        "machine": dict(machine_info),
        "time_scale": time_scale,
        "round_trips": {"ignored": round_trips, "accepted": accepted_round_trips},
        "pacing_per_second": {
            "ignored": f"{IGNORED_RATE_SHARE:.0%} of apiThrottlingRateLimit",
            "accepted": ACCEPTED_RATE,
        },
        "definitions": DEFINITIONS,
        "architectures": {name: asdict(f) for name, f in figures.items()},
    }


# --- measuring ---------------------------------------------------------------------------------------


class _OneStack:
    """The sandbox as :func:`replay` sees it, with only one architecture's stack in it."""

    def __init__(self, sandbox: Sandbox, architecture: str) -> None:
        self._sandbox = sandbox
        self.stacks = {architecture: sandbox.stacks[architecture]}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sandbox, name)


def _settings(sandbox: Sandbox, architecture: str) -> dict[str, str]:
    """The stack settings the figures depend on (the stack's config, else the program's default)."""
    config = sandbox.stack_config(architecture)

    def value(key: str, attribute: str) -> str:
        return str(config.get(key, StackConfig.model_fields[attribute].default))

    settings = {"apiThrottlingRateLimit": value("apiThrottlingRateLimit", "api_throttling_rate_limit")}
    if architecture == "sqs":
        settings |= {
            "sqsBatchSize": value("sqsBatchSize", "sqs_batch_size"),
            "sqsBatchWindowSeconds": value("sqsBatchWindowSeconds", "sqs_batch_window_seconds"),
        }
    else:
        settings |= {"workflowType": value("workflowType", "workflow_type")}
    return settings


def _deployed_functions(sandbox: Sandbox, architecture: str) -> list[str]:
    """The function keys the stack deployed (stepfunctions has no store-records: it writes natively)."""
    assert sandbox.aws is not None
    pages = sandbox.aws.client("lambda").get_paginator("list_functions").paginate()
    stack = STACK_NAMES[architecture]
    names = [function["FunctionName"] for page in pages for function in page["Functions"]]
    return [key for key in FUNCTIONS if any(f"-{stack}-" in name and function_key(name) == key for name in names)]


def _round_trips(
    sandbox: Sandbox,
    architecture: str,
    make: Callable[[], Delivery],
    count: int,
    rate: float,
    expect: str,
    problems: list[str],
) -> list[float]:
    """``count`` round trips one after another, the n-th sent no earlier than n / ``rate`` s from the first."""
    seconds = []
    started = time.perf_counter()
    for index in range(count):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        response: Response = sandbox.send(architecture, make())
        if response.status != 202 or response.body.get("status") != expect:
            problems.append(f"expected 202 {expect}, got {response.status} {response.body}")
        seconds.append(response.seconds)
    return seconds


def children_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process's descendants: the live ones from /proc (the function
    processes stay warm), plus the ones already waited for. 0 where there is no /proc."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])  # after "pid (comm)": state, ppid, ..., utime (14th), stime (15th)
        times[pid] = (int(fields[11]) + int(fields[12])) / ticks
    descendants, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - descendants
        descendants |= frontier
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return sum(times[pid] for pid in descendants) + usage.ru_utime + usage.ru_stime


def _poller_stats(sandbox: Sandbox, architecture: str) -> dict[str, MappingStats]:
    """A copy of the stack's SQS pollers' counters (none in stepfunctions: no event source mapping)."""
    deployment = sandbox.stacks[architecture].deployment
    return {uuid: replace(stats) for uuid, stats in deployment.poller.stats.items()}


def _hops(sandbox: Sandbox, architecture: str) -> dict[str, str]:
    """Mapping uuid -> hop name: the function the mapping feeds (its queue is named after it)."""
    deployment = sandbox.stacks[architecture].deployment
    return {
        m.uuid: function_key(m.queue_url.rsplit("/", 1)[-1]) or m.queue_url for m in deployment.event_source_mappings
    }


def replay_problems(label: str, report: StackReport, sent: int) -> list[str]:
    """What went wrong in one replayed burst: deliveries not accepted, failed or parked, oracle differences."""
    problems = []
    if report.accepted != sent or report.failed or report.parked:
        problems.append(f"{label}: {report.accepted}/{sent} accepted, {report.failed} failed, parked {report.parked}")
    return problems + [f"{label}: {difference}" for difference in report.oracle_differences]


def _all_latencies(report: StackReport) -> list[float]:
    return [latency for event, _ in E2E_EVENTS for latency in report.latencies(event)]


def _receiver_invokes(records: Sequence[InvokeRecord]) -> list[float]:
    return [record.duration for record in records if function_key(record.function) == "receiver" and not record.cold]


class _Phases:
    """Calling it with a phase's name ends the previous phase (its seconds go to ``seconds``); "" ends the last."""

    def __init__(self, seconds: dict[str, float], on_phase: Callable[[str], None]) -> None:
        self._seconds, self._on_phase = seconds, on_phase
        self._current, self._started = "", time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        if self._current:
            self._seconds[self._current] = round(now - self._started, 2)
        self._current, self._started = name, now
        if name:
            self._on_phase(name)


def measure(
    sandbox: Sandbox,
    architecture: str,
    round_trips: int = ROUND_TRIPS,
    accepted_round_trips: int = ACCEPTED_ROUND_TRIPS,
    on_phase: Callable[[str], None] = lambda _: None,
) -> ArchitectureFigures:
    assert sandbox.aws is not None
    runtime = sandbox.aws.runtime
    seed = sandbox.seed
    figures = ArchitectureFigures(architecture, _settings(sandbox, architecture))
    phase = _Phases(figures.phase_seconds, on_phase)
    ignored_rate = IGNORED_RATE_SHARE * float(figures.settings["apiThrottlingRateLimit"])
    started = time.perf_counter()
    first_record = len(runtime.records())

    phase("cold starts: one delivery at a time")
    for delivery in (
        member_added(seed, seed.members[0]),
        workflow_run_completed(seed, seed.runs[0]),
        installation_created(seed),
    ):
        response = sandbox.send(architecture, delivery)
        if response.status != 202:
            figures.problems.append(f"{delivery.label}: {response.status} {response.body}")
        sandbox.wait_until_idle(timeout=IDLE_TIMEOUT)

    smallest_run = min(seed.runs, key=lambda run: len(run.jobs))

    def ping() -> Delivery:
        return ignored(seed, "ping", "with-organization")

    def run_completed() -> Delivery:
        return workflow_run_completed(seed, smallest_run)

    phase("warm-up")
    _round_trips(sandbox, architecture, ping, WARM_UP, ignored_rate, "ignored", figures.problems)
    _round_trips(sandbox, architecture, run_completed, WARM_UP, ACCEPTED_RATE, "accepted", figures.problems)
    sandbox.wait_until_idle(timeout=IDLE_TIMEOUT)

    phase(f"receiver: {round_trips} ignored round trips at {ignored_rate:g}/s")
    mark = len(runtime.records())
    figures.receiver_ignored = latency(
        _round_trips(sandbox, architecture, ping, round_trips, ignored_rate, "ignored", figures.problems)
    )
    figures.receiver_ignored_invoke = latency(_receiver_invokes(runtime.records()[mark:]))
    phase(f"receiver: {accepted_round_trips} accepted round trips at {ACCEPTED_RATE:g}/s")
    mark = len(runtime.records())
    figures.receiver_accepted = latency(
        _round_trips(
            sandbox, architecture, run_completed, accepted_round_trips, ACCEPTED_RATE, "accepted", figures.problems
        )
    )
    drain_started = time.perf_counter()
    sandbox.wait_until_idle(timeout=IDLE_TIMEOUT)
    figures.accepted_drain_s = time.perf_counter() - drain_started
    figures.receiver_accepted_invoke = latency(_receiver_invokes(runtime.records()[mark:]))

    phase("end to end: burst")
    sandbox.clear_tables()
    burst = [member_added(seed, person) for person in seed.members]
    burst += [workflow_run_completed(seed, run) for run in seed.runs]
    hops, stats_before = _hops(sandbox, architecture), _poller_stats(sandbox, architecture)
    report: StackReport = replay(cast(Sandbox, _OneStack(sandbox, architecture)), burst, timeout=IDLE_TIMEOUT)[
        architecture
    ]
    figures.batching = hop_batching(stats_before, _poller_stats(sandbox, architecture), hops)
    figures.end_to_end = {event: latency(report.latencies(event)) for event, _ in E2E_EVENTS}
    figures.end_to_end_all = latency(_all_latencies(report))
    figures.burst_deliveries = len(burst)
    figures.burst_seconds = report.seconds
    figures.events_per_second = events_per_second(len(burst), report.seconds)
    figures.problems += replay_problems("burst", report, len(burst))

    phase(f"throughput: {THROUGHPUT_DELIVERIES} deliveries")
    measure_throughput(sandbox, architecture, figures)
    phase(f"busy queue: {BUSY_DELIVERIES} workflow runs back to back")
    busy = [workflow_run_completed(seed, seed.runs[index % len(seed.runs)]) for index in range(BUSY_DELIVERIES)]
    stats_before = _poller_stats(sandbox, architecture)
    busy_report = replay(cast(Sandbox, _OneStack(sandbox, architecture)), busy, timeout=IDLE_TIMEOUT)[architecture]
    figures.busy_batching = hop_batching(stats_before, _poller_stats(sandbox, architecture), hops)
    if busy_report.accepted != len(busy) or busy_report.failed:
        figures.problems.append(f"busy queue: {busy_report.accepted}/{len(busy)} accepted, {busy_report.failed} failed")
    sandbox.clear_tables()
    figures.deployed = _deployed_functions(sandbox, architecture)
    figures.functions = {
        key: value
        for key, value in function_figures(runtime.records()[first_record:]).items()
        if key in figures.deployed
    }
    figures.problems += [f"{key}: {f.errors} function errors" for key, f in figures.functions.items() if f.errors]
    figures.problems += [
        f"{key}: deployed but never invoked" for key, f in figures.functions.items() if f.cold_start_s is None
    ]
    phase("")
    figures.seconds = time.perf_counter() - started
    return figures


def measure_throughput(sandbox: Sandbox, architecture: str, figures: ArchitectureFigures) -> None:
    """Section 4: the throughput burst, its deliveries per second and CPU per delivery (into ``figures``)."""
    assert sandbox.aws is not None
    seed = sandbox.seed
    sandbox.clear_tables()
    throughput = throughput_burst(seed)
    cpu_before, function_cpu_before = time.process_time(), children_cpu_seconds()

    def cpu_until_idle() -> None:  # first send -> idle, without the oracle and the table scans after it
        figures.cpu_per_delivery_s = {
            "sandbox": round((time.process_time() - cpu_before) / len(throughput), 4),
            "functions": round((children_cpu_seconds() - function_cpu_before) / len(throughput), 4),
        }

    report = replay(
        cast(Sandbox, _OneStack(sandbox, architecture)),
        throughput,
        timeout=IDLE_TIMEOUT,
        rate=THROUGHPUT_RATE_SHARE * float(figures.settings["apiThrottlingRateLimit"]),
        on_idle=cpu_until_idle,
    )[architecture]
    figures.throughput_deliveries = len(throughput)
    figures.throughput_seconds = report.seconds
    figures.throughput_per_second = events_per_second(len(throughput), report.seconds)
    figures.problems += replay_problems("throughput", report, len(throughput))


# --- printing ----------------------------------------------------------------------------------------


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _ms(value: float | None, decimals: int = 1) -> str:
    return "-" if value is None else f"{value * 1000:.{decimals}f} ms"


def _pair(first: float | None, second: float | None, unit: Callable[[float | None], str]) -> str:
    return f"{unit(first).removesuffix(' ms').removesuffix(' s')} / {unit(second)}"


def _table(first: str, names: Sequence[str]) -> Table:
    table = Table(title_justify="left")
    table.add_column(first, no_wrap=True)
    for name in names:
        table.add_column(name, justify="right")
    return table


def print_figures(
    console: Console,
    machine_info: Mapping[str, Any],
    time_scale: float,
    round_trips: int,
    accepted_round_trips: int,
    figures: Mapping[str, ArchitectureFigures],
    deploy_seconds: float,
) -> None:
    names = list(figures)
    console.print()
    console.print(
        f"[bold]Machine[/bold]: nproc {machine_info['nproc']}, {machine_info['cpu']}, "
        f"Python {machine_info['python']} ({machine_info['platform']})"
    )
    console.print(
        f"[bold]time_scale[/bold] {time_scale} (scales retry waits only; nothing is retried here). "
        f"Both stacks deployed in one sandbox in {deploy_seconds:.1f} s, then measured one "
        f"architecture at a time (the other idle): "
        + ", ".join(f"{name} {figures[name].seconds:.0f} s" for name in names)
        + "."
    )
    console.print(
        "[bold]Stack settings[/bold]: "
        + "; ".join(f"{name}: " + ", ".join(f"{k}={v}" for k, v in figures[name].settings.items()) for name in names)
    )

    console.print()
    console.print(
        "[bold]1. Cold start per function[/bold]: duration of the function's first invoke, in a freshly "
        "spawned process (process start + awslambdaric + handler import + handler), one delivery at "
        "a time with nothing else running. Warm: median duration of its invokes in a reused process "
        "over the whole bench (n); an sqs invoke handles a batch of up to sqsBatchSize records."
    )
    cold = _table("function", [f"{name} {part}" for name in names for part in ("cold", "warm (n)")])
    for key in FUNCTIONS:
        cells = []
        for name in names:
            f = figures[name].functions.get(key)
            if f is None:
                cells += ["not deployed", ""]
            else:
                cells += [_s(f.cold_start_s), f"{_ms(f.warm_invoke_p50_s, 0)} ({f.warm_invokes})"]
        cold.add_row(key, *cells)
    console.print(cold)

    console.print()
    console.print(
        f"[bold]2. Warm receiver latency[/bold]: client-side round trip of a signed webhook POST through "
        f"the stack's HTTP API (request out -> response in), one after another after {WARM_UP} warm-up "
        f"ones of each kind: {round_trips} pings, {accepted_round_trips} workflow_runs. ping: ignored "
        f"(signature check + parse, nothing dispatched), paced "
        f"at {IGNORED_RATE_SHARE:.0%} of apiThrottlingRateLimit. workflow_run completed: accepted (+ "
        f"SendMessage / StartExecution), paced at {ACCEPTED_RATE:g}/s while their processing runs on "
        f"the same cores. 'receiver invoke' is the function's own duration inside the round trip."
    )
    receiver = _table("p50 / p99", names)
    rows: list[tuple[str, Callable[[ArchitectureFigures], str]]] = [
        ("ping round trip", lambda f: _pair(f.receiver_ignored.p50_s, f.receiver_ignored.p99_s, _ms)),
        ("  receiver invoke", lambda f: _pair(f.receiver_ignored_invoke.p50_s, f.receiver_ignored_invoke.p99_s, _ms)),
        ("workflow_run round trip", lambda f: _pair(f.receiver_accepted.p50_s, f.receiver_accepted.p99_s, _ms)),
        ("  receiver invoke", lambda f: _pair(f.receiver_accepted_invoke.p50_s, f.receiver_accepted_invoke.p99_s, _ms)),
        ("max: ping / workflow_run", lambda f: _pair(f.receiver_ignored.max_s, f.receiver_accepted.max_s, _ms)),
        ("after the last: until idle", lambda f: _s(f.accepted_drain_s)),
    ]
    for label, cell in rows:
        receiver.add_row(label, *(cell(figures[name]) for name in names))
    console.print(receiver)

    console.print()
    burst = next(iter(figures.values())).burst_deliveries if figures else 0
    console.print(
        f"[bold]3. End to end[/bold]: the tables emptied, a burst of {burst} distinct deliveries (every "
        f"seeded member added, every seeded run completed, fresh delivery ids) sent back to back by one "
        f"client. Latency: sent -> last notification naming the delivery. Events per second: "
        f"deliveries / (first send -> stack idle)."
    )
    e2e = _table("", names)
    for event, label in E2E_EVENTS:
        e2e.add_row(
            f"{label}, p50 / p95",
            *(
                f"{_pair(lat.p50_s, lat.p95_s, _s)} (n={lat.n})"
                for lat in (figures[name].end_to_end.get(event) or latency([]) for name in names)
            ),
        )
    e2e.add_row(
        "all deliveries, p50 / p99",
        *(
            f"{_pair(figures[name].end_to_end_all.p50_s, figures[name].end_to_end_all.p99_s, _s)}"
            + (f" ({target_verdict(figures[name].end_to_end_all)})" if name == "sqs" else "")
            for name in names
        ),
    )
    e2e.add_row(
        "max",
        *(_s(max((lat.max_s or 0.0 for lat in figures[name].end_to_end.values()), default=None)) for name in names),
    )
    e2e.add_row("first send -> idle", *(_s(figures[name].burst_seconds) for name in names))
    e2e.add_row(
        "events per second",
        *(
            "-" if figures[name].events_per_second is None else f"{figures[name].events_per_second:.2f}"
            for name in names
        ),
    )
    console.print(e2e)
    if "sqs" in figures and figures["sqs"].batching:
        _print_batching(console, figures["sqs"])

    print_throughput(console, figures)
    print_problems(console, figures)


def print_throughput(console: Console, figures: Mapping[str, ArchitectureFigures]) -> None:
    names = list(figures)
    console.print()
    console.print(
        f"[bold]5. Throughput[/bold]: the tables emptied, {THROUGHPUT_DELIVERIES} distinct deliveries (seeded "
        f"members added and runs completed in turn, fresh ids) sent at {THROUGHPUT_RATE_SHARE:.0%} of "
        "apiThrottlingRateLimit. Deliveries per second: deliveries / (first send -> stack idle). CPU per "
        "delivery: the sandbox's own process (emulator, pollers, HTTP API, fake GitHub, client) and the "
        "function processes, from the first send until idle."
    )
    sustained = _table("", names)
    sustained.add_row("deliveries", *(str(figures[name].throughput_deliveries) for name in names))
    sustained.add_row("first send -> idle", *(_s(figures[name].throughput_seconds) for name in names))
    sustained.add_row(
        "deliveries per second",
        *(
            "-" if figures[name].throughput_per_second is None else f"{figures[name].throughput_per_second:.2f}"
            for name in names
        ),
    )
    for part in ("sandbox", "functions"):
        sustained.add_row(
            f"CPU per delivery: {part}",
            *(_ms(figures[name].cpu_per_delivery_s.get(part), 0) for name in names),
        )
    console.print(sustained)


def print_problems(console: Console, figures: Mapping[str, ArchitectureFigures]) -> None:
    names = list(figures)
    for name in names:
        problems = figures[name].problems
        for problem in problems[:10]:
            console.print(f"[red]{name}: {problem}[/red]")
        if len(problems) > 10:
            console.print(f"[red]{name}: ... and {len(problems) - 10} more[/red]")
    if not any(figures[name].problems for name in names):
        console.print("Every delivery answered as expected, no function error, both burst tables equal the oracle.")


def throughput_only(sandbox: Sandbox, architecture: str) -> ArchitectureFigures:
    """Only section 4, after one small burst that starts every function's processes (``--throughput-only``:
    a short run to profile the sandbox under load, e.g. with py-spy)."""
    figures = ArchitectureFigures(architecture, _settings(sandbox, architecture))
    started = time.perf_counter()
    warm_up = [member_added(sandbox.seed, person) for person in sandbox.seed.members]
    warm_up += [workflow_run_completed(sandbox.seed, run) for run in sandbox.seed.runs]
    replay(cast(Sandbox, _OneStack(sandbox, architecture)), warm_up, timeout=IDLE_TIMEOUT)
    measure_throughput(sandbox, architecture, figures)
    figures.seconds = time.perf_counter() - started
    return figures


def target_verdict(lat: Latency) -> str:
    """Whether the sqs burst meets the latency targets: ``target p50 <= 1.0 s, p99 <= 2.5 s: met``."""
    met = (
        lat.p50_s is not None
        and lat.p99_s is not None
        and lat.p50_s <= SQS_LATENCY_TARGETS["p50"]
        and lat.p99_s <= SQS_LATENCY_TARGETS["p99"]
    )
    return f"target p50 <= {SQS_LATENCY_TARGETS['p50']:g} s, p99 <= {SQS_LATENCY_TARGETS['p99']:g} s: " + (
        "met" if met else "NOT met"
    )


def _print_batching(console: Console, sqs: ArchitectureFigures) -> None:
    console.print()
    console.print(
        f"[bold]4. sqs batching per hop[/bold] (sqsBatchSize {sqs.settings.get('sqsBatchSize')}, "
        f"sqsBatchWindowSeconds {sqs.settings.get('sqsBatchWindowSeconds')}): invokes, records, records per "
        f"invoke (largest batch so far) during the burst of {sqs.burst_deliveries} and during a busy-queue "
        f"burst of {BUSY_DELIVERIES} workflow_run completions sent back to back (the seeded runs again "
        f"and again, fresh delivery ids: a run stored once is not notified again, so no latency there)."
    )
    table = _table("hop (function fed)", [f"burst of {sqs.burst_deliveries}", f"busy: {BUSY_DELIVERIES}"])

    def cell(hop: HopBatching | None) -> str:
        if hop is None or hop.records_per_invoke is None:
            return "-"
        return f"{hop.invokes} / {hop.records} / {hop.records_per_invoke:.2f} ({hop.largest})"

    for name in sorted(set(sqs.batching) | set(sqs.busy_batching)):
        table.add_row(name, cell(sqs.batching.get(name)), cell(sqs.busy_batching.get(name)))
    console.print(table)


def bench(console: Console, architectures: Sequence[str], time_scale: float, only_throughput: bool = False) -> int:
    info = machine()
    cold = None
    if not only_throughput:
        with console.status("Cold starts as Lambda pays them") as status:
            cold = cold_start.measure(on_step=lambda step: status.update(f"Cold starts: {step}"))
        console.print()
        cold_start.print_figures(console, cold)
    sandbox = Sandbox(architectures, time_scale=time_scale)
    figures: dict[str, ArchitectureFigures] = {}
    try:
        started = time.perf_counter()
        with console.status("Starting the embedded AWS and the fake GitHub, deploying the Pulumi program") as status:
            sandbox.start(on_deployed=lambda name: status.update(f"Deployed {name}"))
        deploy_seconds = time.perf_counter() - started
        for name in architectures:
            with console.status(f"{name}") as status:
                figures[name] = (
                    throughput_only(sandbox, name)
                    if only_throughput
                    else measure(sandbox, name, on_phase=lambda phase, n=name: status.update(f"{n}: {phase}"))
                )
            console.print(f"Measured {name} in {figures[name].seconds:.1f} s")
        tuning = None
        if not only_throughput:
            with console.status("power tuning") as status:
                tuning = power_tuning(sandbox, architectures, on_step=status.update)
    finally:
        with console.status("Stopping the sandbox"):
            sandbox.stop()
    if only_throughput:
        print_throughput(console, figures)
        print_problems(console, figures)
    else:
        print_figures(console, info, time_scale, ROUND_TRIPS, ACCEPTED_ROUND_TRIPS, figures, deploy_seconds)
        if tuning is not None:
            print_power_tuning(console, tuning)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    document = to_json(info, time_scale, ROUND_TRIPS, ACCEPTED_ROUND_TRIPS, figures)
    document["deploy_seconds"] = deploy_seconds
    if cold is not None:
        document["cold_start_import"] = cold.to_json()
    if tuning is not None:
        document["power_tuning"] = tuning.to_json()
    OUTPUT.write_text(json.dumps(document, indent=2) + "\n")
    shown = OUTPUT.relative_to(Path.cwd()) if OUTPUT.is_relative_to(Path.cwd()) else OUTPUT
    console.print(f"Figures written to {shown}")
    return 1 if any(f.problems for f in figures.values()) else 0
