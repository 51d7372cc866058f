"""`chargeback reconcile`: the stored month (moto, the oracle's tables) against the fake GitHub's bill.

The fake bills the seeded runs with its own price list (sandbox/fake_billing.py); each test changes its
bill the way one kind of difference would, and the reconciliation must find and explain it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
import respx
from rich.console import Console

from sandbox import fake_github as core
from sandbox.fake_billing import billing_usage_items
from sandbox.fake_github import API_URL, SANDBOX_ORG
from stackops import chargeback_command, cli
from stackops.github_billing import parse_usage, read_usage
from tests.stackops.chargeback_tables import REGION, stack_outputs

ORG = SANDBOX_ORG.org
BILLING = r"^/organizations/[^/]+/settings/billing/usage$"


@pytest.fixture(scope="module")
def app_key() -> core.AppKey:
    return core.AppKey.generate()


@pytest.fixture
def github(sandbox_tables: Any, app_key: core.AppKey, monkeypatch: pytest.MonkeyPatch) -> Iterator[core.FakeGitHub]:
    """The seeded fake GitHub on API_URL, the App's secret in moto, and `--stack dev` pointing at both."""
    from functions.common.github import _client_for

    fake = core.FakeGitHub.seeded(SANDBOX_ORG, app_key.public_key)
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="github-app",
        SecretString=json.dumps(
            {"appId": fake.app_id, "installationId": fake.installation_id, "privateKey": app_key.private_key_pem}
        ),
    )
    outputs = stack_outputs(
        github_org=ORG, github_api_url=API_URL, github_api_version="2022-11-28", github_app_secret_arn=secret["ARN"]
    )
    monkeypatch.setattr(chargeback_command, "load", lambda name: outputs)
    _client_for.cache_clear()
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=API_URL).mock(side_effect=core.httpx_handler(fake))
        yield fake
    _client_for.cache_clear()


