"""The `chargeback` command: read the stack's outputs, query its table, print the month (or a repository's runs)."""

from __future__ import annotations

import argparse
import sys

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from functions.chargeback import ChargebackTable, monthly_report
from stackops.chargeback_view import render_report, render_runs
from stackops.stack_outputs import StackOutputs, StackOutputsError, load


def _fail(message: str, status: int = 2) -> int:
    print(f"python -m stackops chargeback: error: {message}", file=sys.stderr)
    return status


def open_table(outputs: StackOutputs) -> ChargebackTable:
    return ChargebackTable(outputs.client("dynamodb"), outputs.need("workflow_runs_table", "workflowRunsTable"))


def chargeback_command(options: argparse.Namespace, console: Console) -> int:
    try:
        outputs = load(options.stack)
        table = open_table(outputs)
    except StackOutputsError as error:
        return _fail(str(error))
    if options.action == "reconcile":
        from stackops.reconcile_command import reconcile_command

        return reconcile_command(options, outputs, table, console)
    try:
        if options.repo:
            render_runs(options.repo, options.month, table.runs(options.repo, options.month), options.format, console)
        else:
            totals = table.month_totals(options.month)
            render_report(monthly_report(options.month, totals, options.included_minutes), options.format, console)
    except (BotoCoreError, ClientError) as error:
        return _fail(f"reading {options.stack}: {error}")
    return 0
