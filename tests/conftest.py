"""Test-wide set-up: hermetic AWS credentials and Powertools switched to test mode.

Nothing here reaches the network: boto3 talks to moto, GitHub is faked, tracing is off.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Set before any test module imports boto3 or Powertools.
os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_SERVICE_NAME": "github-automation-tests",
        "POWERTOOLS_METRICS_NAMESPACE": "GitHubAutomationTests",
        "POWERTOOLS_DEV": "false",
    }
)
for leaked in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(leaked, None)

FIXTURES = Path(__file__).parent / "fixtures" / "github-webhooks"


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Set a function's environment variables with ``function_env.setenv``; settings re-read each test, and
    the GitHub pacing starts from nothing (a test's rate limit is not the next test's)."""
    from functions.common.github_pacing import pacer
    from functions.common.settings import settings

    settings.cache_clear()
    pacer.forget()
    yield monkeypatch
    settings.cache_clear()
    pacer.forget()


#: The slowest modules of `make test`'s second process, slowest first (`--durations`): pytest-xdist's two
#: workers take whole modules in this order (`--dist loadgroup --no-loadscope-reorder`), so the long ones
#: start at once and the short ones fill in behind them, and both workers end at about the same time.
SLOWEST_FIRST = (
    "tests/e2e/test_equivalence.py",
    "tests/e2e/test_rate_limits.py",
    "tests/e2e/test_pacing.py",
    "tests/e2e/test_redelivery.py",
    "tests/e2e/test_trace.py",
    "tests/e2e/test_end_to_end.py",
    "tests/e2e/test_notifications.py",
    "tests/e2e/test_slow_github.py",
    "tests/e2e/test_metering.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One pytest-xdist group per module (its module-scoped sandbox is deployed once, by one worker),
    unless a test names its own group; the slowest modules first."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))

    def rank(item: pytest.Item) -> int:
        module = item.nodeid.split("::", 1)[0]
        return SLOWEST_FIRST.index(module) if module in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: each module keeps its order
