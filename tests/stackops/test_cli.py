"""``python -m stackops compare``: its arguments, and what it writes from each source.

The meter, the AWS readers and the cost model are other parts of the command (tested in their own
modules); here they are replaced by functions that record how they were called and answer the
hand-made reports of report_inputs, so what is checked is the command's own work: which part it calls
with what, and the four files (and the doc) it writes from their answers.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from stackops import aws_usage, bill, cli, cost_model, observability_meter, sandbox_meter
from stackops.cost import CostReport
from stackops.prices import load_prices
from stackops.report import END_MARKER, START_MARKER
from stackops.usage import UsageReport
from tests.stackops.report_inputs import cost_report, observability_report, usage_report

ROOT = Path(__file__).resolve().parents[2]


def _quiet() -> Console:
    return Console(file=io.StringIO())


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["--mix", "member_added=0.3,workflow_run=0.6"],
            "argument --mix: 'member_added=0.3,workflow_run=0.6': the shares add up to 0.9, not 1",
        ),
        (["--mix", "pull_request=1"], "argument --mix: 'pull_request=1' in 'pull_request=1': expected use case=share"),
        (
            ["--mix", "member_added=x"],
            "argument --mix: 'member_added=x' in 'member_added=x': a share is a number from 0 to 1",
        ),
        (["--mix", "member_added=0.5,member_added=0.5"], "argument --mix: 'member_added' appears twice"),
        (["--deliveries", "0"], "argument --deliveries: '0' is not a whole number of at least 1"),
        (["--deliveries", "ten"], "argument --deliveries: 'ten' is not a whole number of at least 1"),
        (["--lambda-ms", "-5"], "argument --lambda-ms: '-5' is not a whole number of at least 1"),
        (["--since", "30d"], "argument --since: only with --stack"),
        (["--stack", "dev", "--since", "3y"], "argument --since: '3y' is not a period"),
        (["--stack", "dev", "--deliveries", "5"], "argument --deliveries: 5 is for the sandbox only"),
        (["--stack", "dev", "--stack", "dev"], "argument --stack: 'dev' given twice"),
        (["--stack", "my.stack"], "argument --stack: 'my.stack' is not a stack name: letters, digits, - and _"),
        (["--region", "Mars"], "argument --region: 'Mars' is not an AWS region name, e.g. us-east-1"),
        (["--region", "eu-west-3"], "argument --region: no price table for region 'eu-west-3': one of us-east-1"),
    ],
)
def test_a_bad_argument_is_one_line_naming_it_and_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["compare", *argv])

    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"python -m stackops compare: error: {expected}"), err


@st.composite
def tenths_adding_up_to_10(draw: st.DrawFn) -> dict[str, int]:
    """Use cases with shares in tenths that add up to 1, built so (a filter rejects most draws and trips
    hypothesis' health check on a busy machine)."""
    names = draw(st.lists(st.sampled_from(cli.USE_CASES), min_size=1, unique=True))
    cuts = sorted(draw(st.lists(st.integers(0, 10), min_size=len(names) - 1, max_size=len(names) - 1)))
    bounds = [0, *cuts, 10]
    return {name: bounds[i + 1] - bounds[i] for i, name in enumerate(names)}


@given(tenths_adding_up_to_10())
def test_a_mix_whose_shares_add_up_to_1_reads_back(tenths: dict[str, int]) -> None:
    text = ",".join(f"{name}={count / 10}" for name, count in tenths.items())

    assert cli.mix_argument(text) == {name: count / 10 for name, count in tenths.items()}


@given(st.lists(st.integers(0, 10), min_size=1, max_size=3).filter(lambda tenths: sum(tenths) != 10))
def test_a_mix_whose_shares_do_not_add_up_to_1_is_refused(tenths: list[int]) -> None:
    text = ",".join(f"{name}={count / 10}" for name, count in zip(cli.USE_CASES, tenths, strict=False))

    with pytest.raises(argparse.ArgumentTypeError, match="the shares add up to"):
        cli.mix_argument(text)


class _Recorder:
    """A part of the command: records its calls, answers a fixed report."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        if "progress" in kwargs:  # the meter reports its phases
            for done in range(3):
                kwargs["progress"]("Sending deliveries", done + 1, 3)
        return self.answer


@pytest.fixture
def parts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, _Recorder]:
    recorders = {
        "meter_sandbox": _Recorder(usage_report()),
        "read_usage": _Recorder(
            usage_report().model_copy(update={"source": "aws", "period": "2026-11-01T00:00:00Z/2026-11-15T09:30:00Z"})
        ),
        "read_bill": _Recorder({"dev": {"AWS Lambda": 1.25}}),
        "price": _Recorder(cost_report()),
        "measure_observability": _Recorder(observability_report()),
    }
    monkeypatch.setattr(sandbox_meter, "meter_sandbox", recorders["meter_sandbox"])
    monkeypatch.setattr(cost_model, "price", recorders["price"])
    monkeypatch.setattr(observability_meter, "measure_observability", recorders["measure_observability"])
    monkeypatch.setattr(aws_usage, "read_usage", recorders["read_usage"])
    monkeypatch.setattr(bill, "read_bill", recorders["read_bill"])
    doc = tmp_path / "comparison.md"
    doc.write_text(f"intro\n{START_MARKER}\nold\n{END_MARKER}\nrest\n")
    monkeypatch.setattr(cli, "COMPARISON_DOC", doc)
    return recorders


def test_compare_on_the_sandbox_meters_prices_and_writes_the_report(
    parts: dict[str, _Recorder], tmp_path: Path
) -> None:
    out = tmp_path / "compare"
    argv = ["compare", "--deliveries", "7", "--mix", "member_added=0.3,workflow_run=0.7", "--out", str(out)]

    assert cli.main(argv, _quiet()) == 0

    ((_, metering),) = parts["meter_sandbox"].calls
    assert metering["deliveries"] == 7
    assert metering["command"] == "python -m stackops " + " ".join(argv)
    ((priced, pricing),) = parts["price"].calls
    assert priced == (usage_report(),)
    assert pricing == {"prices": load_prices("us-east-1"), "mix": {"member_added": 0.3, "workflow_run": 0.7}}
    assert not parts["read_usage"].calls and not parts["read_bill"].calls
    assert UsageReport.model_validate_json((out / "usage.json").read_text()) == usage_report()
    assert CostReport.model_validate_json((out / "cost.json").read_text()) == cost_report()
    assert (out / "report.html").stat().st_size > 0 and (out / "report.md").read_text().startswith("## Results")
    assert "old" in cli.COMPARISON_DOC.read_text()  # no --update-docs: the doc is left alone
    ((measured, _),) = parts["measure_observability"].calls
    assert measured == ("python -m stackops " + " ".join(argv),)
    assert json.loads((out / "observability.json").read_text())["measures"][0]["design"] == "sqs"
    assert "### Observability" in (out / "report.md").read_text()


def test_an_aws_duration_prices_every_lambda_invoke_at_it(parts: dict[str, _Recorder], tmp_path: Path) -> None:
    assert cli.main(["compare", "--lambda-ms", "120", "--out", str(tmp_path)], _quiet()) == 0
    ((_, pricing),) = parts["price"].calls
    assert pricing == {"prices": load_prices("us-east-1"), "lambda_billed_ms": 120.0}


def test_compare_against_an_account_reads_usage_and_bill_and_updates_the_doc(
    parts: dict[str, _Recorder], tmp_path: Path
) -> None:
    out = tmp_path / "compare"
    argv = ["compare", "--stack", "dev", "--stack", "dev-sfn", "--since", "2w", "--out", str(out), "--update-docs"]

    assert cli.main(argv, _quiet()) == 0

    ((stacks, reading),) = parts["read_usage"].calls
    assert stacks == (["dev", "dev-sfn"],)
    assert reading == {"since": timedelta(weeks=2), "command": "python -m stackops " + " ".join(argv)}
    # Cost Explorer's whole days: the day the window starts in, not the unfinished one it ends in
    assert parts["read_bill"].calls == [
        ((["dev", "dev-sfn"],), {"start": date(2026, 11, 1), "end": date(2026, 11, 15)})
    ]
    assert not parts["meter_sandbox"].calls and not parts["measure_observability"].calls
    assert "mix" not in parts["price"].calls[0][1]  # the cost model's own default mix
    written = json.loads((out / "cost.json").read_text())
    assert written["bill"] == {"dev": {"AWS Lambda": 1.25}}
    assert written["notes"][-1] == "The bill (Cost Explorer) covers the whole UTC days 2026-11-01 to 2026-11-14."
    doc = cli.COMPARISON_DOC.read_text()
    assert doc.startswith(f"intro\n{START_MARKER}\n## Results\n") and doc.endswith(f"{END_MARKER}\nrest\n")
    assert "| dev | AWS Lambda | $1.25 |" in doc


def test_the_account_is_read_over_30_days_unless_told(parts: dict[str, _Recorder], tmp_path: Path) -> None:
    cli.main(["compare", "--stack", "dev", "--out", str(tmp_path)], _quiet())

    assert parts["read_usage"].calls[0][1]["since"] == timedelta(days=30)


def test_a_mix_the_cost_model_refuses_is_a_bad_mix_argument(
    parts: dict[str, _Recorder], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(usage: UsageReport, **options: Any) -> CostReport:
        raise ValueError("mix: installation is not a use case every design has")

    monkeypatch.setattr(cost_model, "price", refuse)

    with pytest.raises(SystemExit) as stopped:
        cli.main(["compare", "--mix", "installation=1", "--out", str(tmp_path)], _quiet())

    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "python -m stackops compare: error: argument --mix: mix: installation is not a use case every design has\n"
    )
    assert not (tmp_path / "cost.json").exists()


def test_no_bill_is_a_note_and_the_report_is_still_written(
    parts: dict[str, _Recorder], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def inactive(stacks: list[str], **period: date) -> dict[str, dict[str, float]]:
        raise bill.BillError("Cost Explorer: the cost allocation tag 'github-automation:stack' is Inactive")

    monkeypatch.setattr(bill, "read_bill", inactive)

    assert cli.main(["compare", "--stack", "dev", "--out", str(tmp_path)], _quiet()) == 0

    assert capsys.readouterr().err == (
        "python -m stackops compare: no bill: Cost Explorer: the cost allocation tag "
        "'github-automation:stack' is Inactive\n"
    )
    written = json.loads((tmp_path / "cost.json").read_text())
    assert written["bill"] == {} and written["notes"][-1].startswith("No bill: Cost Explorer: the cost allocation")


def test_a_stack_that_cannot_be_read_is_one_line_and_exit_1(
    parts: dict[str, _Recorder], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(stacks: list[str], **options: object) -> UsageReport:
        raise RuntimeError("stack 'devv': no receiver function among its tagged resources")

    monkeypatch.setattr(aws_usage, "read_usage", missing)

    assert cli.main(["compare", "--stack", "devv", "--out", str(tmp_path)], _quiet()) == 1

    assert capsys.readouterr().err == (
        "python -m stackops compare: error: reading devv: stack 'devv': no receiver function among its tagged "
        "resources\n"
    )
    assert not (tmp_path / "usage.json").exists()


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("2026-11-01T00:00:00Z/2026-12-01T00:00:00Z", date(2026, 11, 1), date(2026, 12, 1)),
        ("2026-11-01T13:00:00Z/2026-12-01T09:30:00Z", date(2026, 11, 1), date(2026, 12, 1)),
        ("2026-12-01T01:00:00Z/2026-12-01T13:00:00Z", date(2026, 12, 1), date(2026, 12, 2)),  # 12h: one day
        ("2026-11-30T22:00:00-05:00/2026-12-01T10:00:00+00:00", date(2026, 12, 1), date(2026, 12, 2)),
    ],
)
def test_the_bill_is_asked_for_whole_utc_days(period: str, start: date, end: date) -> None:
    assert cli.bill_period(period) == (start, end)


def test_a_usage_period_that_is_not_two_times_is_refused() -> None:
    with pytest.raises(ValueError, match="usage period: 'last month' is not two ISO 8601 times"):
        cli.bill_period("last month")


def test_the_progress_callback_keeps_one_bar_named_by_the_last_stage() -> None:
    from rich.progress import Progress

    with Progress(console=_quiet()) as bar:
        progress = cli.progress_callback(bar)
        progress("deployed", 1, 10)
        progress("sqs: member_added x2", 2, 10)

        tasks = [(task.description, task.completed, task.total) for task in bar.tasks]

    assert tasks == [("sqs: member_added x2", 2, 10)]


def test_screenshot_refuses_a_missing_page_in_one_line(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "stackops", "screenshot", str(tmp_path / "nope.html"), str(tmp_path / "x.png")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "argument html:" in run.stderr and "nope.html" in run.stderr
