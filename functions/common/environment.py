"""Reading a function's environment with the standard library only (the receiver's hot path has no pydantic)."""

from __future__ import annotations

import os
from collections.abc import Mapping


class MissingSetting(RuntimeError):
    """A function needed an environment variable that its deployment did not set."""


def need(variable: str, environ: Mapping[str, str] = os.environ) -> str:
    """The value of ``variable``, which this function cannot work without, or say that it is missing."""
    value = environ.get(variable)
    if not value:
        raise MissingSetting(f"environment variable {variable} is not set")
    return value
