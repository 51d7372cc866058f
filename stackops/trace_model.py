"""What `trace` says about one delivery, in either architecture: its steps in time order and where it stopped.

The same shape for both, so a person (or the comparison) reads them alike: a step is one state of an
execution (stepfunctions) or one receive of a record by a function (sqs), with what it was given, what it
produced or why it failed, how often it was attempted and how long it took.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

StepStatus = Literal["succeeded", "failed", "caught", "running", "waiting"]
Outcome = Literal["succeeded", "failed", "parked", "running", "not found"]


class TraceStep(BaseModel):
    name: str
    #: the state's type (Task, Choice, Map, ...) or, in sqs, "Lambda"
    kind: str
    #: the execution or the function (log group) the step ran in
    where: str
    started_at: float | None = None  # epoch seconds
    ended_at: float | None = None
    status: StepStatus
    attempts: int = 1
    input: Any = None
    output: Any = None
    error: str | None = None
    cause: str | None = None
    #: sqs: how long the record had waited in its queue when it was received (milliseconds)
    queued_ms: float | None = None
    #: a Map iteration's index
    iteration: str | None = None
    #: sqs: the failure was the record's last receive, so the message went to the dead-letter queue
    parked: bool = False

    @property
    def duration_ms(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return round((self.ended_at - self.started_at) * 1000, 1)

    @property
    def retries(self) -> int:
        return max(0, self.attempts - 1)


class Place(BaseModel):
    """One place `trace` looked in: a log group, a queue, an execution, a state machine."""

    kind: Literal["log group", "queue", "dead-letter queue", "execution", "state machine"]
    name: str
    found: bool


class Cost(BaseModel):
    """What answering "what happened to delivery X" took."""

    api_calls: dict[str, int] = Field(default_factory=dict)  # "service.Operation" -> calls
    seconds: float = 0.0

    @property
    def total_calls(self) -> int:
        return sum(self.api_calls.values())


class Trace(BaseModel):
    delivery_id: str
    stack: str
    architecture: Literal["sqs", "stepfunctions"]
    outcome: Outcome
    #: where it stopped: the failing step, the dead-letter queue, the running state ("" when it succeeded)
    stopped_at: str = ""
    steps: list[TraceStep] = Field(default_factory=list)
    places: list[Place] = Field(default_factory=list)
    cost: Cost = Field(default_factory=Cost)
    notes: list[str] = Field(default_factory=list)

    def failing_steps(self) -> list[TraceStep]:
        return [step for step in self.steps if step.status in ("failed", "caught")]

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        for step, raw in zip(self.steps, data["steps"], strict=True):
            raw["durationMs"] = step.duration_ms
            raw["retries"] = step.retries
        data["cost"]["totalCalls"] = self.cost.total_calls
        return data
