"""`python -m sandbox run | up | bench`: the product on a laptop, no AWS account, no GitHub, no network.

- run:   deploy an sqs and a stepfunctions stack into the embedded AWS, replay a workload made from the
         webhook fixtures to both, wait until it is processed, print both side by side, and exit.
- up:    deploy both and keep them running; print the webhook URLs and AWS_ENDPOINT_URL until Ctrl-C
         (`up --workload`: replay `run`'s workload to both first, e.g. for `python -m stackops chargeback`).
- bench: cold starts, warm receiver latency, end-to-end latency and events per second per architecture, and
         memory per function after a power-tuning sweep (`bench --power-tuning`: the sweep alone).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sandbox.environment import ARCHITECTURES, Sandbox
from sandbox.replay import replay
from sandbox.report import print_report
from sandbox.workload import sandbox_workload
from stackops.stack_outputs import write_sandbox_outputs

#: Where `python -m sandbox` writes the emulator's and the runtime's own logs.
LOG_FILE = Path("build") / "sandbox" / "sandbox.log"
#: Step Functions Retry waits and SQS retry visibility run this much faster than configured.
DEFAULT_TIME_SCALE = 0.01


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("run", "up", "bench"))
    parser.add_argument(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        help="factor on retry waits (Step Functions Retry, SQS visibility) [%(default)s]",
    )
    parser.add_argument(
        "--architecture",
        choices=ARCHITECTURES,
        action="append",
        help="deploy only this architecture (repeatable; default: both)",
    )
    parser.add_argument(
        "--workload",
        action="store_true",
        help="up: replay the workload of `run` to every stack before waiting (the tables then hold its runs)",
    )
    parser.add_argument(
        "--throughput-only",
        action="store_true",
        help="bench: only the throughput burst (section 4), e.g. to profile the sandbox under load",
    )
    parser.add_argument(
        "--power-tuning",
        action="store_true",
        help="bench: only the memory sweep (sandbox/power_tuning.py), into build/bench.json's power_tuning",
    )
    options = parser.parse_args(argv)
    console = Console()
    log_file = log_to_file(LOG_FILE)
    architectures = tuple(options.architecture or ARCHITECTURES)
    if options.command == "bench" and options.power_tuning:
        from sandbox.power_tuning import bench_power_tuning

        return bench_power_tuning(console, architectures, options.time_scale)
    if options.command == "bench":
        from sandbox.bench import bench

        return bench(console, architectures, options.time_scale, only_throughput=options.throughput_only)
    sandbox = _start(console, architectures, options.time_scale)
    try:
        if options.command == "run":
            return run(console, sandbox, log_file)
        return up(console, sandbox, workload=options.workload)
    finally:
        with console.status("Stopping the sandbox"):
            sandbox.stop()


def _start(console: Console, architectures: tuple[str, ...], time_scale: float) -> Sandbox:
    sandbox = Sandbox(architectures, time_scale=time_scale)
    started = time.perf_counter()
    with console.status("Starting the embedded AWS and the fake GitHub, deploying the Pulumi program") as status:
        sandbox.start(on_deployed=lambda name: status.update(f"Deployed {name}; deploying the next stack"))
    console.print(
        f"Deployed {', '.join(architectures)} in {time.perf_counter() - started:.1f} s "
        f"(the real Pulumi program, under mocks that create each resource in the emulator)"
    )
    for name, stack in sandbox.stacks.items():
        unemulated = stack.deployment.unemulated
        if unemulated:
            console.print(f"  {name}: not emulated: " + ", ".join(f"{r.typ} {r.name}" for r in unemulated))
    return sandbox


def log_to_file(path: Path) -> Path:
    """The emulator's and the runtime's own logging (moto's engine logs every failed state with a traceback's
    worth of reprs) goes to ``path``, not into the report on the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return path


def run(console: Console, sandbox: Sandbox, log_file: Path | None = None) -> int:
    deliveries = sandbox_workload(sandbox.seed)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        sending = progress.add_task("Sending deliveries", total=len(deliveries) * len(sandbox.stacks))
        reports = replay(sandbox, deliveries, on_sent=lambda: progress.advance(sending))
    print_report(console, reports)
    if log_file is not None:
        console.print(f"The emulator's and the runtime's logs: {log_file}")
    failed_as_planned = all(r.failed == sum(d.expected == "failed" for d in deliveries) for r in reports.values())
    consistent = all(not r.oracle_differences for r in reports.values())
    return 0 if failed_as_planned and consistent else 1


def up(console: Console, sandbox: Sandbox, *, workload: bool = False) -> int:
    assert sandbox.aws is not None and sandbox.github is not None
    if workload:
        deliveries = sandbox_workload(sandbox.seed)
        with console.status(f"Replaying {len(deliveries)} deliveries to {', '.join(sandbox.stacks)}"):
            reports = replay(sandbox, deliveries)
        for name, report in reports.items():
            differences = (
                f"{len(report.oracle_differences)} differences" if report.oracle_differences else "no difference"
            )
            console.print(f"{name}: {len(deliveries)} deliveries replayed; tables against the oracle: {differences}")
    console.print(f"\nAWS_ENDPOINT_URL={sandbox.aws.endpoint_url}  (any access key; region us-east-1)")
    console.print(f"Fake GitHub: {sandbox.github.url}   webhook secret: {sandbox.webhook_secret}")
    for name, stack in sandbox.stacks.items():
        console.print(f"[bold]{name}[/bold] webhook URL: {stack.webhook_url}")
        for key, value in sorted(stack.exports.items()):
            if key != "webhookUrl":
                console.print(f"    {key}: {value}")
    # `python -m stackops trace|redrive --stack <name>` finds the running stacks here (stackops/stack_outputs.py).
    files = [
        write_sandbox_outputs(stack.deployment.stack, stack.exports, sandbox.aws.endpoint_url, "us-east-1")
        for stack in sandbox.stacks.values()
    ]
    names = " | ".join(stack.deployment.stack for stack in sandbox.stacks.values())
    console.print("\nTry: AWS_ENDPOINT_URL=... aws dynamodb scan --table-name <membersTable>;  Ctrl-C stops.")
    console.print(f"     python -m stackops trace <delivery-id> --stack {names}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a `kill` stops it as Ctrl-C does
    try:
        stop.wait()
    except KeyboardInterrupt:
        console.print("Stopping")
    finally:
        for path in files:
            path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
