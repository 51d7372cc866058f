"""Each function's timeout covers the worst case of one record, and the figures it is derived from are the code's."""

from __future__ import annotations

import pytest

from components.catalog import (
    BUSINESS_FUNCTIONS,
    GITHUB_CALL_MAX_SECONDS,
    REPLY_MARGIN_SECONDS,
    STORE_RECORDS,
    FunctionSpec,
)


@pytest.mark.parametrize("spec", [*BUSINESS_FUNCTIONS, STORE_RECORDS], ids=lambda spec: spec.key)
def test_the_timeout_covers_a_records_bounded_github_calls_and_the_reply(spec: FunctionSpec) -> None:
    assert spec.timeout_seconds >= spec.record_seconds, (
        f"{spec.key}: {spec.github_calls} GitHub calls of up to {GITHUB_CALL_MAX_SECONDS} s one after another "
        f"and {REPLY_MARGIN_SECONDS} s to answer need a timeout of {spec.record_seconds} s, "
        f"not {spec.timeout_seconds} s"
    )


def test_the_worst_github_call_is_the_clients_timeout() -> None:
    from functions.common.github import HTTP_TIMEOUT

    assert HTTP_TIMEOUT.connect is not None and HTTP_TIMEOUT.read is not None
    assert HTTP_TIMEOUT.connect + HTTP_TIMEOUT.read == GITHUB_CALL_MAX_SECONDS


def test_the_reply_margin_is_the_adapters() -> None:
    from functions.common.batch import REPLY_MARGIN_MS

    assert REPLY_MARGIN_SECONDS * 1000 == REPLY_MARGIN_MS
