"""CloudWatch Logs filter patterns (sandbox/log_filter.py), as FilterLogEvents matches them."""

from __future__ import annotations

import json

import pytest

from sandbox.log_filter import FilterPatternError, matches

LINE = json.dumps(
    {
        "level": "INFO",
        "message": "member onboarded",
        "correlation_id": "d-123",
        "service": "onboard",
        "attempt": 2,
        "cold_start": True,
        "error": None,
        "tags": ["a", "b"],
        "request": {"path": "/webhook", "status": 202},
    }
)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ('{ $.correlation_id = "d-123" }', True),
        ('{ $.correlation_id = "d-124" }', False),
        ("{$.correlation_id=d-123}", True),
        ('{ $.correlation_id != "d-124" }', True),
        ('{ $.missing != "x" }', False),
        ('{ $.message = "member*" }', True),
        ('{ $.message = "*boarded" }', True),
        ('{ $.message = "member" }', False),
        ('{ $.request.path = "/webhook" }', True),
        ("{ $.request.status = 202 }", True),
        ("{ $.request.status >= 300 }", False),
        ("{ $.attempt > 1 && $.attempt < 3 }", True),
        ('{ $.correlation_id = "d-123" && $.level = "ERROR" }', False),
        ('{ $.level = "ERROR" || $.correlation_id = "d-123" }', True),
        ('{ ($.level = "ERROR" || $.level = "INFO") && $.service = "onboard" }', True),
        ('{ $.level = "ERROR" || $.level = "INFO" && $.service = "other" }', False),  # && binds tighter
        ('{ $.tags[1] = "b" }', True),
        ("{ $.error IS NULL }", True),
        ("{ $.cold_start IS TRUE }", True),
        ("{ $.absent NOT EXISTS }", True),
        ("{ $.error NOT EXISTS }", False),
    ],
)
def test_json_patterns(pattern: str, expected: bool) -> None:
    assert matches(pattern, LINE) is expected


def test_a_json_pattern_never_matches_a_text_line() -> None:
    assert not matches('{ $.correlation_id = "d-123" }', "START RequestId: d-123 Version: $LATEST")
    assert not matches('{ $.correlation_id = "d-123" }', '["d-123"]')


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("", True),
        ("onboarded", True),
        ("Onboarded", False),  # case-sensitive
        ('"d-123"', True),
        ('"member onboarded"', True),
        ("member onboarded", True),
        ("member -onboarded", False),
        ("?ERROR ?onboarded", True),
        ("?ERROR ?WARN", False),
        ("0d-123", False),
        ('"7b1e-missing"', False),
    ],
)
def test_term_patterns(pattern: str, expected: bool) -> None:
    assert matches(pattern, LINE) is expected


def test_a_term_that_starts_with_a_digit_is_a_term() -> None:
    """moto took a pattern not starting with a letter or a quote as unsupported and matched everything."""
    assert matches("123", LINE)
    assert not matches("456", LINE)


@pytest.mark.parametrize("pattern", ['{ $.a = "x" ', '{ $.a "x" }', "{ $.a > x }", '{ ($.a = "x" }', "{ = 1 }"])
def test_invalid_json_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(FilterPatternError):
        matches(pattern, LINE)
