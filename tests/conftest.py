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
    """Set a function's environment variables with ``function_env.setenv``; settings re-read each test."""
    from functions.common.settings import settings

    settings.cache_clear()
    yield monkeypatch
    settings.cache_clear()
