"""Summing metered units and dividing them by the deliveries they came from."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackops.tally import Tally


def test_lines_are_per_delivery_with_their_attributes() -> None:
    tally = Tally()
    key = tally.add("lambda", "requests", 3, "receiver", trigger="http")
    tally.add("lambda", "requests", 3, "receiver", trigger="http")
    tally.describe(key, recordsPerInvoke=1.0)
    (line,) = tally.lines(2)
    assert (line.quantity, line.attributes) == (3.0, {"trigger": "http", "recordsPerInvoke": 1.0})
    with pytest.raises(ValueError, match="deliveries must be > 0"):
        tally.lines(0)


@given(st.floats(min_value=0, max_value=1e6), st.floats(min_value=0, max_value=1e6))
def test_subtracting_never_leaves_a_negative_line(seen: float, taken: float) -> None:
    tally = Tally()
    key = tally.add("sqs", "requests", seen, "q", empty="true")
    tally.subtract(key, taken)
    assert all(line.quantity > 0 for line in tally.lines(1))
    assert tally.quantity("sqs", "requests", "q", empty="true") == (seen - taken if seen > taken else 0.0)
