"""Step Functions usage from histories: transitions as AWS counts them, logs per level, Express billing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stackops import sfn_usage


def _event(kind: str, **details: Any) -> dict[str, Any]:
    return {"type": kind, "id": 1, "previousEventId": 0, "timestamp": datetime(2026, 1, 1, tzinfo=UTC)} | (
        {"stateEnteredEventDetails": details} if details else {}
    )


def _history(*kinds: tuple[str, int]) -> list[dict[str, Any]]:
    """Events numbered from 1, each ``(type, previousEventId)``."""
    return [
        {"type": kind, "id": index, "previousEventId": previous, "timestamp": datetime(2026, 1, 1, tzinfo=UTC)}
        for index, (kind, previous) in enumerate(kinds, start=1)
    ]


def test_states_entered_and_retries_are_transitions() -> None:
    history = _history(
        ("ExecutionStarted", 0),
        ("TaskStateEntered", 1),
        ("LambdaFunctionScheduled", 2),
        ("LambdaFunctionFailed", 3),
        ("LambdaFunctionScheduled", 4),  # the retry: a transition of its own
        ("LambdaFunctionSucceeded", 5),
        ("TaskStateExited", 6),
        ("MapStateEntered", 7),
        ("MapIterationStarted", 8),
        ("TaskStateEntered", 9),  # iteration 0
        ("TaskStateEntered", 9),  # iteration 1, interleaved
        ("TaskScheduled", 10),  # iteration 0's first attempt
        ("TaskScheduled", 11),  # iteration 1's: not a retry, though the second scheduled in a row
        ("MapStateExited", 13),
        ("SucceedStateEntered", 14),
        ("ExecutionSucceeded", 15),
    )
    assert sfn_usage.transitions(history) == 1 + 1 + 1 + 2 + 1


def test_each_level_logs_what_aws_says_it_logs() -> None:
    history = [_event("ExecutionStarted", input="x" * 100), _event("TaskFailed"), _event("ExecutionFailed")]
    sizes = sfn_usage.log_bytes(history, "arn:aws:states:us-east-1:1:execution:m:e")
    assert sizes[("OFF", True)] == 0
    assert 0 < sizes[("FATAL", True)] < sizes[("ERROR", True)] < sizes[("ALL", True)]
    assert sizes[("ALL", False)] == sizes[("ALL", True)] - len('"input":"' + "x" * 100 + '"')
    as_text = [{**event, "timestamp": "2026-01-01T00:00:00.000Z"} for event in history]
    assert sfn_usage.log_bytes(as_text, "arn:aws:states:us-east-1:1:execution:m:e") == sizes
    with pytest.raises(ValueError, match="one of ALL, ERROR, FATAL, OFF"):
        sfn_usage.logged_at("INFO", "TaskFailed")


def test_express_billing_rounds_to_100_ms_and_64_mb() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert sfn_usage.express_billing(start, start + timedelta(milliseconds=1), 5000, []) == (100.0, 64.0)
    assert sfn_usage.express_billing(start, start + timedelta(milliseconds=250), 5000, []) == (300.0, 64.0)
    # 1.25 s of wall time, 1 s of it waiting for a cold task function's init: 250 ms billed as 300
    assert sfn_usage.express_billing(start, start + timedelta(milliseconds=1250), 5000, [], 1.0) == (300.0, 64.0)
    huge = [_event("ExecutionStarted")] + [
        {"type": "TaskSucceeded", "taskSucceededEventDetails": {"output": "o" * (65 * 1024 * 1024)}}
    ]
    assert sfn_usage.express_billing(start, start, 0, huge) == (100.0, 128.0)
