"""The `trace` and `redrive` commands: read the stack's outputs, run, print for a person or as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from stackops.redrive import Redriver
from stackops.stack_outputs import StackOutputs, StackOutputsError, load
from stackops.trace import Tracer
from stackops.trace_view import render

#: What `trace` exits with: 0 the delivery succeeded, 1 it failed or is parked, 3 still running, 4 not found.
#: Logs and executions older than this are not looked at unless --since says so (14 days: DLQ retention).
TRACE_SINCE = timedelta(days=14)
EXIT_BY_OUTCOME = {"succeeded": 0, "failed": 1, "parked": 1, "running": 3, "not found": 4}


def _outputs(options: argparse.Namespace) -> StackOutputs | None:
    try:
        return load(options.stack)
    except StackOutputsError as error:
        print(f"python -m stackops {options.command}: error: {error}", file=sys.stderr)
        return None


def trace_command(options: argparse.Namespace, console: Console) -> int:
    outputs = _outputs(options)
    if outputs is None:
        return 2
    since = datetime.now(UTC) - (options.since or TRACE_SINCE)
    tracer = Tracer(outputs, logs_mode=options.logs, since_ms=int(since.timestamp() * 1000))
    try:
        trace = tracer.trace(options.delivery_id)
    except (BotoCoreError, ClientError) as error:
        print(f"python -m stackops trace: error: reading {options.stack}: {error}", file=sys.stderr)
        return 2
    if options.json:
        console.print_json(json.dumps(trace.to_json()))
    else:
        render(trace, console, full=options.full)
    return EXIT_BY_OUTCOME[trace.outcome]


def redrive_command(options: argparse.Namespace, console: Console) -> int:
    outputs = _outputs(options)
    if outputs is None:
        return 2
    since = None if options.delivery or options.since is None else datetime.now(UTC) - options.since
    try:
        done = Redriver(outputs, dry_run=options.dry_run).redrive(delivery_id=options.delivery, since=since)
    except (BotoCoreError, ClientError) as error:
        print(f"python -m stackops redrive: error: {options.stack}: {error}", file=sys.stderr)
        return 2
    if options.json:
        console.print_json(json.dumps([item.to_json() for item in done]))
        return 0
    if not done:
        which = f"delivery {options.delivery}" if options.delivery else "any failure in the period"
        console.print(f"Nothing to redrive on {options.stack} for {which}.")
        return 0
    table = Table(title=f"{'Would redrive' if options.dry_run else 'Redriven'} on {options.stack}")
    for column in ("how", "from", "to", "delivery", "detail"):
        table.add_column(column)
    for item in done:
        table.add_row(item.method, item.source, item.target, item.delivery_id or "", item.detail)
    console.print(table)
    return 0
