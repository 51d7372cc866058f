"""Count the product code that exists only for observability, per architecture.

The list says which code that is and why; the counting is mechanical (a Python module's source lines
without blanks, comments and docstrings; an ASL state's lines as JSON), so the figure moves with the code.
"""

from __future__ import annotations

import ast
import io
import json
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stackops.observability import CodeShare

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Share:
    architecture: Literal["both", "sqs", "stepfunctions"]
    path: str
    what: str
    #: ASL files: the states counted (None: a whole Python module)
    states: tuple[str, ...] | None = None


SHARES = (
    Share("both", "functions/common/observability.py", "one Logger, Tracer and Metrics per process, Stack dimension"),
    Share("both", "components/alarms.py", "alarms with the same meanings in both architectures"),
    Share("both", "components/dashboard.py", "the dashboard's widgets, checked against the stack"),
    Share("both", "components/observability.py", "dashboard, saved Logs Insights queries"),
    Share("both", "functions/common/tracing.py", "X-Ray: the delivery id on every trace, AWSTraceHeader on SQS sends"),
    Share("both", "functions/common/github_quota.py", "GitHub rate-limit headroom metric"),
    Share("sqs", "functions/common/tracking.py", "application-level tracking: a line per record a step finishes"),
    Share(
        "stepfunctions",
        "components/statemachines/onboarding.asl.json",
        "the end-to-end latency metric (a state: no Lambda runs last)",
        ("RecordLatency",),
    ),
    Share(
        "stepfunctions",
        "components/statemachines/chargeback.asl.json",
        "the end-to-end latency metric (a state: no Lambda runs last)",
        ("RecordLatency",),
    ),
)


def count(shares: tuple[Share, ...] = SHARES, root: Path = ROOT) -> list[CodeShare]:
    counted = []
    for share in shares:
        path = root / share.path
        if not path.exists():
            continue
        lines = _python_lines(path.read_text()) if share.states is None else _state_lines(path, share.states)
        if lines:
            counted.append(CodeShare(architecture=share.architecture, path=share.path, what=share.what, lines=lines))
    return counted


def _python_lines(source: str) -> int:
    """Lines holding code: tokens other than comments, newlines and docstrings."""
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    code: set[int] = set()
    skipped = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skipped:
            code.update(line for line in range(token.start[0], token.end[0] + 1) if line not in docstrings)
    return len(code)


def _state_lines(path: Path, states: tuple[str, ...]) -> int:
    definition = json.loads(path.read_text())
    found = _find_states(definition, set(states))
    return sum(len(json.dumps(state, indent=2).splitlines()) for state in found)


def _find_states(node: object, names: set[str]) -> list[object]:
    if isinstance(node, dict):
        found = [value for key, value in node.get("States", {}).items() if key in names] if "States" in node else []
        for value in node.values():
            found += _find_states(value, names)
        return found
    if isinstance(node, list):
        return [state for item in node for state in _find_states(item, names)]
    return []
