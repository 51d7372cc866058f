"""Usage of deployed stacks on a real account, read from CloudWatch metrics over a period.

``read_usage(["dev", "dev-sfn"], since=timedelta(days=30))`` finds each stack's resources by its tag
(``stackops.aws_resources``), reads the sums of their metrics over the window (``stackops.cloudwatch``)
and turns them into the :class:`~stackops.usage.UsageReport` the sandbox meter writes too.

Deliveries: the receiver's ``WebhooksAccepted`` metric, per ``UseCase`` dimension, under the stack's
``Stack`` dimension (``functions/common/observability.py``).

Apportioning (how a resource shared by use cases is divided): each resource belongs to the use cases
whose path runs through it (``USE_CASES``: the receiver, store-records, the topic and the API to all
three; add-team-member, lookup-directory, the members table and the onboarding machine to member_added
and installation; price-workflow-run, the workflow-runs table and the chargeback machine to
workflow_run; list-org-members and the backfill machine to installation). A resource's total over the
window is divided by the deliveries of all its use cases together: every delivery that passes through
it is charged the same share. That is exact for a resource with one use case and an average otherwise
(an installation delivery fans out to one onboarding per member, so its real share is larger).

What CloudWatch gives and what it does not (each estimate is also written in the report's notes):

- Lambda: ``Invocations`` and ``Duration`` (Sum, ms). AWS bills each invoke's duration rounded up to the
  next millisecond; CloudWatch has only the unrounded sum, so billed ms per invoke is approximated by the
  mean duration (low by less than 1 ms per invoke).
- SQS counts messages, not requests: ``NumberOfMessagesSent`` (one SendMessage per message: the product
  sends one at a time), ``NumberOfMessagesReceived`` and ``NumberOfMessagesDeleted`` (the Lambda poller
  receives and deletes in batches: requests ~ messages / records per invoke), ``NumberOfEmptyReceives``
  (requests; the pollers' idle cost, kept per month in ``idle``).
- Step Functions: ``ExecutionsStarted`` per machine; ``ExecutionTime`` (Sum, ms) for Express billed
  duration (mean rounded up to 100 ms; memory taken at the 64 MB minimum: CloudWatch does not publish the
  billed memory). CloudWatch has no state-transition metric per machine: transitions of a STANDARD
  machine are counted from the execution histories of a sample of its executions in the window (each
  state entered, plus each retry of a task) and scaled to ``ExecutionsStarted``.
- DynamoDB: ``ConsumedWriteCapacityUnits`` / ``ConsumedReadCapacityUnits`` per table (on demand, the
  request units billed). API Gateway: ``Count`` per HTTP API. SNS: ``NumberOfMessagesPublished``, and
  ``NumberOfNotificationsDelivered`` as email deliveries when every subscription of the topic is email.
- CloudWatch Logs: ``IncomingBytes`` per log group (GB = 2^30 bytes), at the level configured.
- CloudWatch API requests: the per-event machines' ``RecordLatency`` makes one ``PutMetricData`` per
  datapoint, so the ``SampleCount`` of ``DeliveryLatency`` (``Stack``, ``UseCase``) of a stepfunctions stack
  counts them (sqs emits it as EMF log lines: no request).
- Not read: X-Ray traces (not a CloudWatch metric), Secrets Manager and KMS requests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import boto3

from stackops.aws_resources import DiscoveryError, Function, StackResources, StateMachine, discover
from stackops.cloudwatch import Metric, metric_sums
from stackops.usage import IdleUsage, StackUsage, UsageLine, UsageReport, UseCase, UseCaseUsage

ALL: tuple[UseCase, ...] = ("member_added", "workflow_run", "installation")
ONBOARDING: tuple[UseCase, ...] = ("member_added", "installation")
#: Which use cases run through a resource, by its short name (a queue's dead-letter queue as its queue).
USE_CASES: dict[str, tuple[UseCase, ...]] = {
    "receiver": ALL,
    "store-records": ALL,
    "notifications": ALL,
    "webhook": ALL,
    "add-team-member": ONBOARDING,
    "lookup-directory": ONBOARDING,
    "members": ONBOARDING,
    "saml-identities": ("installation",),
    "onboarding": ONBOARDING,
    "price-workflow-run": ("workflow_run",),
    "workflow-runs": ("workflow_run",),
    "chargeback": ("workflow_run",),
    "list-org-members": ("installation",),
    "backfill": ("installation",),
}
RECEIVER = "receiver"
#: (owner short name, lines whose quantities are the window's totals) for each resource.
Built = list[tuple[str, list[UsageLine]]]
#: Registers the metrics it needs when made; called once they are read, builds the lines.
Builder = Callable[[], Built]
DELIVERIES_METRIC = "WebhooksAccepted"
DEFAULT_METRICS_NAMESPACE = "GitHubAutomation"
GIB = 1024**3
MONTH = timedelta(days=30)
EXPRESS_MIN_MEMORY_MB = 64
#: The machines whose RecordLatency state puts ``DELIVERY_LATENCY`` (components/statemachines/*.asl.json).
LATENCY_MACHINES = frozenset({"onboarding", "chargeback"})
DELIVERY_LATENCY = "DeliveryLatency"
#: Standard executions whose history is read per machine to count transitions per execution.
TRANSITION_SAMPLE = 20

NOTES = [
    "aws: Lambda billed duration approximated by the mean Duration (AWS rounds each invoke up to 1 ms)",
    "aws: SQS requests estimated from message counts (receives and deletes in batches of the records per invoke)",
    "aws: Express billed memory taken at the 64 MB minimum; billed duration from the mean ExecutionTime",
    "aws: Standard transitions counted from a sample of execution histories, scaled to ExecutionsStarted",
    "aws: usage shared by use cases divided equally among the deliveries that pass through it",
    "aws: X-Ray traces, Secrets Manager and KMS requests are not read from CloudWatch",
]


def use_cases_of(short: str) -> tuple[UseCase, ...]:
    return USE_CASES.get(short.removesuffix("-dlq"), ALL)


def read_usage(
    stacks: Sequence[str],
    *,
    since: timedelta,
    until: datetime | None = None,
    session: boto3.session.Session | None = None,
    command: str = "",
) -> UsageReport:
    """Each stack's usage per delivery and use case over ``[until - since, until)`` (until: now, UTC)."""
    if since <= timedelta(0):
        raise ValueError(f"since: {since} must be a positive period")
    session = session or boto3.session.Session()
    end = (until or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    start = end - since
    notes = list(NOTES)
    usages = [_stack_usage(session, discover(session, stack), start, end, notes) for stack in stacks]
    return UsageReport(
        source="aws",
        command=command,
        generatedAt=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        period=f"{start.strftime('%Y-%m-%dT%H:%M:%SZ')}/{end.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        notes=notes,
        stacks=usages,
    )


class _Totals:
    """The window's metric sums of one stack, read in as few requests as possible."""

    def __init__(self, session: boto3.session.Session, resources: StackResources) -> None:
        self.resources = resources
        self.wanted: list[Metric] = []
        self.sums: dict[Metric, float] = {}
        self._cloudwatch = session.client("cloudwatch")

    def want(self, namespace: str, name: str, stat: str = "Sum", **dimensions: str) -> Metric:
        metric = Metric.of(namespace, name, dimensions, stat)
        self.wanted.append(metric)
        return metric

    def read(self, start: datetime, end: datetime) -> None:
        self.sums = metric_sums(self._cloudwatch, self.wanted, start, end)

    def __getitem__(self, metric: Metric) -> float:
        return self.sums[metric]


def _stack_usage(
    session: boto3.session.Session, resources: StackResources, start: datetime, end: datetime, notes: list[str]
) -> StackUsage:
    totals = _Totals(session, resources)
    receiver = next((f for f in resources.functions if f.short == RECEIVER), None)
    if receiver is None:
        raise DiscoveryError(f"stack {resources.stack!r}: no receiver function among its tagged resources")
    namespace = receiver.environment.get("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_METRICS_NAMESPACE)
    service = receiver.environment.get("POWERTOOLS_SERVICE_NAME", RECEIVER)
    delivered = {
        use_case: totals.want(namespace, DELIVERIES_METRIC, service=service, Stack=resources.stack, UseCase=use_case)
        for use_case in ALL
    }
    empty_receives = [totals.want("AWS/SQS", "NumberOfEmptyReceives", QueueName=q) for q in resources.queues]
    builders = [_lambda_lines(totals, f) for f in resources.functions]
    builders += [_queue_lines(totals, resources, q) for q in resources.queues]
    builders += [_table_lines(totals, t) for t in resources.tables]
    builders += [_topic_lines(totals, t, email) for t, email in resources.topics.items()]
    builders += [_api_lines(totals, api_id, name, resources) for api_id, name in resources.apis.items()]
    builders += [_log_lines(totals, g.name, g.short, _log_attributes(g)) for g in resources.log_groups]
    sfn = session.client("stepfunctions")
    builders += [_machine_lines(totals, sfn, m, start, end, notes) for m in resources.machines]
    builders += [
        _latency_lines(totals, namespace, resources.stack, m.short)
        for m in resources.machines
        if m.short in LATENCY_MACHINES
    ]
    totals.read(start, end)

    deliveries = {use_case: totals[metric] for use_case, metric in delivered.items()}
    lines: dict[UseCase, list[UsageLine]] = {use_case: [] for use_case in ALL}
    for build in builders:
        for owner, line_totals in build():
            sharing = use_cases_of(owner)
            through = sum(deliveries[u] for u in sharing)
            for use_case in sharing:
                if deliveries[use_case] > 0:
                    lines[use_case].extend(_per_delivery(line, through) for line in line_totals)
    for use_case, count in deliveries.items():
        if count == 0:
            notes.append(f"aws: {resources.stack}: no {use_case} delivery in the window")
    return StackUsage(
        stack=resources.stack,
        architecture=resources.architecture,
        workflowType=_workflow_type(resources),
        lambdaArchitecture=_lambda_architecture(receiver),
        useCases=[
            UseCaseUsage(useCase=use_case, deliveries=round(deliveries[use_case]), lines=lines[use_case])
            for use_case in ALL
        ],
        idle=IdleUsage(
            lines=_idle_lines(session, sum(totals[m] for m in empty_receives), resources, namespace, end - start)
        ),
    )


def _per_delivery(line: UsageLine, deliveries: float) -> UsageLine:
    """A total over the window divided by the deliveries it served; per-invoke attributes stay as they are."""
    attributes = dict(line.attributes)
    if "invokesPerDelivery" in attributes:
        attributes["invokesPerDelivery"] = float(attributes["invokesPerDelivery"]) / deliveries
    return line.model_copy(update={"quantity": line.quantity / deliveries, "attributes": attributes})


def _trigger(function: Function, resources: StackResources) -> str:
    if function.short == RECEIVER:
        return "http"
    if function.queue is not None:
        return "sqs"
    return "states" if resources.architecture == "stepfunctions" else "sqs"


def _lambda_lines(totals: _Totals, function: Function) -> Builder:
    invocations = totals.want("AWS/Lambda", "Invocations", FunctionName=function.name)
    duration = totals.want("AWS/Lambda", "Duration", FunctionName=function.name)
    received = (
        totals.want("AWS/SQS", "NumberOfMessagesReceived", QueueName=_queue_name(totals.resources, function.queue))
        if function.queue
        else None
    )

    def build() -> Built:
        invokes = totals[invocations]
        if invokes == 0:
            return []
        trigger = _trigger(function, totals.resources)
        request_attributes: dict[str, str | float] = {"trigger": trigger}
        if trigger == "sqs" and received is not None:
            request_attributes["recordsPerInvoke"] = totals[received] / invokes
        billed_ms = totals[duration] / invokes
        gb_seconds = invokes * billed_ms / 1000 * function.memory_mb / 1024
        return [
            (
                function.short,
                [
                    UsageLine(
                        service="lambda",
                        unit="requests",
                        quantity=invokes,
                        resource=function.short,
                        attributes=request_attributes,
                    ),
                    UsageLine(
                        service="lambda",
                        unit="gb_seconds",
                        quantity=gb_seconds,
                        resource=function.short,
                        attributes={
                            "architecture": function.architecture,
                            "memoryMb": float(function.memory_mb),
                            "billedMsPerInvoke": billed_ms,
                            "invokesPerDelivery": invokes,
                        },
                    ),
                ],
            )
        ]

    return build


def _queue_name(resources: StackResources, short: str | None) -> str:
    return next(q for q in resources.queues if resources.short(q) == short)


def _queue_lines(totals: _Totals, resources: StackResources, queue: str) -> Builder:
    short = resources.short(queue)
    sent = totals.want("AWS/SQS", "NumberOfMessagesSent", QueueName=queue)
    received = totals.want("AWS/SQS", "NumberOfMessagesReceived", QueueName=queue)
    deleted = totals.want("AWS/SQS", "NumberOfMessagesDeleted", QueueName=queue)
    consumer = next((f for f in resources.functions if f.queue == short), None)
    invocations = totals.want("AWS/Lambda", "Invocations", FunctionName=consumer.name) if consumer else None
    sender = "states" if resources.architecture == "stepfunctions" else "function"

    def build() -> Built:
        batches = totals[invocations] if invocations else 0.0
        per_batch = totals[received] / batches if batches else 1.0
        requests = [
            ("SendMessage", totals[sent], sender),
            ("ReceiveMessage", totals[received] / per_batch if per_batch else 0.0, "poller"),
            (
                "DeleteMessageBatch" if consumer else "DeleteMessage",
                totals[deleted] / per_batch if per_batch else 0.0,
                "poller" if consumer else "function",
            ),
        ]
        lines = [
            UsageLine(
                service="sqs",
                unit="requests",
                quantity=quantity,
                resource=short,
                attributes=_sqs_attributes(op, who),
            )
            for op, quantity, who in requests
            if quantity > 0
        ]
        return [(short, lines)] if lines else []

    return build


def _sqs_attributes(operation: str, caller: str) -> dict[str, str | float]:
    attributes: dict[str, str | float] = {"operation": operation, "caller": caller}
    if operation == "ReceiveMessage":
        attributes["empty"] = "false"
    return attributes


def _table_lines(totals: _Totals, table: str) -> Builder:
    short = totals.resources.short(table)
    writes = totals.want("AWS/DynamoDB", "ConsumedWriteCapacityUnits", TableName=table)
    reads = totals.want("AWS/DynamoDB", "ConsumedReadCapacityUnits", TableName=table)

    def build() -> Built:
        lines = [
            UsageLine(service="dynamodb", unit=unit, quantity=totals[metric], resource=short)
            for unit, metric in (("write_request_units", writes), ("read_request_units", reads))
            if totals[metric] > 0
        ]
        return [(short, lines)] if lines else []

    return build


def _topic_lines(totals: _Totals, topic: str, email_only: bool) -> Builder:
    short = totals.resources.short(topic)
    published = totals.want("AWS/SNS", "NumberOfMessagesPublished", TopicName=topic)
    delivered = totals.want("AWS/SNS", "NumberOfNotificationsDelivered", TopicName=topic)

    def build() -> Built:
        lines = [UsageLine(service="sns", unit="publishes", quantity=totals[published], resource=short)]
        if email_only:
            lines.append(UsageLine(service="sns", unit="email_deliveries", quantity=totals[delivered], resource=short))
        return [(short, [line for line in lines if line.quantity > 0])]

    return build


def _api_lines(totals: _Totals, api_id: str, name: str, resources: StackResources) -> Builder:
    short = resources.short(name)
    count = totals.want("AWS/ApiGateway", "Count", ApiId=api_id)

    def build() -> Built:
        if totals[count] == 0:
            return []
        return [
            (short, [UsageLine(service="apigateway", unit="http_requests", quantity=totals[count], resource=short)])
        ]

    return build


def _log_attributes(group: Any) -> dict[str, str | float]:
    attributes: dict[str, str | float] = {"source": group.source, "level": group.level}
    if group.include_execution_data is not None:
        attributes["includeExecutionData"] = "true" if group.include_execution_data else "false"
    return attributes


def _log_lines(totals: _Totals, group: str, owner: str, attributes: Mapping[str, str | float]) -> Builder:
    incoming = totals.want("AWS/Logs", "IncomingBytes", LogGroupName=group)

    def build() -> Built:
        if totals[incoming] == 0:
            return []
        line = UsageLine(
            service="logs",
            unit="ingested_gb",
            quantity=totals[incoming] / GIB,
            resource=owner,
            attributes=dict(attributes),
        )
        return [(owner, [line])]

    return build


def _machine_lines(
    totals: _Totals, sfn: Any, machine: StateMachine, start: datetime, end: datetime, notes: list[str]
) -> Builder:
    started = totals.want("AWS/States", "ExecutionsStarted", StateMachineArn=machine.arn)
    execution_time = totals.want("AWS/States", "ExecutionTime", StateMachineArn=machine.arn)

    def build() -> Built:
        executions = totals[started]
        if executions == 0:
            return []
        if machine.type == "EXPRESS":
            # AWS rounds each execution up to 100 ms, with 100 ms the least it bills
            billed_ms = max(100, math.ceil(totals[execution_time] / executions / 100) * 100)
            gb_seconds = executions * billed_ms / 1000 * EXPRESS_MIN_MEMORY_MB / 1024
            lines = [
                UsageLine(service="states", unit="express_requests", quantity=executions, resource=machine.short),
                UsageLine(
                    service="states",
                    unit="express_gb_seconds",
                    quantity=gb_seconds,
                    resource=machine.short,
                    attributes={
                        "billedMsPerExecution": float(billed_ms),
                        "billedMemoryMb": float(EXPRESS_MIN_MEMORY_MB),
                    },
                ),
            ]
            return [(machine.short, lines)]
        sample = transitions_per_execution(sfn, machine.arn, start, end)
        if sample is None:
            notes.append(f"aws: {machine.short}: no execution history in the window to count transitions from")
            return []
        mean, sampled = sample
        line = UsageLine(
            service="states",
            unit="standard_transitions",
            quantity=executions * mean,
            resource=machine.short,
            attributes={"sampledExecutions": float(sampled)},
        )
        return [(machine.short, [line])]

    return build


def _latency_lines(totals: _Totals, namespace: str, stack: str, machine: str) -> Builder:
    """The machine's ``PutMetricData`` requests: one per ``DeliveryLatency`` datapoint of its use cases."""
    points = [
        totals.want(namespace, DELIVERY_LATENCY, "SampleCount", Stack=stack, UseCase=use_case)
        for use_case in use_cases_of(machine)
    ]

    def build() -> Built:
        requests = sum(totals[point] for point in points)
        if requests == 0:
            return []
        attributes: dict[str, str | float] = {"operation": "PutMetricData"}
        line = UsageLine(service="cloudwatch", unit="metric_api_requests", quantity=requests, attributes=attributes)
        return [(machine, [line])]

    return build


def transitions(history: Iterable[Mapping[str, Any]]) -> int:
    """State transitions of one execution as AWS bills them: every state entered, and every retry of a task
    (a task scheduled again within one entry of its state)."""
    count = 0
    scheduled_in_state = 0
    for event in history:
        kind = str(event["type"])
        if kind.endswith("StateEntered"):
            count += 1
            scheduled_in_state = 0
        elif kind.endswith("Scheduled"):
            scheduled_in_state += 1
            if scheduled_in_state > 1:
                count += 1
    return count


def transitions_per_execution(
    sfn: Any, machine_arn: str, start: datetime, end: datetime, sample: int = TRANSITION_SAMPLE
) -> tuple[float, int] | None:
    """Mean transitions of up to ``sample`` closed executions started in the window, and how many were read."""
    counted: list[int] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn):
        for execution in page["executions"]:
            if execution["status"] == "RUNNING" or not start <= execution["startDate"] < end:
                continue
            events = [
                event
                for history_page in sfn.get_paginator("get_execution_history").paginate(
                    executionArn=execution["executionArn"]
                )
                for event in history_page["events"]
            ]
            counted.append(transitions(events))
            if len(counted) == sample:
                return sum(counted) / len(counted), len(counted)
    return (sum(counted) / len(counted), len(counted)) if counted else None


def _idle_lines(
    session: boto3.session.Session, empty: float, resources: StackResources, namespace: str, window: timedelta
) -> list[UsageLine]:
    """Per month: the pollers' empty receives (measured over the window), alarms, the product's metrics
    (one per name and dimension set under the stack's ``Stack`` dimension), secrets, keys."""
    per_month = MONTH / window
    custom_metrics = [
        metric
        for page in session.client("cloudwatch")
        .get_paginator("list_metrics")
        .paginate(Namespace=namespace, Dimensions=[{"Name": "Stack", "Value": resources.stack}])
        for metric in page["Metrics"]
    ]
    lines = [
        UsageLine(
            service="sqs",
            unit="requests",
            quantity=empty * per_month,
            attributes={"operation": "ReceiveMessage", "empty": "true", "caller": "poller"},
        ),
        UsageLine(service="cloudwatch", unit="alarms", quantity=resources.alarms),
        UsageLine(service="cloudwatch", unit="custom_metrics", quantity=len(custom_metrics)),
        UsageLine(service="secretsmanager", unit="secrets", quantity=resources.secrets),
        UsageLine(service="kms", unit="keys", quantity=resources.keys),
    ]
    return [line for line in lines if line.quantity > 0]


def _workflow_type(resources: StackResources) -> Literal["STANDARD", "EXPRESS"] | None:
    """The per-event machines' type (the backfill parent is always STANDARD)."""
    per_event = [m.type for m in resources.machines if m.short != "backfill"]
    return per_event[0] if per_event else None


def _lambda_architecture(receiver: Function) -> Literal["arm64", "x86_64"]:
    """The stack's CPU architecture (one for all its functions: ``lambdaArchitecture``)."""
    return "x86_64" if receiver.architecture == "x86_64" else "arm64"