def reconcile(month: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    status = cli.main(["chargeback", "reconcile", "--stack", "dev", "--month", month, "--format", "json"])
    return status, json.loads(capsys.readouterr().out)


def lines(result: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(line["repository"], line["sku"]): line for line in result["lines"]}


def test_a_month_where_everything_matches(github: core.FakeGitHub, capsys: pytest.CaptureFixture[str]) -> None:
    """April: the 101-job matrix, 101 min at $0.006, and no included minutes on the plan."""
    github.billing_usage[ORG] = billing_usage_items(SANDBOX_ORG, included_minutes=0)

    status, result = reconcile("2026-04", capsys)

    assert status == 0
    assert [(line["repository"], line["sku"], line["status"]) for line in result["lines"]] == [
        ("octo-org/payments", "linux", "match")
    ]
    (line,) = result["lines"]
    assert (line["githubMinutes"], line["storedMinutes"], line["githubGrossUsd"], line["storedCostUsd"]) == (
        "101",
        "101",
        "0.606",
        "0.606",
    )
    (request,) = github.calls(BILLING)
    assert request.query == "year=2026&month=4" and request.api_version == "2022-11-28"


def test_a_run_started_at_the_old_rate_the_day_before_is_no_rate_change(
    github: core.FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    """January: the nightly started on 2025-12-31 (at $0.008) and completed on 2026-01-01 (rate file: $0.006)."""
    github.billing_usage[ORG] = billing_usage_items(SANDBOX_ORG, included_minutes=0)

    status, result = reconcile("2026-01", capsys)

    assert status == 0 and [line["status"] for line in result["lines"]] == ["match"]


def test_each_kind_of_difference_is_found_and_explained(
    github: core.FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    """March as the fake bills it (the GPU runner under a SKU the rate file lacks, 10 included minutes), plus
    a macOS price GitHub raised, and runs whose webhooks never came: in payments and in a repository the
    stack never heard of."""
    items = github.billing_usage[ORG]
    (macos,) = [i for i in items if i["sku"] == "macos" and i["date"] == "2026-03-05"]
    macos.update(pricePerUnit=0.07, grossAmount=0.14, netAmount=0.14)  # 2 min; the rate file says $0.062
    never_arrived = {**macos, "date": "2026-03-25", "sku": "windows", "quantity": 7, "pricePerUnit": 0.01}
    items.append(never_arrived | {"grossAmount": 0.07, "netAmount": 0.07})
    other_repo = never_arrived | {"repositoryName": f"{ORG}/infra", "sku": "linux", "quantity": 3}
    items.append(other_repo | {"pricePerUnit": 0.006, "grossAmount": 0.018, "netAmount": 0.018})

    status, result = reconcile("2026-03", capsys)

    assert status == 0, result
    by_row = lines(result)
    kinds = {row: line["explainedBy"] for row, line in by_row.items()}
    assert kinds == {
        ("octo-org/infra", "linux"): "missing_runs",
        ("octo-org/payments", "linux"): "included_minutes",
        ("octo-org/payments", "linux_2_core_arm"): "",
        ("octo-org/payments", "linux_4_core_gpu"): "unknown_sku",
        ("octo-org/payments", "macos"): "rate_change",
        ("octo-org/payments", "windows"): "missing_runs",
        ("octo-org/website", "linux_4_core_gpu"): "unknown_sku",
    }
    assert by_row[("octo-org/payments", "linux_2_core_arm")]["status"] == "match"

    def explanation(row: tuple[str, str]) -> dict[str, Any]:
        (only,) = by_row[row]["explanations"]
        return only

    gpu = explanation(("octo-org/payments", "linux_4_core_gpu"))
    assert (gpu["minutes"], gpu["amountUsd"]) == ("5", "0.26")
    assert "org-gpu-large" in gpu["text"] and "estimated at the linux rate ($0.03)" in gpu["text"]
    rate = explanation(("octo-org/payments", "macos"))
    assert rate["amountUsd"] == "0.016" and "$0.07/min" in rate["text"] and "$0.062" in rate["text"]
    missing = explanation(("octo-org/payments", "windows"))
    assert (missing["minutes"], missing["amountUsd"]) == ("7", "0.07")
    assert by_row[("octo-org/payments", "windows")]["storedMinutes"] == "14"
    assert explanation(("octo-org/infra", "linux"))["minutes"] == "3"
    included = explanation(("octo-org/payments", "linux"))
    assert included["amountUsd"] == "0.06" and "(10 min)" in included["text"]
    assert by_row[("octo-org/payments", "linux")]["githubNetUsd"] == "0.018"  # 13 min $0.078 less $0.06
    assert result["total"]["unexplainedUsd"] == "0.00"
    # the table says the same for a person
    console = Console(width=200, record=True)
    assert cli.main(["chargeback", "reconcile", "--stack", "dev", "--month", "2026-03"], console=console) == 0
    text = console.export_text()
    assert "0 unexplained" in text and "octo-org/infra linux: GitHub bills 3 min ($0.018) no stored run" in text


def test_what_cannot_be_explained_is_said_and_exits_1(
    github: core.FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    """GitHub bills no arm minutes where a run stored one, and charges more for windows than its minutes
    at any rate: neither is a missing run, a rate file gap or a discount."""
    items = github.billing_usage[ORG]
    items[:] = [i for i in items if i["sku"] != "linux_2_core_arm"]
    (windows,) = [i for i in items if i["sku"] == "windows" and i["date"] == "2026-03-20"]
    windows.update(quantity=11, grossAmount=0.5, netAmount=0.5)

    status, result = reconcile("2026-03", capsys)

    assert status == 1
    by_row = lines(result)
    arm = by_row[("octo-org/payments", "linux_2_core_arm")]
    assert (arm["status"], arm["unexplainedMinutes"], arm["unexplainedUsd"]) == ("unexplained", "-1", "-0.005")
    assert by_row[("octo-org/payments", "windows")]["status"] == "unexplained"
    assert result["total"]["unexplainedLines"] == 2


def test_without_administration_read_the_app_is_refused_in_one_line(
    github: core.FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    github.fail("forbidden", times=None, path=BILLING)

    assert cli.main(["chargeback", "reconcile", "--stack", "dev", "--month", "2026-03"]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("python -m stackops chargeback reconcile: error: read the billing usage of octo-org")
    assert "GitHub answered 403" in err and "Administration: read" in err


def test_reconcile_takes_no_repo_nor_included_minutes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["chargeback", "reconcile", "--stack", "dev", "--month", "2026-03", "--repo", "o/r"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith("python -m stackops chargeback: error: argument --repo: not with")


def test_github_s_documented_example_is_read_exactly() -> None:
    """The response example of GitHub's docs: capitalised product and SKU, amounts as JSON numbers."""
    body = """{"usageItems": [{"date": "2023-08-01", "product": "Actions", "sku": "Actions Linux", "quantity": 100,
        "unitType": "minutes", "pricePerUnit": 0.008, "grossAmount": 0.8, "discountAmount": 0, "netAmount": 0.8,
        "organizationName": "GitHub", "repositoryName": "github/example"}]}"""

    (item,) = parse_usage(body)

    assert item.rate_file_sku == "linux" and item.repository("GitHub") == "github/example"
    assert (item.price_per_unit, item.gross_amount, item.net_amount) == (
        Decimal("0.008"),
        Decimal("0.8"),
        Decimal("0.8"),
    )


def test_the_org_goes_into_the_path_escaped() -> None:
    """githubkit formats the path with an f-string: the org must arrive as one escaped path segment."""
    seen: list[tuple[str, dict[str, int]]] = []

    class Billing:
        def get_github_billing_usage_report_org(self, org: str, **params: int) -> SimpleNamespace:
            seen.append((org, params))
            return SimpleNamespace(content=b'{"usageItems": []}')

    assert read_usage(SimpleNamespace(rest=SimpleNamespace(billing=Billing())), "a/../b", "2026-03") == []
    assert seen == [("a%2F..%2Fb", {"year": 2026, "month": 3})]
