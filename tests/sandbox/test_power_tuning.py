"""The power-tuning sweep's figures (sandbox/power_tuning.py) from made-up durations: no sandbox here."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from rich.console import Console

from sandbox.lambda_runtime import FunctionConfig, LocalLambdaRuntime
from sandbox.power_tuning import (
    FunctionSweep,
    PowerTuning,
    SizeFigures,
    _PayloadRecorder,
    billed_ms,
    cheapest_within_bound,
    cost_per_million_usd,
    function_bound_s,
    print_power_tuning,
    recommendations,
    size_figures,
    sweep_sizes,
    within_bound,
    write_into_bench_json,
)
from stackops.prices import load_prices
from tests.sandbox.lambda_fixtures import probe_zip


def test_sizes_run_largest_first_so_the_first_is_not_the_current_configuration() -> None:
    assert sweep_sizes(256) == [1769, 1024, 512, 256, 128]
    assert sweep_sizes(300) == [1769, 1024, 512, 300, 256, 128]
    assert sweep_sizes(1769) == [128, 256, 512, 1024, 1769]  # current is the largest: smallest first
    assert sweep_sizes(2048) == [128, 256, 512, 1024, 1769, 2048]


@pytest.mark.parametrize(("seconds", "ms"), [(0.0231, 24), (0.023, 23), (0.0, 1), (1.0000001, 1001)])
def test_duration_is_billed_rounded_up_to_the_millisecond(seconds: float, ms: int) -> None:
    assert billed_ms(seconds) == ms


def test_a_million_invokes_cost_their_gb_seconds_at_the_arm64_price_plus_the_requests() -> None:
    prices = load_prices()
    gb_s_price = float(prices.entry("lambda", "gb_seconds", "arm64").tiers[0].usd)
    requests = float(prices.entry("lambda", "requests").tiers[0].usd)

    # 1M x 100 ms x 0.25 GB = 25,000 GB-s, within the first tier
    assert cost_per_million_usd(256, 100, prices) == pytest.approx(25_000 * gb_s_price + requests)
    assert cost_per_million_usd(512, 50, prices) == pytest.approx(cost_per_million_usd(256, 100, prices))


def _size(memory_mb: int, p50_s: float | None, cost: float | None, errors: int = 0) -> SizeFigures:
    return SizeFigures(memory_mb, memory_mb / 1769, 7, errors, p50_s, None, cost, False)


def test_the_bound_is_the_target_or_slack_over_the_fastest_when_even_that_is_slower() -> None:
    assert function_bound_s([_size(128, 0.6, 1.0), _size(1769, 0.1, 2.0)]) == 0.25
    assert function_bound_s([_size(128, 0.6, 1.0), _size(1769, 0.3, 2.0)]) == pytest.approx(0.375)
    # a size with errors does not count as the fastest
    assert function_bound_s([_size(128, 0.6, 1.0), _size(1769, 0.01, 2.0, errors=1)]) == pytest.approx(0.75)
    assert function_bound_s([]) == 0.25


def test_the_pick_is_the_cheapest_size_within_the_bound() -> None:
    sizes = within_bound(
        [
            _size(128, 0.6, 1.00),  # cheapest, too slow
            _size(256, 0.2, 1.20),
            _size(512, 0.1, 1.20),  # as cheap: the smaller memory wins
            _size(1024, 0.05, 2.00),
            _size(1769, 0.01, 0.50, errors=1),  # an error is never within the bound
        ],
        0.25,
    )
    assert [s.within_bound for s in sizes] == [False, True, True, True, False]
    assert cheapest_within_bound(sizes) == 256
    assert cheapest_within_bound(within_bound([_size(128, 0.6, 1.0)], 0.25)) is None


def test_size_figures_take_the_median_and_bill_it() -> None:
    figures = size_figures(256, [0.030, 0.0201, 0.5], errors=0, cores=2, prices=load_prices())
    assert (figures.p50_s, figures.billed_p50_ms, figures.invokes) == (0.030, 30, 3)
    assert figures.cost_per_million_usd == pytest.approx(cost_per_million_usd(256, 30, load_prices()))
    assert size_figures(256, [], errors=8, cores=2, prices=load_prices()).p50_s is None


def _sweep(architecture: str, function: str, pick: int | None, current: int = 256) -> FunctionSweep:
    sizes = [_size(m, 0.1, 1.0 if m == pick else 5.0) for m in (128, 256, 512)]
    sizes = [SizeFigures(**{**s.__dict__, "within_bound": s.memory_mb == pick}) for s in sizes]
    return FunctionSweep(architecture, function, f"x-{architecture}-{function}", current, sizes)


def test_one_catalog_memory_serves_both_architectures_so_the_larger_pick_is_recommended() -> None:
    sweeps = [
        _sweep("sqs", "receiver", 128),
        _sweep("stepfunctions", "receiver", 512),
        _sweep("sqs", "store-records", 128, current=128),
        _sweep("sqs", "lookup-directory", 256),
        _sweep("stepfunctions", "lookup-directory", None),
    ]
    by_key = {r.function: r for r in recommendations(sweeps)}

    assert (by_key["receiver"].recommended_mb, by_key["receiver"].differs) == (512, True)
    assert (by_key["store-records"].recommended_mb, by_key["store-records"].differs) == (128, False)
    assert by_key["lookup-directory"].recommended_mb is None  # no size within the bound in stepfunctions
    assert "add-team-member" not in by_key  # not swept


def test_unavailable_cpu_shares_print_one_line_and_the_json_says_why(tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    tuning = PowerTuning(False, reason="cgroups are Linux only (this is darwin)")

    print_power_tuning(console, tuning)

    assert "CPU shares are not available, so no power-tuning sweep: cgroups are Linux only" in console.export_text()
    output = tmp_path / "bench.json"
    output.write_text(json.dumps({"architectures": {"sqs": {}}}))
    write_into_bench_json(tuning, output)
    document = json.loads(output.read_text())
    assert document["architectures"] == {"sqs": {}}  # the rest of bench.json is kept
    assert document["power_tuning"]["available"] is False
    assert document["power_tuning"]["reason"].startswith("cgroups are Linux only")


def test_the_table_marks_the_pick_and_the_recommendation_against_the_catalog() -> None:
    console = Console(record=True, width=200)
    tuning = PowerTuning(True, cores=2, period_us=20_000, sweeps=[_sweep("sqs", "receiver", 128)])

    print_power_tuning(console, tuning)
    text = console.export_text()

    assert "sqs receiver (current 256 MB, bound 250 ms)" in text
    assert "128 MB *" in text and "256 MB *" not in text
    assert "128 MB (differs)" in text
    assert tuning.to_json()["sweeps"][0]["pick_mb"] == 128
    assert tuning.to_json()["recommendations"][0] | {"picks": None} == {
        "function": "receiver",
        "catalog_mb": 256,
        "picks": None,
        "recommended_mb": 128,
        "differs": True,
    }


def _probe_config(name: str, memory_size: int) -> FunctionConfig:
    code = probe_zip()
    return FunctionConfig(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler="probe.handler",
        code_zip=code,
        code_sha256=hashlib.sha256(code).hexdigest(),
        timeout=10,
        memory_size=memory_size,
    )


def test_the_runtime_records_payloads_and_wraps_each_process_and_releases_it_once_it_exits() -> None:
    runtime = LocalLambdaRuntime("http://127.0.0.1:9")
    wrapped: list[tuple[int, list[str]]] = []
    released: list[int] = []

    def wrapper(memory_mb: int, argv: list[str]) -> tuple[list[str], object]:
        wrapped.append((memory_mb, list(argv)))
        return ["env", "WRAPPED=1", *argv], lambda: released.append(memory_mb)

    recorder = _PayloadRecorder()
    runtime.on_invoke = recorder
    runtime.process_wrapper = wrapper  # type: ignore[assignment]
    config = _probe_config("wrapped", 512)  # one config: the probe zip's timestamps change every 2 s
    try:
        first = runtime.invoke(config, b'{"n": 1}')
        runtime.invoke(config, b'{"n": 2}')
        assert first.function_error is None
        assert [(m, argv[-3:]) for m, argv in wrapped] == [(512, ["-m", "awslambdaric", "probe.handler"])]
        assert released == []  # the process still runs
    finally:
        runtime.close()
    assert released == [512]
    assert recorder.payloads == {"wrapped": b'{"n": 1}'}  # the first payload per function
