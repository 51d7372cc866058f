"""`chargeback reconcile`: GitHub's bill for the month (as the stack's App) against the stored chargeback.

Exit 0 when every difference is explained, 1 when one is not, 2 when GitHub's bill or the table cannot
be read (one line saying why; a 403 names the permission the App lacks).
"""

from __future__ import annotations

import argparse
import sys

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from functions.chargeback import ChargebackTable
from functions.pricing import rate_card
from stackops.github_billing import BillingError, app_client, read_usage
from stackops.reconcile import reconcile
from stackops.reconcile_view import render_reconciliation
from stackops.stack_outputs import StackOutputs, StackOutputsError


def reconcile_command(
    options: argparse.Namespace, outputs: StackOutputs, table: ChargebackTable, console: Console
) -> int:
    month = options.month
    try:
        github, org = app_client(outputs)
        items = read_usage(github, org, month)
        runs = {total.repository: table.runs(total.repository, month) for total in table.month_totals(month)}
    except (StackOutputsError, BillingError) as error:
        print(f"python -m stackops chargeback reconcile: error: {error}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as error:
        print(f"python -m stackops chargeback reconcile: error: reading {options.stack}: {error}", file=sys.stderr)
        return 2
    reconciliation = reconcile(month, org, items, runs, rate_card())
    render_reconciliation(reconciliation, options.format, console)
    return 1 if reconciliation.unexplained else 0
