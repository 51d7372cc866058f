"""One sandbox (both stacks deployed into the embedded AWS, a fake GitHub) per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.environment import Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(time_scale=0.002) as running:
        yield running
