"""`python -m sandbox`: the emulator's own logging goes to a file, not into the report on the terminal."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.cli import log_to_file


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers[len(handlers) :]:
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_failed_state_s_log_goes_to_the_file_and_not_to_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    path = log_to_file(tmp_path / "sandbox" / "sandbox.log")

    # what moto's ASL engine logs for every failed state (moto/stepfunctions/parser/asl/component/eval_component.py)
    logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").error(
        "%s at '%s'", "Exception=FailureEventException, Error=GitHubRequestRejected", "(StateFail| {...})"
    )

    captured = capsys.readouterr()
    assert "FailureEventException" not in captured.err + captured.out
    assert "Exception=FailureEventException, Error=GitHubRequestRejected at '(StateFail| {...})'" in path.read_text()
