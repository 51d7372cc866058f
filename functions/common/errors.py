"""Errors a step raises on purpose, named for the Step Functions ``Retry``/``Catch`` rules.

Lambda reports an unhandled exception with its class name as ``errorType``; Step Functions matches
that name, so these names are part of the contract with ``components/statemachines/*.asl.json``.
In the SQS architecture any exception fails the record, which is retried until ``maxReceiveCount``.
"""

from __future__ import annotations


class TransientError(Exception):
    """Worth retrying: the same input may succeed later."""


class GitHubUnavailable(TransientError):
    """GitHub answered 5xx or did not answer in time."""


class GitHubRateLimited(TransientError):
    """GitHub answered 429 or 403 with a (secondary) rate limit; ``retry_after`` in seconds if it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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


# The names the state machines retry on, in one place for the ASL tests.
RETRYABLE_ERROR_NAMES: tuple[str, ...] = (
    GitHubUnavailable.__name__,
    GitHubRateLimited.__name__,
    DirectoryUnavailable.__name__,
)
