"""What the sqs stack's functions logged of their rate-limit waits (functions/common/tracking.py ``waiting``)."""

from __future__ import annotations

import json
from typing import Any

from functions.common.tracking import STEP_WAITING
from sandbox.environment import Sandbox

SQS_FUNCTION_PREFIX = "github-automation-sandbox-sqs-"


def rate_limit_waits(sandbox: Sandbox, *functions: str) -> list[dict[str, Any]]:
    """The ``step waiting out a rate limit`` lines of these sqs functions (``add-team-member``, ...)."""
    assert sandbox.aws is not None
    return [
        entry
        for function in functions
        for line in sandbox.aws.runtime.output(SQS_FUNCTION_PREFIX + function)
        if f'"{STEP_WAITING}"' in line
        for entry in [json.loads(line)]
    ]
