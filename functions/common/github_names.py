"""GitHub's syntax for the names and ids the pipeline reads, defined once.

The webhook reader (``functions.webhook_events``, standard library only: it is on the receiver's hot
path) and the step messages (``functions.common.models``, whose pydantic types wrap these checks) both
use them, so a signed webhook and a message put on a queue by hand are held to the same rules. The
rules are GitHub's own:

- a login (user or organization): letters, digits and single hyphens, neither first nor last, at
  most 39 characters (GitHub's sign-up rule; bot actors such as ``dependabot[bot]`` are never read);
- a repository name: letters, digits, ``.``, ``_`` and ``-``, at most 100 characters, not ``.`` or ``..``;
- an id or a run attempt: a strictly positive JSON integer (``true`` is not 1, ``"7"`` is not 7).

Every value is also percent-escaped when it goes into a URL path (``functions.common.github.path_segment``):
validation says what GitHub would send, escaping makes sure nothing else can change the endpoint.
"""

from __future__ import annotations

import re

LOGIN_MAX_LENGTH = 39
REPOSITORY_NAME_MAX_LENGTH = 100
_LOGIN = re.compile(r"[A-Za-z0-9](?:-?[A-Za-z0-9])*", re.ASCII)
_REPOSITORY_NAME = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)
_SHOWN = 60  # how much of a refused value an error message repeats


def check_login(value: str) -> str:
    """``value`` if it is a GitHub login; a ``ValueError`` saying what a login is otherwise."""
    if len(value) > LOGIN_MAX_LENGTH or not _LOGIN.fullmatch(value):
        raise ValueError(
            f"{value[:_SHOWN]!r} is not a GitHub login: 1-{LOGIN_MAX_LENGTH} ASCII letters, digits "
            "or single hyphens, not starting or ending with a hyphen"
        )
    return value


def check_repository_name(value: str) -> str:
    """``value`` if it is a GitHub repository name; a ``ValueError`` saying what one is otherwise."""
    if len(value) > REPOSITORY_NAME_MAX_LENGTH or not _REPOSITORY_NAME.fullmatch(value) or value in (".", ".."):
        raise ValueError(
            f"{value[:_SHOWN]!r} is not a GitHub repository name: 1-{REPOSITORY_NAME_MAX_LENGTH} ASCII "
            "letters, digits, '.', '_' or '-', and not '.' or '..'"
        )
    return value
