"""`chargeback`: the month's report and a repository's runs, read with Query only (every page) from moto.

The table is the program's (pk/sk, GSI period-index on period/pk) and holds what the oracle of the sandbox
workload says the stacks store; the figures are also checked by hand (the fake's seeded runs).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
import pytest
from rich.console import Console

from functions import records
from functions.chargeback import ChargebackTable, RepositoryTotal, monthly_report
from stackops import chargeback_command, cli
from stackops.chargeback_view import render_report
from stackops.stack_outputs import StackOutputs
from tests.stackops.chargeback_tables import REGION, TABLE, QueryOnly, stack_outputs


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, runs_table: Any) -> StackOutputs:
    """`--stack dev` resolves to the moto table (the CLI's own load of the outputs is tested in test_trace_cli)."""
    outputs = stack_outputs()
    monkeypatch.setattr(chargeback_command, "load", lambda name: outputs)
    return outputs


def oracle_month(oracle: Any, month: str) -> dict[str, dict[str, Any]]:
    return {
        items[0]["repository"]: items[0]
        for (pk, sk), items in oracle.workflow_runs.items()
        if sk == records.month_sk(month)
    }


def test_the_report_is_the_oracle_s_totals_to_the_cent(sandbox_tables: Any, runs_table: Any) -> None:
    client = QueryOnly(runs_table)

    report = monthly_report("2026-03", ChargebackTable(client, TABLE).month_totals("2026-03"))

    expected = oracle_month(sandbox_tables, "2026-03")
    assert [line.total.repository for line in report.lines] == sorted(expected)
    for line in report.lines:
        want = expected[line.total.repository]
        assert (line.total.runs, line.total.billable_minutes, line.total.estimated_jobs) == (
            want["runs"],
            want["billableMinutes"],
            want["estimatedJobs"],
        )
        assert line.total.cost_usd == want["costUsd"]
    # by hand (sandbox/fake_github.py): payments 9001 $0.265 + 9002 $0.112; website's unknown runner 1 min
    payments, website = report.lines
    assert (payments.total.runs, payments.total.billable_minutes, payments.total.cost_usd) == (2, 35, Decimal("0.377"))
    assert (website.total.runs, website.total.billable_minutes, website.total.cost_usd) == (1, 1, Decimal("0.006"))
    assert payments.share == Decimal("0.377") / Decimal("0.383")
    assert [request.get("IndexName") for request in client.queries] == ["period-index"]


def test_the_cli_prints_the_month_as_json_csv_and_a_table(
    sandbox_tables: Any, stack: StackOutputs, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["chargeback", "--stack", "dev", "--month", "2026-03", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [
        (r["repository"], r["runs"], r["billableMinutes"], r["costUsd"], r["share"]) for r in report["repositories"]
    ] == [
        ("octo-org/payments", 2, 35, "0.377", "0.9843"),
        ("octo-org/website", 1, 1, "0.006", "0.0157"),
    ]
    assert report["total"] == {"runs": 3, "billableMinutes": 36, "costUsd": "0.383", "estimatedJobs": 2}
    assert report["includedMinutes"] is None and "not allocated" in report["allocation"]

    assert cli.main(["chargeback", "--stack", "dev", "--month", "2026-03", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "repository,runs,minutes,billableMinutes,costUsd,estimatedJobs,share",
        "octo-org/payments,2,65,35,0.377,1,0.9843",
        "octo-org/website,1,6,1,0.006,1,0.0157",
    ]

    console = Console(width=140, record=True)
    assert cli.main(["chargeback", "--stack", "dev", "--month", "2026-03"], console=console) == 0
    text = console.export_text()
    assert "octo-org/payments" in text and "$0.38" in text and "98.4%" in text
    assert "$0.01" in text and "Included minutes: not allocated" in text


def test_a_repository_s_runs_are_listed_for_the_month_only(
    sandbox_tables: Any, stack: StackOutputs, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["chargeback", "--stack", "dev", "--month", "2026-03", "--repo", "octo-org/payments", "--format", "json"]
    assert cli.main(argv) == 0

    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [(run["runId"], run["runAttempt"], run["billableMinutes"], run["costUsd"]) for run in runs] == [
        (9001, 1, 23, "0.265"),
        (9002, 2, 12, "0.112"),
    ]  # not January's nightly 8001 nor April's matrix 9003


def test_a_month_with_no_runs_is_an_empty_report_not_an_error(
    sandbox_tables: Any, stack: StackOutputs, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["chargeback", "--stack", "dev", "--month", "2026-05", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["repositories"] == [] and report["total"]["costUsd"] == "0.00"

    assert cli.main(["chargeback", "--stack", "dev", "--month", "2026-05", "--format", "csv"]) == 0
    assert capsys.readouterr().out == "repository,runs,minutes,billableMinutes,costUsd,estimatedJobs,share\n"

    console = Console(width=120, record=True)
    assert cli.main(["chargeback", "--stack", "dev", "--month", "2026-05"], console=console) == 0
    assert "No workflow runs are booked to 2026-05." in console.export_text()


def test_every_page_is_read_past_1_mb(runs_table: Any) -> None:
    """Run items with large job lists (as a 256-job matrix stores them) and padded totals: each Query
    answers 1 MB at most, so both reads take several pages and must follow LastEvaluatedKey."""
    job = {"id": 1, "name": "x" * 200, "labels": ["ubuntu-latest"], "sku": "linux", "minutes": 1}
    jobs = json.dumps(
        [job | {"id": n, "billableMinutes": 1, "usdPerMinute": "0.006", "costUsd": "0.006"} for n in range(60)]
    )
    runs = 150  # about 17 KB each: 2.5 MB
    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
    with table.batch_writer() as batch:
        for run_id in range(runs):
            batch.put_item(
                Item={
                    "pk": "REPO#o/big",
                    "sk": records.run_sk(run_id, 1),
                    "repository": "o/big",
                    "runId": run_id,
                    "month": "2026-03",
                    "billableMinutes": 60,
                    "costUsd": Decimal("0.36"),
                    "jobs": jobs,
                }
            )
        for n in range(120):  # 120 repositories' totals of about 10 KB each: 1.2 MB in the index
            batch.put_item(
                Item={
                    "pk": f"REPO#o/r{n:03d}",
                    "sk": "MONTH#2026-03",
                    "period": "2026-03",
                    "repository": f"o/r{n:03d}",
                    "runs": 1,
                    "billableMinutes": 2,
                    "costUsd": Decimal("0.012"),
                    "note": "x" * 10_000,
                }
            )
    client = QueryOnly(runs_table)
    reader = ChargebackTable(client, TABLE)

    listed = reader.runs("o/big", "2026-03")
    run_pages = len(client.queries)
    totals = reader.month_totals("2026-03")

    assert len(listed) == runs and sum(run.cost_usd for run in listed) == Decimal("54.00")
    assert run_pages >= 3
    assert len(totals) == 120 and sum(total.cost_usd for total in totals) == Decimal("1.440")
    assert len(client.queries) - run_pages >= 2
    assert all("ExclusiveStartKey" in request for request in client.queries[1:run_pages])


def test_included_minutes_are_allocated_pro_rata_only_when_asked() -> None:
    totals = [
        RepositoryTotal("o/a", runs=3, minutes=30, billable_minutes=30, cost_usd=Decimal("0.180"), estimated_jobs=0),
        RepositoryTotal("o/b", runs=1, minutes=10, billable_minutes=10, cost_usd=Decimal("0.620"), estimated_jobs=0),
    ]

    gross = monthly_report("2026-03", totals)
    half = monthly_report("2026-03", totals, included_minutes=20)
    more_than_used = monthly_report("2026-03", totals, included_minutes=500)

    assert [line.net_cost_usd for line in gross.lines] == [Decimal("0.180"), Decimal("0.620")]
    assert [line.included_minutes for line in half.lines] == [Decimal(15), Decimal(5)]
    assert [line.net_cost_usd for line in half.lines] == [Decimal("0.090"), Decimal("0.310")]
    assert "20 allocated pro rata" in half.allocation and "(20 used this month)" in half.allocation
    assert [line.net_cost_usd for line in more_than_used.lines] == [Decimal(0), Decimal(0)]
    assert "(40 used this month)" in more_than_used.allocation
    console = Console(width=160, record=True)
    render_report(half, "table", console)
    text = console.export_text()
    assert "included min" in text and "$0.40" in text


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--month", "2026-13"], "argument --month: '2026-13' is not a month: expected YYYY-MM, e.g. 2026-11"),
        (["--month", "2026-1"], "argument --month: '2026-1' is not a month: expected YYYY-MM"),
        (["--month", "March"], "argument --month: 'March' is not a month: expected YYYY-MM"),
        (["--month", "2026-03", "--repo", "payments"], "argument --repo: 'payments' is not a repository"),
        (["--month", "2026-03", "--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["--month", "2026-03", "--included-minutes", "-5"], "argument --included-minutes: '-5' is not a whole"),
        ([], "the following arguments are required: --month"),
    ],
)
def test_bad_input_is_one_line_naming_the_value_and_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["chargeback", "--stack", "dev", *argv])

    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"python -m stackops chargeback: error: {expected}"), err


def test_outputs_without_the_table_say_to_redeploy(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old = StackOutputs(stack="dev", architecture="sqs", function_log_groups={"receiver": "/aws/lambda/r"})
    monkeypatch.setattr(chargeback_command, "load", lambda name: old)

    assert cli.main(["chargeback", "--stack", "dev", "--month", "2026-03"]) == 2
    err = capsys.readouterr().err
    assert (
        err == "python -m stackops chargeback: error: stack 'dev': its outputs have no workflowRunsTable; "
        "run `pulumi up` with this version first\n"
    )
