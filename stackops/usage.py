"""Metered usage: the billable units a stack consumed per delivery, whichever way they were measured.

One schema for both sources, so the cost model (``stackops.cost_model``) and the report never know
where the figures came from:

- the sandbox meters every AWS call the stacks make, Lambda invokes and their billed duration, Step
  Functions transitions from the execution histories, item sizes, log bytes (``stackops.sandbox_meter``);
- a real account gives the same units from CloudWatch metrics over a period (``stackops.aws_usage``).

A :class:`UsageLine` is one billable unit of one resource, already rounded the way AWS bills it (a
Lambda invoke's duration to the next millisecond, an SQS request to 64 KiB chunks, an Express execution
to 100 ms and 64 MB, a DynamoDB write to 1 KB units, doubled when transactional), divided by the number
of deliveries it came from. ``attributes`` keep what a cost lever needs to recompute the line under
another configuration (memory size, CPU architecture, log level, batch size): the cost model never
guesses them.

Units (``service``/``unit``, the keys of the price table, ``stackops/data/aws_prices.json``):

==============  ==========================  =====================================================
service         unit                        one of it is
==============  ==========================  =====================================================
apigateway      http_requests               an HTTP API request (512 KB chunks)
lambda          requests                    an invoke
lambda          gb_seconds                  billed ms x memory (attributes: architecture, memoryMb,
                                            billedMs = the mean billed duration of an invoke)
sqs             requests                    an API request, 64 KiB chunks (attributes: operation,
                                            e.g. ReceiveMessage, and empty = "true" for receives
                                            that returned nothing)
states          standard_transitions        a state transition of a STANDARD execution (retries,
                                            Map iterations and child executions included)
states          express_requests            an EXPRESS execution started
states          express_gb_seconds          billed 100 ms x 64 MB chunks of an EXPRESS execution
dynamodb        write_request_units         on-demand write units (transactional 2x, per 1 KB)
dynamodb        read_request_units          on-demand read units (4 KB, eventual 0.5, transactional 2x)
sns             publishes                   a publish, 64 KB chunks
sns             email_deliveries            a notification delivered to an email subscriber
logs            ingested_gb                 log bytes written (attributes: logGroup kind, level)
xray            traces_recorded             a trace recorded (after sampling)
cloudwatch      metric_api_requests         a PutMetricData / GetMetricData request
secretsmanager  api_requests                a GetSecretValue and friends
kms             requests                    a KMS request
==============  ==========================  =====================================================

Idle units are per month, not per delivery (:class:`IdleUsage`): alarms, custom metrics, dashboards,
secrets, KMS keys, the SQS pollers' empty receives, log storage.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

UseCase = Literal["member_added", "workflow_run", "installation"]
Source = Literal["sandbox", "aws"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class UsageLine(_Model):
    """One billable unit of one resource, per delivery (or per month in :class:`IdleUsage`)."""

    service: str
    unit: str
    quantity: float = Field(ge=0)
    resource: str = ""  # the function, queue, state machine, table or topic (its short name)
    attributes: dict[str, str | float] = Field(default_factory=dict)


class UseCaseUsage(_Model):
    """What one use case cost in units: ``lines`` are per delivery, averaged over ``deliveries``."""

    use_case: UseCase = Field(alias="useCase")
    deliveries: int = Field(ge=0)
    lines: list[UsageLine]
    #: End-to-end latency per delivery (webhook sent -> its last notification), seconds, where measured.
    latency_seconds: list[float] = Field(default_factory=list, alias="latencySeconds")


class IdleUsage(_Model):
    """What a deployed stack costs with no traffic, per month."""

    lines: list[UsageLine]


class StackUsage(_Model):
    """One deployed stack: its architecture and what it consumed."""

    stack: str
    architecture: Literal["sqs", "stepfunctions"]
    workflow_type: Literal["STANDARD", "EXPRESS"] | None = Field(default=None, alias="workflowType")
    lambda_architecture: Literal["arm64", "x86_64"] = Field(alias="lambdaArchitecture")
    use_cases: list[UseCaseUsage] = Field(alias="useCases")
    idle: IdleUsage

    @property
    def label(self) -> str:
        """``sqs``, ``stepfunctions-EXPRESS``: how the report names the stack's design."""
        return self.architecture if self.workflow_type is None else f"{self.architecture}-{self.workflow_type}"


class UsageReport(_Model):
    """``build/compare/usage.json``."""

    source: Source
    command: str  # the command line that produced it, so every figure can be traced and rerun
    generated_at: str = Field(alias="generatedAt")  # ISO 8601, UTC
    period: str = ""  # aws: the metrics' window, e.g. "2026-11-01T00:00:00Z/2026-12-01T00:00:00Z"
    notes: list[str] = Field(default_factory=list)  # e.g. "Lambda durations measured on this machine"
    stacks: list[StackUsage]
