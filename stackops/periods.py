"""Periods on the command line: ``--since 30d`` (days), ``12h`` (hours), ``2w`` (weeks).

``parse_since`` raises :class:`PeriodError` (a ``ValueError``) for a bad value: one line naming the
argument, the value and what is allowed. For ``argparse``, use ``type=since_argument``: argparse already
prefixes its errors with ``argument --since:``, so that one raises ``argparse.ArgumentTypeError`` with the
rest of the line only.

Bounds: at least one hour (the finest period ``stackops.aws_usage`` asks CloudWatch for) and at most
455 days, CloudWatch's retention of hourly data points (15 months): metrics older than that are gone.
"""

from __future__ import annotations

import argparse
import re
from datetime import timedelta

#: What one letter of the suffix is worth.
UNITS: dict[str, timedelta] = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
MIN_PERIOD = timedelta(hours=1)
MAX_PERIOD = timedelta(days=455)
ALLOWED = "a whole number followed by h (hours), d (days) or w (weeks), e.g. 12h, 30d, 2w"

_PATTERN = re.compile(r"(?P<count>[0-9]+)(?P<unit>[hdw])")


class PeriodError(ValueError):
    """A period that cannot be read. ``str()`` is the one line to show; ``detail`` is it without the argument."""

    def __init__(self, argument: str, detail: str) -> None:
        super().__init__(f"{argument}: {detail}")
        self.argument = argument
        self.detail = detail


def parse_since(text: str, *, argument: str = "--since") -> timedelta:
    """``"30d"`` -> ``timedelta(days=30)``; anything else is a :class:`PeriodError` naming ``argument``."""
    match = _PATTERN.fullmatch(text.strip().lower())
    if match is None:
        raise PeriodError(argument, f"{text!r} is not a period; expected {ALLOWED}")
    period = int(match["count"]) * UNITS[match["unit"]]
    if not MIN_PERIOD <= period <= MAX_PERIOD:
        raise PeriodError(
            argument,
            f"{text!r} is out of range; expected {ALLOWED}, from 1h to 455d"
            " (CloudWatch keeps hourly metrics for 15 months)",
        )
    return period


def since_argument(text: str) -> timedelta:
    """``parser.add_argument("--since", type=since_argument)``: argparse names the argument itself."""
    try:
        return parse_since(text)
    except PeriodError as error:
        raise argparse.ArgumentTypeError(error.detail) from None
