"""The GET /chargeback function against moto: the CLI's report as JSON, bad input a 400 naming it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions import chargeback_report
from functions.chargeback import ChargebackTable, monthly_report, report_json
from tests.functions.webhooks import FakeLambdaContext
from tests.stackops.chargeback_tables import TABLE, load_the_oracle, moto_runs_table

CONTEXT = FakeLambdaContext(function_name="chargeback-report")


def get(query: dict[str, str] | None) -> tuple[int, dict[str, Any]]:
    event: dict[str, Any] = {"version": "2.0", "routeKey": "GET /chargeback", "requestContext": {"requestId": "r-1"}}
    if query is not None:
        event["queryStringParameters"] = query
    answer = chargeback_report.handler(event, CONTEXT)
    assert answer["headers"] == {"content-type": "application/json"}
    return answer["statusCode"], json.loads(answer["body"])


@pytest.fixture
def report_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The function's table in moto after the sandbox workload, and its environment."""
    with moto_runs_table(monkeypatch) as client:
        load_the_oracle()
        monkeypatch.setenv("WORKFLOW_RUNS_TABLE", TABLE)
        monkeypatch.setattr(chargeback_report, "_client", None)  # the function makes its own client
        yield client


def test_the_month_is_the_cli_s_json(report_env: Any) -> None:
    status, body = get({"month": "2026-03"})

    assert status == 200
    expected = report_json(monthly_report("2026-03", ChargebackTable(report_env, TABLE).month_totals("2026-03")))
    assert body == expected
    assert [(r["repository"], r["costUsd"]) for r in body["repositories"]] == [
        ("octo-org/payments", "0.377"),
        ("octo-org/website", "0.006"),
    ]


def test_included_minutes_are_allocated_when_asked(report_env: Any) -> None:
    status, body = get({"month": "2026-03", "includedMinutes": "36"})

    assert status == 200 and body["includedMinutes"] == 36
    assert body["total"]["netCostUsd"] == "0.00"


def test_a_month_without_runs_is_an_empty_report(report_env: Any) -> None:
    status, body = get({"month": "2026-05"})
    assert status == 200 and body["repositories"] == [] and body["total"]["costUsd"] == "0.00"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (None, "month is required: ?month=YYYY-MM"),
        ({"month": ""}, "month is required: ?month=YYYY-MM"),
        ({"month": "2026-13"}, "'2026-13' is not a month: expected YYYY-MM, e.g. 2026-11"),
        ({"month": "2026-03", "includedMinutes": "-1"}, "includedMinutes='-1' is not a whole number of at least 0"),
    ],
)
def test_bad_input_is_a_400_naming_it(report_env: Any, query: dict[str, str] | None, message: str) -> None:
    assert get(query) == (400, {"message": message})
