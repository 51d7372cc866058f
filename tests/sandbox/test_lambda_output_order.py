"""A function's lines reach its log stream before the invocation's ``platform.report``, as on AWS, even
when the thread that reads the process's output lags behind (a busy machine: tests/e2e/test_logs.py
failed on it, an invocation's lines landing after its report)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from sandbox.aws import EmbeddedAws
from tests.sandbox.lambda_fixtures import create_function, invoke

SLOW_LINE = "a line the reader takes its time over"


def _slow_sink(function: str, line: str) -> None:
    if SLOW_LINE in line:
        time.sleep(0.3)  # the reader holds the line while the response is already back


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(time_scale=0.01, output=_slow_sink) as embedded:
        yield embedded


def test_the_report_waits_for_the_lines_the_function_wrote_before_answering(aws: EmbeddedAws) -> None:
    create_function(aws, "slow-reader", logging_config={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"})
    invoke(aws, "slow-reader", {"action": "print", "text": SLOW_LINE})

    assert aws.runtime.flush_logs()
    logs = aws.client("logs")
    (stream,) = logs.describe_log_streams(logGroupName="/aws/lambda/slow-reader")["logStreams"]
    events = logs.get_log_events(
        logGroupName="/aws/lambda/slow-reader", logStreamName=stream["logStreamName"], startFromHead=True
    )["events"]
    kinds = [json.loads(e["message"])["type"] if e["message"].startswith("{") else e["message"] for e in events]
    assert kinds == ["platform.initStart", "platform.start", SLOW_LINE, "platform.report"]
