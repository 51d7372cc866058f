"""The per-request and per-execution rounding AWS bills by (stackops.billing_units)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackops import billing_units as bu


@pytest.mark.parametrize(
    ("payload", "requests"),
    [(0, 1), (1, 1), (65_536, 1), (65_537, 2), (262_144, 4), (1_048_576, 16)],
)
def test_sqs_requests_are_64_kib_chunks(payload: int, requests: int) -> None:
    """SQS pricing: "each 64 KB chunk of a payload is billed as 1 request" (a 256 KB message is 4)."""
    assert bu.sqs_requests(payload) == requests


@given(st.integers(min_value=0, max_value=2**24))
def test_sqs_chunks_cover_the_payload_and_no_more(payload: int) -> None:
    chunks = bu.sqs_requests(payload)
    assert chunks >= 1
    assert chunks * 65_536 >= payload
    assert payload == 0 or (chunks - 1) * 65_536 < payload


@pytest.mark.parametrize(("body", "requests"), [(0, 1), (524_288, 1), (524_289, 2), (1_572_864, 3)])
def test_http_api_requests_are_512_kb_increments(body: int, requests: int) -> None:
    assert bu.http_api_requests(body) == requests


@pytest.mark.parametrize(("message", "publishes"), [(10, 1), (65_536, 1), (65_537, 2), (262_144, 4)])
def test_sns_publishes_are_64_kb_chunks(message: int, publishes: int) -> None:
    assert bu.sns_publishes(message) == publishes


@pytest.mark.parametrize(("duration", "billed"), [(0, 1), (0.2, 1), (1, 1), (1.0001, 2), (119.5, 120)])
def test_lambda_bills_to_the_next_millisecond(duration: float, billed: int) -> None:
    assert bu.lambda_billed_ms(duration) == billed


def test_lambda_gb_seconds_count_a_gb_as_1024_mb() -> None:
    """Lambda pricing example: 512 MB for 1 s is 0.5 GB-s."""
    assert bu.lambda_gb_seconds(1000, 512) == 0.5


@pytest.mark.parametrize(
    ("duration", "memory", "billed"),
    [(0, 0, (100.0, 64.0)), (1, 50.05, (100.0, 64.0)), (100, 64, (100.0, 64.0)), (100.1, 64.1, (200.0, 128.0))],
)
def test_express_rounds_to_100_ms_and_64_mb_chunks(duration: float, memory: float, billed: tuple[float, float]) -> None:
    """Step Functions pricing: duration "rounded up to the nearest 100ms", memory "billed in 64-MB chunks"."""
    assert bu.express_billed(duration, memory) == billed


@given(st.floats(min_value=0, max_value=300_000), st.floats(min_value=0, max_value=4096))
def test_express_billing_never_under_bills(duration: float, memory: float) -> None:
    billed_ms, billed_mb = bu.express_billed(duration, memory)
    assert billed_ms >= max(duration, 100) and billed_ms % 100 == 0 and billed_ms - duration < 100 + 1e-9
    assert billed_mb >= max(memory, 64) and billed_mb % 64 == 0 and billed_mb - memory < 64 + 1e-9


def test_express_gb_seconds_example() -> None:
    """Step Functions pricing example: a 10 s execution at 64 MB billed memory is 0.625 GB-s."""
    assert bu.express_gb_seconds(10_000, 62.85) == pytest.approx(0.625)


@pytest.mark.parametrize(
    ("size", "transactional", "units"),
    [(0, False, 1), (500, False, 1), (1024, False, 1), (1025, False, 2), (3500, False, 4), (3500, True, 8)],
)
def test_dynamodb_write_units_per_kb_doubled_in_transactions(size: int, transactional: bool, units: int) -> None:
    """DynamoDB on-demand: 1 WRU per 1 KB rounded up; transactional writes take 2 (a 3.5 KB item: 4, or 8)."""
    assert bu.dynamodb_write_units(size, transactional) == units


@pytest.mark.parametrize(
    ("size", "consistency", "units"),
    [(100, "eventual", 0.5), (4096, "strong", 1.0), (4097, "strong", 2.0), (8000, "transactional", 4.0)],
)
def test_dynamodb_read_units(size: int, consistency: bu.ReadConsistency, units: float) -> None:
    assert bu.dynamodb_read_units(size, consistency) == units


def test_dynamodb_item_size_follows_the_documented_rules() -> None:
    """CapacityUnitCalculations: names + UTF-8 strings, numbers 1 byte per 2 digits + 1, lists/maps 3 + 1/element."""
    item = {
        "pk": {"S": "org#acme"},  # 2 + 8
        "n": {"N": "12345"},  # 1 + (3 + 1)
        "zeros": {"N": "1200.00"},  # 5 + (1 + 1): "12" after trimming
        "ok": {"BOOL": True},  # 2 + 1
        "tags": {"L": [{"S": "ab"}, {"S": "é"}]},  # 4 + 3 + (1 + 2) + (1 + 2)
        "m": {"M": {"k": {"S": "v"}}},  # 1 + 3 + (1 + 1 + 1)
    }
    assert bu.dynamodb_item_bytes(item) == 10 + 5 + 7 + 3 + 13 + 7


@pytest.mark.parametrize(
    "call",
    [
        lambda: bu.sqs_requests(-1),
        lambda: bu.lambda_billed_ms(math.nan),
        lambda: bu.express_billed(-1, 64),
        lambda: bu.dynamodb_read_units(1, "quorum"),  # type: ignore[arg-type]
        lambda: bu.dynamodb_value_bytes({"X": 1}),
    ],
)
def test_bad_input_is_one_clear_error(call: object) -> None:
    with pytest.raises(ValueError, match=r"must|one of|unknown|exactly"):
        call()  # type: ignore[operator]
