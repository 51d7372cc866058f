"""One embedded AWS per test module: moto keeps its state per process, so modules take turns."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.aws import EmbeddedAws


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(time_scale=0.01) as embedded:
        yield embedded
