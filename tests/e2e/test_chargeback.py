"""`chargeback`, `chargeback reconcile` and `GET /chargeback` against a sandbox stack after the `make run` workload.

The report must be the oracle's totals to the cent, read from the stack the program deployed (its outputs,
its table in the embedded AWS); reconcile reads the fake GitHub's bill as the stack's App, over loopback;
the stack's IAM-authorized route answers the same report to a SigV4-signed request, and 403 to others.
"""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from functions import records
from functions.chargeback import cents
from sandbox.environment import Sandbox
from sandbox.replay import StackReport, replay
from sandbox.workload import expected_tables, sandbox_workload
from stackops import chargeback_command, cli
from stackops.stack_outputs import StackOutputs

ARCHITECTURE = "sqs"


@pytest.fixture(scope="module")
def report(sandbox: Sandbox) -> StackReport:
    return replay(sandbox, sandbox_workload(sandbox.seed))[ARCHITECTURE]


@pytest.fixture
def stack(sandbox: Sandbox, report: StackReport, monkeypatch: pytest.MonkeyPatch) -> str:
    """`--stack <the sqs stack>`, its outputs as `python -m sandbox up` saves them."""
    assert sandbox.aws is not None and report.oracle_differences == []
    deployed = sandbox.stacks[ARCHITECTURE]
    outputs = StackOutputs.from_exports(
        deployed.deployment.stack, deployed.exports, sandbox.aws.endpoint_url, "us-east-1"
    )
    monkeypatch.setattr(chargeback_command, "load", lambda name: outputs)
    return outputs.stack


@pytest.mark.parametrize("month", ["2026-01", "2026-03", "2026-04"])
def test_the_report_is_the_oracle_s_to_the_cent(
    sandbox: Sandbox, stack: str, month: str, capsys: pytest.CaptureFixture[str]
) -> None:
    oracle = expected_tables(sandbox.seed, sandbox_workload(sandbox.seed))

    assert cli.main(["chargeback", "--stack", stack, "--month", month, "--format", "json"]) == 0

    printed = json.loads(capsys.readouterr().out)
    expected = sorted(
        (items[0]["repository"], items[0]["runs"], items[0]["billableMinutes"], cents(items[0]["costUsd"]))
        for (_, sk), items in oracle.workflow_runs.items()
        if sk == records.month_sk(month)
    )
    got = [
        (r["repository"], r["runs"], r["billableMinutes"], cents(Decimal(r["costUsd"])))
        for r in printed["repositories"]
    ]
    assert got == expected and got


def test_reconcile_explains_every_difference_with_the_fake_s_bill(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["chargeback", "reconcile", "--stack", stack, "--month", "2026-03", "--format", "json"])

    result = json.loads(capsys.readouterr().out)
    assert status == 0, result
    assert {(line["repository"], line["sku"]): line["explainedBy"] for line in result["lines"]} == {
        ("octo-org/payments", "linux"): "included_minutes",
        ("octo-org/payments", "linux_2_core_arm"): "",
        ("octo-org/payments", "linux_4_core_gpu"): "unknown_sku",
        ("octo-org/payments", "macos"): "",
        ("octo-org/payments", "windows"): "",
        ("octo-org/website", "linux_4_core_gpu"): "unknown_sku",
    }


def _signed_get(url: str, secret: str = "sandbox") -> httpx.Response:
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("sandbox", secret), "execute-api", "us-east-1").add_auth(request)
    return httpx.get(url, headers=dict(request.headers.items()), timeout=30)


def test_get_chargeback_answers_a_signed_request_the_cli_s_report_and_refuses_others(
    sandbox: Sandbox, stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"{sandbox.stacks[ARCHITECTURE].exports['chargebackUrl']}?month=2026-03"
    assert cli.main(["chargeback", "--stack", stack, "--month", "2026-03", "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)

    signed = _signed_get(url)
    unsigned = httpx.get(url, timeout=30)
    wrong_secret = _signed_get(url, secret="not-the-secret")
    bad_month = _signed_get(url.replace("2026-03", "2026-13"))

    assert signed.status_code == 200, signed.text
    assert signed.json() == printed
    assert (unsigned.status_code, unsigned.json()) == (403, {"message": "Forbidden"})
    assert wrong_secret.status_code == 403 and "signature" in wrong_secret.json()["message"]
    assert bad_month.status_code == 400 and "'2026-13' is not a month" in bad_month.json()["message"]
