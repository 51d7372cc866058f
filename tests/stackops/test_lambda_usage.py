"""Lambda usage from invoke records and log lines: billed ms, bytes per level, custom metrics."""

from __future__ import annotations

import json

from sandbox.lambda_runtime import InvokeRecord
from stackops import lambda_usage


def _line(level: str, size: int = 50) -> str:
    return json.dumps({"level": level, "message": "m" * size})


EMF = json.dumps(
    {
        "_aws": {
            "CloudWatchMetrics": [
                {"Namespace": "GitHubAutomation", "Dimensions": [["service"]], "Metrics": [{"Name": "StepSucceeded"}]}
            ]
        },
        "service": "receiver",
        "StepSucceeded": [1.0],
    }
)


def test_billed_ms_round_each_invoke_up_to_a_millisecond() -> None:
    records = [
        InvokeRecord("f", "a", True, 0.0101, None, 1.0, 256),
        InvokeRecord("f", "b", False, 0.0002, None, 2.0, 256),
    ]
    usage = lambda_usage.function_usage(records, [], "INFO")
    assert (usage.invokes, usage.billed_ms) == (2, 11 + 1)


def test_a_cold_invoke_is_billed_without_its_init() -> None:
    """The init is billed once per execution environment, which the sandbox starts every few deliveries."""
    cold = InvokeRecord("f", "a", True, 1.5101, None, 1.0, 256, init_duration=1.5)
    assert lambda_usage.function_usage([cold], [], "INFO").billed_ms == 11


def test_bytes_at_each_level_drop_the_lines_below_it() -> None:
    info, error = _line("INFO"), _line("ERROR")
    usage = lambda_usage.function_usage([], [info, error, EMF, "Traceback (most recent call last):"], "INFO")
    assert usage.log_bytes is not None
    always = len(EMF) + 1 + len("Traceback (most recent call last):") + 1
    assert usage.log_bytes["INFO"] == len(info) + 1 + len(error) + 1 + always
    assert usage.log_bytes["ERROR"] == len(error) + 1 + always
    assert usage.log_bytes["WARNING"] == usage.log_bytes["ERROR"]
    assert "DEBUG" not in usage.log_bytes  # below the configured level: not derivable from what was seen


def test_platform_records_are_logged_at_info_only() -> None:
    record = InvokeRecord("f", "a", False, 0.005, None, 1.0, 128)
    usage = lambda_usage.function_usage([record], [], "INFO")
    assert usage.log_bytes is not None
    platform = sum(len(p) + 1 for p in lambda_usage.platform_records(record, 5))
    assert usage.log_bytes["INFO"] == platform and usage.log_bytes["ERROR"] == 0


def test_custom_metrics_are_the_emf_name_and_dimension_combinations() -> None:
    other = EMF.replace('"service": "receiver"', '"service": "store-records"')
    assert lambda_usage.custom_metrics([EMF, EMF, other, _line("INFO")]) == {
        ("GitHubAutomation", "StepSucceeded", (("service", "receiver"),)),
        ("GitHubAutomation", "StepSucceeded", (("service", "store-records"),)),
    }
