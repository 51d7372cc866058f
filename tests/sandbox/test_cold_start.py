"""`make bench`'s cold-start figures (issue 9, section 1) from made-up samples: nothing is timed here."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from rich.console import Console

from components.catalog import ADD_TEAM_MEMBER, RECEIVER, STORE_RECORDS
from sandbox import cold_start
from sandbox.cold_start import ColdStart, ColdStartFigures, LayerDirs, LayerSize

DIRS = LayerDirs(Path("/lambda/task"), Path("/lambda/opt"), Path("/lambda/runtime"))


def test_the_pairs_alternate_which_one_goes_first() -> None:
    assert [cold_start.bare_first(pair) for pair in range(4)] == [True, False, True, False]


def test_the_ratio_is_the_median_of_the_pairs_ratios_not_the_ratio_of_medians() -> None:
    # the pairs' ratios are 3.0, 1.0, 1.2 (median 1.2); the medians' ratio would be 2.0 / 1.0
    figure = cold_start.cold_start([(1.0, 3.0), (2.0, 2.0), (1.0, 1.2)])
    assert figure.seconds == 2.0
    assert figure.bare_seconds == 1.0
    assert figure.ratio == pytest.approx(1.2)
    assert figure.pairs == 3


def test_a_slow_moment_of_the_machine_does_not_move_the_ratio() -> None:
    steady = [(0.2, 0.4)] * 6
    assert cold_start.cold_start([*steady, (2.0, 4.0)]).ratio == pytest.approx(2.0)


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError):
        cold_start.cold_start([])


def test_targets() -> None:
    assert cold_start.target("receiver") == 1.3
    assert cold_start.target("store-records") == 2.0


def test_the_path_is_lambdas_order_code_layer_runtime() -> None:
    assert cold_start.python_path(DIRS).split(os.pathsep) == ["/lambda/task", "/lambda/opt/python", "/lambda/runtime"]


def test_a_sample_gets_lambdas_environment_and_nothing_of_this_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "someone")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:5000")
    env = cold_start.sample_environment(RECEIVER, DIRS, Path("/lambda/home"))
    assert "AWS_PROFILE" not in env and "AWS_ENDPOINT_URL" not in env
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"  # /var/task and /opt are read-only
    assert env["LAMBDA_TASK_ROOT"] == "/lambda/task"  # the X-Ray SDK takes its Lambda context from it
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-") and "POWERTOOLS_TRACE_DISABLED" not in env
    assert env["AWS_XRAY_CONTEXT_MISSING"] and env["AWS_XRAY_DAEMON_ADDRESS"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"].endswith("-receiver")
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == str(RECEIVER.memory_mb)
    assert env["_HANDLER"] == "functions.receiver.handler"
    assert env["POWERTOOLS_SERVICE_NAME"] == "receiver"
    assert env["PYTHONPATH"] == cold_start.python_path(DIRS)


def test_each_function_gets_the_variables_the_stack_gives_it() -> None:
    receiver = cold_start.function_environment(RECEIVER)
    assert {"ONBOARDING_TARGET", "CHARGEBACK_TARGET", "BACKFILL_TARGET", "WEBHOOK_SECRET_ARN"} <= set(receiver)
    step = cold_start.function_environment(ADD_TEAM_MEMBER)
    assert {"NEXT_QUEUE_URL", "GITHUB_APP_SECRET_ARN", "GITHUB_ORG"} <= set(step)
    assert "ONBOARDING_TARGET" not in step
    assert cold_start.function_environment(STORE_RECORDS)["POWERTOOLS_SERVICE_NAME"] == "store-records"


def test_every_deployed_function_is_measured() -> None:
    keys = [spec.key for spec in cold_start.FUNCTIONS]
    assert keys == [
        "receiver",
        "add-team-member",
        "lookup-directory",
        "price-workflow-run",
        "list-org-members",
        "store-records",
    ]


def test_the_variants_go_from_the_old_layer_to_the_shipped_one() -> None:
    before, precompiled, shipped = cold_start.VARIANTS
    assert not before.precompiled and precompiled.precompiled and shipped.precompiled
    assert before.left_out == precompiled.left_out == ("boto3", "botocore", "s3transfer")
    assert set(shipped.left_out) > set(before.left_out)


def _figures() -> ColdStartFigures:
    figures = ColdStartFigures(python="3.13.0 (python3.13)", pairs=7)
    for name, factor in (("before", 4.0), ("shipped", 1.2)):
        figures.variants[name] = f"{name} layer"
        figures.layer_sizes[name] = LayerSize(10_000_000, 40_000_000, 1000)
        figures.functions[name] = {
            "receiver": ColdStart(0.25 * factor, 0.25, factor, 7),
            "store-records": ColdStart(0.5, 0.25, 2.0, 7),
        }
    return figures


def test_the_table_shows_seconds_ratios_and_layer_sizes() -> None:
    console = Console(record=True, width=200)
    cold_start.print_figures(console, _figures())
    text = console.export_text()
    assert "0.30 s (1.20x)" in text and "1.00 s (4.00x) !" in text  # ! marks a missed target
    assert "0.50 s (2.00x)" in text and "(2.00x) !" not in text
    assert "10.0 MB / 40.0 MB" in text


def test_the_figures_go_into_bench_json() -> None:
    document = json.loads(json.dumps(_figures().to_json()))
    assert document["functions"]["shipped"]["receiver"]["ratio"] == 1.2
    assert document["layer_sizes"]["before"] == {
        "zipped_bytes": 10_000_000,
        "unzipped_bytes": 40_000_000,
        "files": 1000,
    }
    assert document["targets"] == {"receiver": 1.3, "others": 2.0}


def test_the_githubkit_floor_is_a_row_of_its_own_without_a_target() -> None:
    figures = _figures()
    label = next(iter(cold_start.REFERENCES))
    figures.references = {name: {label: ColdStart(0.55, 0.25, 2.2, 7)} for name in figures.functions}
    console = Console(record=True, width=200)
    cold_start.print_figures(console, figures)
    (row,) = [line for line in console.export_text().splitlines() if label in line]
    assert "0.55 s (2.20x)" in row and "!" not in row
    assert json.loads(json.dumps(figures.to_json()))["references"]["shipped"][label]["ratio"] == 2.2


def test_a_sample_imports_the_task_roots_code_not_the_working_directorys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for where in ("task", "checkout"):
        (tmp_path / where).mkdir()
        (tmp_path / where / "probe.py").write_text(f"WHERE = {where!r}\n")
    monkeypatch.chdir(tmp_path / "checkout")
    env = {**os.environ, "LAMBDA_TASK_ROOT": str(tmp_path / "task"), "PYTHONPATH": str(tmp_path / "task")}
    cold_start.time_import(sys.executable, "import probe; assert probe.WHERE == 'task', probe.WHERE", env)


def test_a_sample_that_fails_to_import_is_an_error_naming_it() -> None:
    with pytest.raises(RuntimeError, match="No module named 'no_such_handler'"):
        cold_start.time_import(sys.executable, "import no_such_handler", dict(os.environ))


def test_the_table_shows_the_cpu_ratio_when_measured() -> None:
    figures = _figures()
    figures.functions["shipped"]["receiver"] = ColdStart(0.3, 0.25, 1.2, 7, cpu_seconds=0.2, cpu_ratio=1.1)
    console = Console(record=True, width=200)
    cold_start.print_figures(console, figures)
    assert "0.30 s (1.20x, cpu 1.10x)" in console.export_text()


def test_variants_share_another_checkouts_code(tmp_path: Path) -> None:
    (tmp_path / "checkout" / "functions").mkdir(parents=True)
    (tmp_path / "checkout" / "functions" / "__init__.py").write_text("")
    first = cold_start.function_code_dir(False, tmp_path / "work", tmp_path / "checkout")
    assert cold_start.function_code_dir(False, tmp_path / "work", tmp_path / "checkout") == first
    assert (first / "functions" / "__init__.py").exists()


def test_the_bare_handler_has_only_the_runtimes_packages_on_its_path() -> None:
    env = cold_start.sample_environment(RECEIVER, DIRS, Path("/lambda/home"))
    bare = cold_start.bare_environment(env, DIRS)
    assert bare["PYTHONPATH"] == "/lambda/runtime"
    assert {k: v for k, v in bare.items() if k != "PYTHONPATH"} == {k: v for k, v in env.items() if k != "PYTHONPATH"}
