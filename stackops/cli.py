"""``python -m stackops compare | trace | redrive | chargeback | screenshot``.

compare     meter both architectures' usage, price it, and write usage.json, cost.json, report.html and
            report.md to --out. Without --stack it runs the workload through the sandbox stacks (sqs and
            stepfunctions, both workflow types); with --stack (repeatable) it reads those deployed stacks'
            usage from CloudWatch and their bill from Cost Explorer over --since.
trace       the path of one delivery through a stack, step by step (stackops/trace.py); --json for tools.
redrive     send a stack's parked work back: dead-letter queues (sqs), failed executions (stepfunctions),
            for one delivery or every failure since a time (stackops/redrive.py).
chargeback  per-repository GitHub Actions cost for a month, read from the stack's table (--repo: one
            repository's runs; --format table|csv|json; functions/chargeback.py). `chargeback reconcile`
            compares it with the org's bill from GitHub's billing usage report (stackops/reconcile.py).
screenshot  open a report.html in headless Chromium and write a PNG of it (the README's picture).
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, get_args

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from stackops.observability import ObservabilityReport
from stackops.periods import since_argument
from stackops.prices import load_prices
from stackops.usage import UsageReport, UseCase

DEFAULT_OUT = Path("build/compare")
DEFAULT_SINCE = "30d"
DEFAULT_REGION = "us-east-1"
#: The doc that embeds report.md between its markers (``--update-docs``).
COMPARISON_DOC = Path(__file__).resolve().parent.parent / "docs" / "comparison.md"

USE_CASES: tuple[str, ...] = get_args(UseCase)
#: The README's rule for stack names (every resource is named github-automation-<stack>-...).
_STACK_NAME = re.compile(r"[A-Za-z0-9_-]{1,22}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
#: A GitHub delivery id is a GUID; any id the receiver accepted is printable, without spaces, short.
_DELIVERY_ID = re.compile(r"[!-~]{1,200}")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (no usage block above it) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    """``--deliveries``: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def mix_argument(text: str) -> dict[str, float]:
    """``--mix member_added=0.3,workflow_run=0.7``: use case -> share of deliveries, shares adding up to 1."""
    allowed = f"use case=share pairs separated by commas (use cases: {', '.join(USE_CASES)}; shares add up to 1)"
    mix: dict[str, float] = {}
    for item in text.split(","):
        name, sep, share = item.strip().partition("=")
        if not sep or name not in USE_CASES:
            raise argparse.ArgumentTypeError(f"{item.strip()!r} in {text!r}: expected {allowed}")
        if name in mix:
            raise argparse.ArgumentTypeError(f"{name!r} appears twice in {text!r}: expected {allowed}")
        try:
            value = float(share)
        except ValueError:
            value = -1.0
        if not 0 <= value <= 1:
            raise argparse.ArgumentTypeError(f"{item.strip()!r} in {text!r}: a share is a number from 0 to 1")
        mix[name] = value
    total = sum(mix.values())
    if abs(total - 1) > 1e-9:
        raise argparse.ArgumentTypeError(f"{text!r}: the shares add up to {total:g}, not 1")
    return mix


def stack_argument(text: str) -> str:
    """``--stack dev``: a Pulumi stack name this program accepts."""
    if not _STACK_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a stack name: letters, digits, - and _, at most 22")
    return text


def delivery_argument(text: str) -> str:
    """``trace <delivery-id>``: the X-GitHub-Delivery of the webhook, e.g. 72d3162e-cc78-11e3-81ab-4c9367dc0958."""
    if not _DELIVERY_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a delivery id: 1-200 printable characters without spaces (the X-GitHub-Delivery header)"
        )
    return text


