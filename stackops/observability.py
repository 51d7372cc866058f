"""The observability comparison's results: what answering "what happened to delivery X and why" took.

For each stack and each scenario (a success, a retried transient GitHub failure, a permanent failure, a
backfill with one failing member): the API calls and seconds `trace` needed, the places it looked in and
found something in, whether its answer shows inputs, outputs, retries and the failing step, and the answer
itself. Plus the product code that exists only for observability, per architecture.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Scenario = Literal["success", "retried", "permanent failure", "backfill with a failing member"]
SCENARIOS: tuple[Scenario, ...] = ("success", "retried", "permanent failure", "backfill with a failing member")


class TraceMeasure(BaseModel):
    design: str  # sqs, stepfunctions (Express per-event machines), stepfunctions-standard
    stack: str
    scenario: Scenario
    delivery_id: str
    outcome: str
    stopped_at: str
    steps: int
    api_calls: int
    api_calls_by_operation: dict[str, int]
    seconds: float
    places_looked_in: int
    places_with_data: int
    shows_inputs: bool
    #: None where the scenario has no retry, no failure, or no succeeded step to show
    shows_outputs: bool | None
    shows_retries: bool | None
    shows_failing_step: bool | None
    #: the `trace` output a person reads, as text
    rendered: str


class CodeShare(BaseModel):
    """Product code whose only job is observability, in one architecture (or in both)."""

    architecture: Literal["both", "sqs", "stepfunctions"]
    path: str
    what: str
    lines: int  # source lines: not blank, not comments, not docstrings (ASL: the JSON lines)


class ObservabilityReport(BaseModel):
    source: Literal["sandbox"] = "sandbox"
    command: str
    made_at: str
    measures: list[TraceMeasure] = Field(default_factory=list)
    code: list[CodeShare] = Field(default_factory=list)

    def code_lines(self, architecture: str) -> int:
        """Lines of ``architecture`` only ("sqs", "stepfunctions"), or of both ("both")."""
        return sum(share.lines for share in self.code if share.architecture == architecture)
