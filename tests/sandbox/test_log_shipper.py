"""The log shipper (sandbox/log_shipper.py) against the emulator's CloudWatch Logs."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import pytest

from sandbox.aws import EmbeddedAws, emulator_client
from sandbox.log_shipper import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, LogShipper, _Event, batches

SHIPPER_KEY = "test-log-shipper"


def _events(logs: Any, group: str, stream: str) -> list[dict[str, Any]]:
    return logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]


def _shipper(aws: EmbeddedAws, **options: Any) -> LogShipper:
    return LogShipper(lambda: emulator_client(aws.endpoint_url, "logs", access_key=SHIPPER_KEY), **options)


def _put_calls(aws: EmbeddedAws) -> list[Any]:
    return [c for c in aws.api_calls.calls() if c.caller == SHIPPER_KEY and c.operation == "PutLogEvents"]


def test_lines_reach_their_own_streams_in_order_and_the_group_is_created(aws: EmbeddedAws) -> None:
    group = f"/aws/lambda/ship-{uuid.uuid4().hex[:8]}"  # no such group yet
    shipper = _shipper(aws, interval=60)  # only flushes send
    for n in range(50):
        shipper.put(group, "2026/12/02/[$LATEST]aaaa", f"a {n}")
        shipper.put(group, "2026/12/02/[$LATEST]bbbb", f"b {n}")
    assert all(c.params.get("logGroupName") != group for c in _put_calls(aws))  # nothing sent before a flush

    assert shipper.flush()

    logs = aws.client("logs")
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert sorted(s["logStreamName"] for s in streams) == ["2026/12/02/[$LATEST]aaaa", "2026/12/02/[$LATEST]bbbb"]
    a = _events(logs, group, "2026/12/02/[$LATEST]aaaa")
    assert [e["message"] for e in a] == [f"a {n}" for n in range(50)]
    assert all(x["timestamp"] <= y["timestamp"] for x, y in itertools.pairwise(a))
    assert (shipper.shipped, shipper.dropped) == (100, 0)
    shipper.close()


def test_close_flushes_and_later_lines_are_dropped(aws: EmbeddedAws) -> None:
    group = f"/test/ship-{uuid.uuid4().hex[:8]}"
    aws.client("logs").create_log_group(logGroupName=group)
    shipper = _shipper(aws, interval=60)
    shipper.put(group, "s", "last words")

    shipper.close()
    shipper.put(group, "s", "too late")

    assert [e["message"] for e in _events(aws.client("logs"), group, "s")] == ["last words"]
    assert shipper.dropped == 1


def test_the_flusher_sends_without_being_asked(aws: EmbeddedAws) -> None:
    group = f"/test/ship-{uuid.uuid4().hex[:8]}"
    shipper = _shipper(aws, interval=0.05)
    shipper.put(group, "s", "soon")
    try:
        deadline = time.monotonic() + 5
        while shipper.shipped == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert [e["message"] for e in _events(aws.client("logs"), group, "s")] == ["soon"]
    finally:
        shipper.close()


def test_a_refused_batch_is_dropped_and_counted_and_shipping_goes_on(aws: EmbeddedAws) -> None:
    shipper = LogShipper(lambda: emulator_client("http://127.0.0.1:9", "logs"), interval=60)  # nothing listens
    shipper.put("/test/nowhere", "s", "lost")
    assert shipper.flush(timeout=30)
    assert (shipper.shipped, shipper.dropped) == (0, 1)
    shipper.close()


def test_large_volumes_are_cut_into_calls_within_the_api_limits(aws: EmbeddedAws) -> None:
    group = f"/test/ship-{uuid.uuid4().hex[:8]}"
    shipper = _shipper(aws, interval=60)
    for n in range(MAX_BATCH_EVENTS + 5):
        shipper.put(group, "many", str(n))
    before = len(_put_calls(aws))

    shipper.close()

    assert len(_put_calls(aws)) - before == 2
    pages = aws.client("logs").get_paginator("filter_log_events").paginate(logGroupName=group)
    assert [e["message"] for page in pages for e in page["events"]] == [str(n) for n in range(MAX_BATCH_EVENTS + 5)]


@pytest.mark.parametrize(
    ("events", "sizes"),
    [
        ([_Event(0, "x")] * (2 * MAX_BATCH_EVENTS + 1), [MAX_BATCH_EVENTS, MAX_BATCH_EVENTS, 1]),
        ([_Event(0, "x" * 200_000)] * 6, [5, 1]),  # 5 * (200,000 + 26) bytes fit in 1 MiB, 6 do not
        ([_Event(0, "a"), _Event(24 * 3600 * 1000, "b"), _Event(24 * 3600 * 1000 + 1, "c")], [2, 1]),
        ([], []),
    ],
)
def test_batches_keep_to_the_limits(events: list[_Event], sizes: list[int]) -> None:
    cut = batches(events)
    assert [len(b) for b in cut] == sizes
    assert all(sum(len(e.message) + 26 for e in b) <= MAX_BATCH_BYTES for b in cut)
