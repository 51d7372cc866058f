"""`make bench`'s figures from made-up invoke records and latencies: no sandbox is started here."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from sandbox.bench import (
    FUNCTIONS,
    ArchitectureFigures,
    HopBatching,
    cpu_model,
    events_per_second,
    function_figures,
    function_key,
    hop_batching,
    latency,
    print_figures,
    target_verdict,
    to_json,
)
from sandbox.lambda_runtime import InvokeRecord
from sandbox.sqs_poller import MappingStats


def record(function: str, duration: float, *, cold: bool = False, error: str | None = None) -> InvokeRecord:
    return InvokeRecord(f"github-automation-sandbox-sqs-{function}", "request", cold, duration, error)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("github-automation-sandbox-sqs-receiver", "receiver"),
        ("github-automation-sandbox-sfn-add-team-member", "add-team-member"),
        ("github-automation-sandbox-sfn-price-workflow-run", "price-workflow-run"),
        ("store-records", "store-records"),
        ("github-automation-sandbox-sqs-something-else", None),
        ("github-automation-sandbox-sqs-xreceiver", None),
    ],
)
def test_function_key_is_the_end_of_the_name(name: str, key: str | None) -> None:
    assert function_key(name) == key


def test_the_cold_start_is_the_first_cold_invoke_and_warm_is_the_median_of_the_others() -> None:
    records = [
        record("receiver", 1.5, cold=True),
        record("receiver", 0.010),
        record("receiver", 0.030),
        record("receiver", 0.020),
        record("add-team-member", 2.0, cold=True),
        record("add-team-member", 0.2, error="GitHubUnavailable"),
        record("add-team-member", 3.0, cold=True),  # a second process, started later
        InvokeRecord("some-other-function", "request", True, 9.0, None),
    ]
    figures = function_figures(records)
    assert list(figures) == list(FUNCTIONS)
    assert figures["receiver"].cold_start_s == 1.5
    assert figures["receiver"].cold_starts == 1
    assert figures["receiver"].warm_invoke_p50_s == pytest.approx(0.020)
    assert figures["receiver"].warm_invokes == 3
    assert figures["add-team-member"].cold_start_s == 2.0
    assert figures["add-team-member"].cold_starts == 2
    assert figures["add-team-member"].errors == 1
    assert figures["store-records"].cold_start_s is None
    assert figures["store-records"].warm_invoke_p50_s is None


def test_latency_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 201)]  # 1..200, shuffled order does not matter
    figures = latency(list(reversed(values)))
    assert (figures.n, figures.p50_s, figures.p95_s, figures.p99_s, figures.max_s) == (200, 100.0, 190.0, 198.0, 200.0)
    assert latency([0.5]).p99_s == 0.5
    assert latency([]) == latency([])
    assert latency([]).p50_s is None


def test_events_per_second() -> None:
    assert events_per_second(17, 4.25) == pytest.approx(4.0)
    assert events_per_second(17, 0.0) is None


def test_cpu_model_from_proc_cpuinfo() -> None:
    cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n\nprocessor\t: 1\n"
    assert cpu_model(cpuinfo) == "Intel(R) Xeon(R) Processor"
    assert cpu_model("processor : 0\n") == "unknown"


def _figures(name: str) -> ArchitectureFigures:
    figures = ArchitectureFigures(name, {"apiThrottlingRateLimit": "50"})
    figures.deployed = [key for key in FUNCTIONS if name == "sqs" or key != "store-records"]
    all_functions = function_figures([record(key, 1.0, cold=True) for key in FUNCTIONS] + [record("receiver", 0.01)])
    figures.functions = {key: value for key, value in all_functions.items() if key in figures.deployed}
    figures.receiver_ignored = latency([0.01, 0.02])
    figures.receiver_accepted = latency([0.03, 0.05])
    figures.end_to_end = {"organization": latency([1.0, 2.0]), "workflow_run": latency([0.5])}
    figures.burst_deliveries, figures.burst_seconds = 17, 4.25
    figures.events_per_second = events_per_second(17, 4.25)
    return figures


def test_the_figures_print_and_serialise() -> None:
    machine = {"nproc": 2, "cpu": "Test CPU", "python": "3.11.7", "platform": "Linux"}
    figures = {name: _figures(name) for name in ("sqs", "stepfunctions")}
    console = Console(record=True, width=80)
    print_figures(console, machine, 0.01, 200, 100, figures, deploy_seconds=9.0)
    text = console.export_text()
    assert "nproc 2, Test CPU, Python 3.11.7" in text
    assert "time_scale 0.01" in text
    assert "not deployed" in text  # stepfunctions has no store-records function
    assert "4.00" in text  # events per second
    document = json.loads(json.dumps(to_json(machine, 0.01, 200, 100, figures)))
    assert document["architectures"]["sqs"]["functions"]["receiver"]["cold_start_s"] == 1.0
    assert document["architectures"]["sqs"]["events_per_second"] == pytest.approx(4.0)
    assert document["round_trips"] == {"ignored": 200, "accepted": 100}
    assert "store-records" not in document["architectures"]["stepfunctions"]["functions"]
    assert set(document["definitions"]) >= {"cold_start_s", "receiver_round_trip", "end_to_end", "events_per_second"}


def test_the_throughput_burst_is_distinct_deliveries_of_both_use_cases_in_turn() -> None:
    from sandbox.bench import THROUGHPUT_DELIVERIES, throughput_burst
    from sandbox.fake_github import SANDBOX_ORG

    burst = throughput_burst(SANDBOX_ORG)

    assert len(burst) == THROUGHPUT_DELIVERIES == 300
    assert len({delivery.delivery_id for delivery in burst}) == 300
    assert [delivery.event for delivery in burst[:4]] == ["organization", "workflow_run"] * 2
    logins = {
        delivery.payload()["membership"]["user"]["login"] for delivery in burst if delivery.event == "organization"
    }
    assert logins == {person.login for person in SANDBOX_ORG.members}
    assert all(delivery.expected == "processed" for delivery in burst)


def test_children_cpu_seconds_counts_a_child_that_has_exited() -> None:
    import subprocess
    import sys

    from sandbox.bench import children_cpu_seconds

    before = children_cpu_seconds()
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True)
    assert children_cpu_seconds() - before > 0.05


def test_hop_batching_is_the_difference_between_two_snapshots_of_the_pollers_counters() -> None:
    before = {"a": MappingStats(batches=2, records=3, largest_batch=2)}
    after = {
        "a": MappingStats(batches=6, records=15, largest_batch=5),
        "b": MappingStats(batches=4, records=4, largest_batch=1),
    }
    figures = hop_batching(before, after, {"a": "store-records", "b": "add-team-member", "c": "lookup-directory"})
    assert list(figures) == ["add-team-member", "lookup-directory", "store-records"]
    assert figures["store-records"] == HopBatching(invokes=4, records=12, largest=5)
    assert figures["store-records"].records_per_invoke == 3.0
    assert figures["add-team-member"].records_per_invoke == 1.0
    assert figures["lookup-directory"].records_per_invoke is None  # never invoked meanwhile


@pytest.mark.parametrize(
    ("values", "verdict"),
    [([0.5] * 99 + [2.4], "met"), ([1.01] * 100, "NOT met"), ([0.5] * 98 + [2.6] * 2, "NOT met"), ([], "NOT met")],
)
def test_the_sqs_latency_targets_are_p50_1_s_and_p99_2_5_s(values: list[float], verdict: str) -> None:
    assert target_verdict(latency(values)).endswith(f": {verdict}")


def test_the_batching_table_prints_per_hop() -> None:
    sqs = _figures("sqs")
    sqs.batching = {"store-records": HopBatching(invokes=12, records=17, largest=4)}
    sqs.busy_batching = {"store-records": HopBatching(invokes=84, records=100, largest=4)}
    console = Console(record=True, width=120)
    print_figures(console, {"nproc": 2, "cpu": "x", "python": "3", "platform": "L"}, 0.01, 1, 1, {"sqs": sqs}, 1.0)
    text = console.export_text()
    assert "12 / 17 / 1.42 (4)" in text and "84 / 100 / 1.19 (4)" in text


def test_a_bursts_problems_name_what_was_not_accepted_and_each_oracle_difference() -> None:
    from sandbox.bench import replay_problems
    from sandbox.replay import StackReport

    clean = StackReport("sqs")
    assert replay_problems("burst", clean, 0) == []
    broken = StackReport("sqs", parked={"add-team-member": 1}, oracle_differences=["members: bob missing"])
    assert replay_problems("throughput", broken, 3) == [
        "throughput: 0/3 accepted, 0 failed, parked {'add-team-member': 1}",
        "throughput: members: bob missing",
    ]