def whole_number(text: str) -> int:
    """``--included-minutes``: a whole number of at least 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 0")
    return value


def month_option(text: str) -> str:
    """``--month 2026-11``."""
    from functions.chargeback import month_argument

    try:
        return month_argument(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def repository_option(text: str) -> str:
    """``--repo owner/name``."""
    from functions.chargeback import repository_argument

    try:
        return repository_argument(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def region_argument(text: str) -> str:
    """``--region us-east-1``: a region the price table has prices for."""
    if not _REGION.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an AWS region name, e.g. us-east-1")
    try:
        load_prices(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m stackops", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    compare = commands.add_parser("compare", help="meter, price and report both architectures")
    compare.set_defaults(parser=compare)
    compare.add_argument(
        "--stack",
        action="append",
        type=stack_argument,
        help="a deployed stack to read from AWS (repeatable); none: the sandbox",
    )
    compare.add_argument(
        "--since", type=since_argument, help=f"with --stack: the period read, e.g. 12h, 30d, 2w [{DEFAULT_SINCE}]"
    )
    compare.add_argument("--deliveries", type=positive_int, help="sandbox: deliveries per use case [the meter's]")
    compare.add_argument(
        "--mix", type=mix_argument, help="the workload mix, e.g. member_added=0.3,workflow_run=0.7 [the cost model's]"
    )
    compare.add_argument(
        "--lambda-ms",
        type=positive_int,
        help="bill every Lambda invoke this many ms (your functions' duration on AWS) instead of the duration "
        "metered [metered: on the sandbox, this machine's, cold starts included]",
    )
    compare.add_argument("--region", type=region_argument, default=DEFAULT_REGION, help="prices of [%(default)s]")
    compare.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the report [%(default)s]")
    compare.add_argument(
        "--update-docs", action="store_true", help="embed report.md in docs/comparison.md between its markers"
    )
    trace = commands.add_parser("trace", help="what happened to one delivery, step by step")
    trace.set_defaults(parser=trace)
    trace.add_argument("delivery_id", type=delivery_argument, help="the delivery id (X-GitHub-Delivery)")
    _stack_options(trace)
    trace.add_argument("--json", action="store_true", help="print the trace as JSON instead of a table")
    trace.add_argument("--full", action="store_true", help="show inputs and outputs whole, not cut to a line")
    trace.add_argument(
        "--logs",
        choices=("auto", "insights", "filter"),
        default="auto",
        help="how to search the logs: Logs Insights, FilterLogEvents, or auto (Insights on AWS) [%(default)s]",
    )
    redrive = commands.add_parser("redrive", help="send parked deliveries back through their stack")
    redrive.set_defaults(parser=redrive)
    which = redrive.add_mutually_exclusive_group(required=True)
    which.add_argument("--delivery", type=delivery_argument, help="redrive this delivery only")
    which.add_argument("--all-failed", action="store_true", help="redrive every failure (since --since)")
    _stack_options(redrive)
    redrive.add_argument("--dry-run", action="store_true", help="say what would be redriven, redrive nothing")
    redrive.add_argument("--json", action="store_true", help="print what was redriven as JSON")
    _chargeback_parser(commands)
    shot = commands.add_parser("screenshot", help="a PNG of a report.html, drawn by headless Chromium")
    shot.set_defaults(parser=shot)
    shot.add_argument("html", type=Path, help="the report.html to open")
    shot.add_argument("png", type=Path, help="the PNG to write, e.g. docs/images/compare-report.png")
    shot.add_argument("--height", type=positive_int, help="only the page's top HEIGHT CSS pixels [the whole page]")
    return parser


def _chargeback_parser(commands: Any) -> None:
    chargeback = commands.add_parser(
        "chargeback",
        help="per-repository GitHub Actions cost for a month; `chargeback reconcile`: against GitHub's bill",
    )
    chargeback.set_defaults(parser=chargeback)
    chargeback.add_argument(
        "action", nargs="?", choices=("reconcile",), help="reconcile: compare with the org's bill from GitHub"
    )
    chargeback.add_argument(
        "--stack",
        type=stack_argument,
        required=True,
        help="the stack: a running sandbox's (`make up`: sandbox-sqs, sandbox-sfn) or a Pulumi stack's outputs",
    )
    chargeback.add_argument("--month", type=month_option, required=True, help="the month, YYYY-MM (UTC)")
    chargeback.add_argument("--repo", type=repository_option, help="list this repository's runs (owner/name)")
    chargeback.add_argument("--format", choices=("table", "csv", "json"), default="table", help="[%(default)s]")
    chargeback.add_argument(
        "--included-minutes",
        type=whole_number,
        help="the free minutes of the org's plan, allocated to repositories pro rata to billable minutes "
        "[not allocated]",
    )


def _stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        type=stack_argument,
        required=True,
        help="the stack: a running sandbox's (`make up`: sandbox-sqs, sandbox-sfn) or a Pulumi stack's outputs",
    )
    parser.add_argument(
        "--since",
        type=since_argument,
        help="how far back to look, e.g. 6h, 7d [trace: 14d; redrive --all-failed: everything parked]",
    )


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    options = parser.parse_args(arguments)
    console = console or Console()
    if options.command == "screenshot":
        return screenshot(options.parser, options, console)
    if options.command == "chargeback":
        from stackops.chargeback_command import chargeback_command

        if options.action == "reconcile" and (options.repo or options.included_minutes is not None):
            which = "--repo" if options.repo else "--included-minutes"
            options.parser.error(f"argument {which}: not with reconcile (it compares every repository, gross)")
        return chargeback_command(options, console)
    if options.command in ("trace", "redrive"):
        from stackops.operate import redrive_command, trace_command

        return (trace_command if options.command == "trace" else redrive_command)(options, console)
    _check_compare(options.parser, options)
    command = "python -m stackops " + shlex.join(arguments)
    return compare(options, command, console)


def _check_compare(parser: argparse.ArgumentParser, options: argparse.Namespace) -> None:
    """What argparse cannot check alone: which options go with which source."""
    if options.stack:
        if options.deliveries is not None:
            parser.error(f"argument --deliveries: {options.deliveries} is for the sandbox only (without --stack)")
        duplicates = sorted({s for s in options.stack if options.stack.count(s) > 1})
        if duplicates:
            parser.error(f"argument --stack: {duplicates[0]!r} given twice; name each stack once")
    elif options.since is not None:
        parser.error("argument --since: only with --stack (the sandbox meters its own workload, not a period)")


def compare(options: argparse.Namespace, command: str, console: Console) -> int:
    """Meter (sandbox or account), price, write the four files, optionally update the comparison doc."""
    from stackops.report import embed, write_report
    from stackops.summary import conclusion, render_markdown

    bill: dict[str, dict[str, float]] = {}
    bill_notes: list[str] = []
    observability: ObservabilityReport | None = None
    if options.stack:
        from botocore.exceptions import BotoCoreError, ClientError

        since = options.since or since_argument(DEFAULT_SINCE)
        try:
            usage, bill, bill_notes = _read_account(options.stack, since, command, console)
        except (RuntimeError, BotoCoreError, ClientError) as error:  # no credentials, no such stack, ...
            print(f"python -m stackops compare: error: reading {', '.join(options.stack)}: {error}", file=sys.stderr)
            return 1
    else:
        usage = _meter_sandbox(options.deliveries, command, console)
        observability = _measure_observability(command, console)
    pricing: dict[str, Any] = {"prices": load_prices(options.region)}
    if options.mix is not None:
        pricing["mix"] = options.mix
    if options.lambda_ms is not None:
        pricing["lambda_billed_ms"] = float(options.lambda_ms)
    from stackops.cost_model import price

    try:
        cost = price(usage, **pricing)
    except ValueError as error:  # the cost model refuses what it cannot price, in one line
        if str(error).startswith("mix:"):
            options.parser.error(f"argument --mix: {error}")
        print(f"python -m stackops compare: error: {error}", file=sys.stderr)
        return 1
    if options.stack:
        cost = cost.model_copy(update={"bill": bill, "notes": [*cost.notes, *bill_notes]})
    files = write_report(usage, cost, options.out, observability)
    for sentence in conclusion(usage, cost):
        console.print(f"• {sentence.replace('**', '')}", markup=False)
    console.print(f"Wrote {files.usage_json}, {files.cost_json}, {files.html}, {files.markdown}")
    if options.update_docs:
        changed = embed(render_markdown(usage, cost, observability=observability), COMPARISON_DOC)
        console.print(f"{'Updated' if changed else 'Unchanged'}: {COMPARISON_DOC.name}")
    return 0


def _meter_sandbox(deliveries: int | None, command: str, console: Console) -> UsageReport:
    from stackops.sandbox_meter import meter_sandbox

    metering: dict[str, Any] = {"command": command}
    if deliveries is not None:
        metering["deliveries"] = deliveries
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        return meter_sandbox(progress=progress_callback(bar), **metering)


def _measure_observability(command: str, console: Console) -> ObservabilityReport:
    from stackops.observability_meter import measure_observability

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        return measure_observability(command, progress=progress_callback(bar))


def progress_callback(bar: Progress) -> Callable[[str, int, int], None]:
    """The meter's ``progress(stage, done, total)``, called as each stage finishes: one bar, named by the stage."""
    task: TaskID | None = None

    def progress(stage: str, done: int, total: int) -> None:
        nonlocal task
        if task is None:
            task = bar.add_task(stage, total=total)
        bar.update(task, completed=done, total=total, description=stage)

    return progress


