"""Errors a step raises on purpose, named for the Step Functions ``Retry``/``Catch`` rules.

Lambda reports an unhandled exception with its class name as ``errorType``; Step Functions matches
that name, so these names are part of the contract with ``components/statemachines/*.asl.json``.
In the SQS architecture any exception fails the record, which is retried until ``maxReceiveCount``, except
``GitHubRateLimited``: the record is re-sent with a delay (functions/common/rate_limits.py).
"""

from __future__ import annotations

import json
import math

#: GitHub's advice when a rate-limited answer says neither ``Retry-After`` nor an exhausted quota's reset:
#: "wait for at least one minute before retrying" (REST API best practices).
DEFAULT_RATE_LIMIT_WAIT_SECONDS = 60


class TransientError(Exception):
    """Worth retrying: the same input may succeed later."""


class GitHubUnavailable(TransientError):
    """GitHub answered 5xx or did not answer in time."""


class GitHubRateLimited(TransientError):
    """GitHub answered 429 or 403 with a rate limit; ``retry_after`` in seconds if it said.

    The message (``str(error)``, Lambda's ``errorMessage``) is JSON, ``{"message": ..., "retryAfterSeconds":
    n}``, so that a state machine can read the wait out of the error's ``Cause`` with ``States.StringToJson``
    (components/statemachines/*.asl.json, the ``RateLimit*`` states).
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.reason = message
        self.retry_after = retry_after
        super().__init__(json.dumps({"message": message, "retryAfterSeconds": self.wait_seconds}))

    @property
    def wait_seconds(self) -> int:
        """Whole seconds to wait before the next try: what GitHub said (rounded up, at least 1), else 60."""
        if self.retry_after is None:
            return DEFAULT_RATE_LIMIT_WAIT_SECONDS
        return max(1, math.ceil(self.retry_after))


class DirectoryUnavailable(TransientError):
    """The company directory answered 5xx or did not answer in time."""


class GitHubRequestRejected(Exception):
    """GitHub refused the request for good (4xx other than rate limits): retrying will not help."""


class NotificationPending(Exception):
    """The record is stored but its success notification could not be published.

    Not a failure of the work itself: a retry (or a redelivery) finds the record stored, reads its
    notification marker and publishes only the notification. The Step Functions variant ends such an
    execution with the error of the same name.
    """


# The names the state machines retry on with backoff, in one place for the ASL tests. GitHubRateLimited is
# not among them: it is caught and waited out for as long as GitHub asks (the ``RateLimit*`` states).
RETRYABLE_ERROR_NAMES: tuple[str, ...] = (
    GitHubUnavailable.__name__,
    DirectoryUnavailable.__name__,
)
RATE_LIMITED_ERROR_NAME = GitHubRateLimited.__name__
