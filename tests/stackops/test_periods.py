"""``--since`` periods: the three suffixes, the bounds, and one clear line for a bad value."""

from __future__ import annotations

import argparse
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackops.periods import MAX_PERIOD, PeriodError, parse_since, since_argument


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(weeks=2)),
        ("1h", timedelta(hours=1)),
        ("455d", timedelta(days=455)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_parses_hours_days_and_weeks(text: str, expected: timedelta) -> None:
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "30x", "1.5d", "-3d", "30 d", "3d4h", "thirty days"])
def test_a_bad_value_is_one_line_naming_the_argument_the_value_and_what_is_allowed(text: str) -> None:
    with pytest.raises(PeriodError) as caught:
        parse_since(text)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("--since: ")
    assert repr(text) in message
    assert "h (hours), d (days) or w (weeks)" in message


@pytest.mark.parametrize("text", ["0h", "0d", "456d", "66w"])
def test_out_of_range_says_the_bounds(text: str) -> None:
    with pytest.raises(PeriodError, match=r"out of range.*from 1h to 455d"):
        parse_since(text)


def test_the_error_names_the_argument_it_was_given() -> None:
    with pytest.raises(PeriodError, match=r"^--window: "):
        parse_since("soon", argument="--window")


def test_argparse_names_the_argument_once(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="stackops")
    parser.add_argument("--since", type=since_argument)
    assert parser.parse_args(["--since", "2w"]).since == timedelta(weeks=2)
    with pytest.raises(SystemExit):
        parser.parse_args(["--since", "fortnight"])
    error = capsys.readouterr().err.splitlines()[-1]
    assert error == (
        "stackops: error: argument --since: 'fortnight' is not a period; expected a whole number followed by "
        "h (hours), d (days) or w (weeks), e.g. 12h, 30d, 2w"
    )


def test_is_a_value_error_for_callers_outside_argparse() -> None:
    with pytest.raises(ValueError):
        parse_since("yesterday")


@given(count=st.integers(min_value=1, max_value=455), unit=st.sampled_from(["h", "d"]))
def test_every_count_in_range_round_trips(count: int, unit: str) -> None:
    period = parse_since(f"{count}{unit}")
    assert period == (timedelta(hours=count) if unit == "h" else timedelta(days=count))
    assert period <= MAX_PERIOD