def _read_account(
    stacks: list[str], since: timedelta, command: str, console: Console
) -> tuple[UsageReport, dict[str, dict[str, float]], list[str]]:
    """The stacks' usage from CloudWatch and their bill from Cost Explorer; notes on the bill.

    No bill (the cost allocation tag not active yet, Cost Explorer refusing) is a note, not a failure:
    the usage alone makes the report.
    """
    from stackops.aws_usage import read_usage
    from stackops.bill import BillError, read_bill

    with console.status(f"Reading {', '.join(stacks)}: CloudWatch metrics over {since}"):
        usage = read_usage(stacks, since=since, command=command)
    start, end = bill_period(usage.period)
    days = f"the whole UTC days {start.isoformat()} to {(end - timedelta(days=1)).isoformat()}"
    try:
        with console.status(f"Reading the bill from Cost Explorer: {days}"):
            bill = read_bill(stacks, start=start, end=end)
    except BillError as error:
        print(f"python -m stackops compare: no bill: {error}", file=sys.stderr)
        return usage, {}, [f"No bill: {error}"]
    return usage, bill, [f"The bill (Cost Explorer) covers {days}."]


def bill_period(period: str) -> tuple[date, date]:
    """The whole days ``[start, end)`` Cost Explorer is asked for, from the usage's ``start/end`` window.

    Cost Explorer counts in UTC days and its ``End`` is exclusive: the day the window starts in is
    included, the unfinished day it ends in is not (at least one day is asked for).
    """
    first, _, last = period.partition("/")
    try:
        start = datetime.fromisoformat(first).astimezone(UTC).date()
        end = datetime.fromisoformat(last).astimezone(UTC).date()
    except ValueError:
        raise ValueError(f"usage period: {period!r} is not two ISO 8601 times separated by /") from None
    return start, max(end, start + timedelta(days=1))


def screenshot(parser: argparse.ArgumentParser, options: argparse.Namespace, console: Console) -> int:
    """Write the PNG; exit 1 when a chart drew nothing or there is no browser to draw with."""
    from stackops.browser import INSTALL_HINT, find_browser
    from stackops.browser import screenshot as take

    html: Path = options.html
    if not html.is_file():
        parser.error(f"argument html: {str(html)!r} is not a file (make compare writes build/compare/report.html)")
    browser = find_browser()
    if browser is None:
        console.print(f"No Chromium and chromedriver on PATH: install them ({INSTALL_HINT})", markup=False)
        return 1
    states = take(html, options.png, browser, height=options.height)
    empty = [state.id for state in states if state.marks == 0]
    console.print(
        f"Wrote {options.png}: {len(states)} charts drawn" + (f"; empty: {', '.join(empty)}" if empty else "")
    )
    return 1 if empty or not states else 0
