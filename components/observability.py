"""What a person on call looks at, the same for both architectures: alarms on every function, one dashboard,
and the saved Logs Insights queries, all built from what the stack's components created."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.alarms import Alarms
from components.catalog import BUSINESS_FUNCTIONS, LOOKUP_DIRECTORY, RECEIVER, Needs
from components.dashboard import USE_CASES, Metric, StackInventory, Widget, dashboard_body
from components.lambda_function import LambdaFunction
from components.naming import Naming

DELIVERIES = "Deliveries received, accepted, ignored, rejected"
STEP_ERRORS = "Errors per step"
PARKED = "DLQ depth / failed executions"
THROTTLES = "Throttles"
LATENCY = "End-to-end latency (received -> stored and notified, ms)"
#: The latency percentiles graphed per use case.
LATENCY_STATS = ("p50", "p99")
GITHUB_HEADROOM = "GitHub rate-limit headroom"
#: The GitHub rate-limit resources each function's calls count against (``x-ratelimit-resource``): the
#: directory lookup asks GraphQL for the SAML identity, the others call REST.
GITHUB_RESOURCES: Mapping[str, tuple[str, ...]] = {LOOKUP_DIRECTORY.key: ("graphql",)}
#: Logs Insights takes no parameters: the saved query is opened in the console and this text replaced.
DELIVERY_ID_PLACEHOLDER = "REPLACE-WITH-DELIVERY-ID"
#: Every function logs the delivery id as Powertools' ``correlation_id``; a Standard state machine's log
#: lines name the execution, which is named after the delivery (functions/common/dispatch.py).
ONE_DELIVERY_QUERY = f"""fields @timestamp, @log, service, level, message, type, execution_arn
| filter correlation_id = "{DELIVERY_ID_PLACEHOLDER}" or @message like "{DELIVERY_ID_PLACEHOLDER}"
| sort @timestamp asc"""
#: Error lines of the functions (Powertools and the Lambda runtime log at ERROR), failed and timed-out
#: states and executions of the state machines. The time range is the console's (its default: 1 hour).
FAILURES_QUERY = """fields @timestamp, @log, service, level, message, correlation_id, type, execution_arn
| filter level = "ERROR" or type in ["TaskFailed", "LambdaFunctionFailed", "LambdaFunctionTimedOut",
    "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"]
| sort @timestamp desc"""


@dataclass
class ObservabilityArgs:
    naming: Naming
    stack: str
    metrics_namespace: str
    region: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    #: every function of the stack, by key
    functions: Mapping[str, LambdaFunction]
    #: sqs: every dead-letter queue, by step key
    dead_letter_queues: Mapping[str, aws.sqs.Queue] = field(default_factory=dict)
    #: stepfunctions: every state machine, by use case
    state_machines: Mapping[str, aws.sfn.StateMachine] = field(default_factory=dict)
    #: the log groups the functions do not own (the state machines')
    other_log_groups: Mapping[str, aws.cloudwatch.LogGroup] = field(default_factory=dict)


def widgets(
    stack: str,
    namespace: str,
    function_names: Mapping[str, str],
    dead_letter_queue_names: Mapping[str, str],
    state_machine_arns: Mapping[str, str],
) -> list[Widget]:
    """The dashboard's widgets: the same titles in both architectures, the parked work of whichever it is."""
    receiver = {"service": RECEIVER.key, "Stack": stack}
    deliveries = [
        Metric("AWS/Lambda", "Invocations", {"FunctionName": function_names[RECEIVER.key]}, "received"),
        *(Metric(namespace, "WebhooksAccepted", receiver | {"UseCase": u}, f"accepted: {u}") for u in USE_CASES),
        Metric(namespace, "WebhooksIgnored", receiver, "ignored"),
        Metric(namespace, "WebhooksRejected", receiver, "rejected"),
    ]
    parked = [
        Metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": name}, f"{key} DLQ", "Maximum")
        for key, name in dead_letter_queue_names.items()
    ] + [
        Metric("AWS/States", metric, {"StateMachineArn": arn}, f"{use_case.lower()} {what}")
        for use_case, arn in state_machine_arns.items()
        for metric, what in (("ExecutionsFailed", "failed"), ("ExecutionsTimedOut", "timed out"))
    ]
    latency = [
        Metric(namespace, "DeliveryLatency", {"Stack": stack, "UseCase": u}, f"{u} {stat}", stat)
        for u in USE_CASES
        for stat in LATENCY_STATS
    ]
    return [
        Widget(DELIVERIES, deliveries),
        Widget(LATENCY, latency),
        Widget(
            STEP_ERRORS, [Metric("AWS/Lambda", "Errors", {"FunctionName": n}, k) for k, n in function_names.items()]
        ),
        Widget(PARKED, parked),
        Widget(
            THROTTLES, [Metric("AWS/Lambda", "Throttles", {"FunctionName": n}, k) for k, n in function_names.items()]
        ),
        Widget(GITHUB_HEADROOM, github_headroom(stack, namespace, function_names)),
    ]


def github_headroom(stack: str, namespace: str, function_names: Mapping[str, str]) -> list[Metric]:
    """The least GitHub quota left (``GitHubRateLimitRemaining``, Minimum) of every function that calls GitHub."""
    callers = [spec.key for spec in BUSINESS_FUNCTIONS if Needs.GITHUB_APP_SECRET in spec.needs]
    return [
        Metric(
            namespace,
            "GitHubRateLimitRemaining",
            {"service": key, "Stack": stack, "Resource": resource},
            f"{key} ({resource})",
            "Minimum",
        )
        for key in callers
        if key in function_names
        for resource in GITHUB_RESOURCES.get(key, ("core",))
    ]


class Observability(pulumi.ComponentResource):
    dashboard: aws.cloudwatch.Dashboard

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("github-automation:observability:Observability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        alarms = Alarms(name, args.naming, args.topic_arn, self)
        for key, function in args.functions.items():
            alarms.function(key, function.function.name)

        function_names = {key: fn.function.name for key, fn in args.functions.items()}
        queue_names = {key: queue.name for key, queue in args.dead_letter_queues.items()}
        machine_arns = {key: machine.arn for key, machine in args.state_machines.items()}

        def body(resolved: list[object]) -> str:
            functions_, queues_, machines_, region = resolved
            assert isinstance(functions_, dict) and isinstance(queues_, dict) and isinstance(machines_, dict)
            inventory = StackInventory(
                stack=args.stack,
                product_namespace=args.metrics_namespace,
                resources={
                    "FunctionName": frozenset(functions_.values()),
                    "QueueName": frozenset(queues_.values()),
                    "StateMachineArn": frozenset(machines_.values()),
                },
            )
            return dashboard_body(
                widgets(args.stack, args.metrics_namespace, functions_, queues_, machines_), inventory, str(region)
            )

        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args.naming("dashboard"),
            dashboard_body=pulumi.Output.all(function_names, queue_names, machine_arns, args.region).apply(body),
            opts=child,
        )
        log_groups = [fn.log_group.name for fn in args.functions.values()]
        log_groups += [group.name for group in args.other_log_groups.values()]
        self.queries = {
            slug: aws.cloudwatch.QueryDefinition(
                f"{name}-{slug}",
                name=f"{args.naming.prefix}/{slug}",
                query_string=query,
                log_group_names=log_groups,
                opts=child,
            )
            for slug, query in (("one-delivery", ONE_DELIVERY_QUERY), ("failures-last-hour", FAILURES_QUERY))
        }
        self.register_outputs({"dashboardName": self.dashboard.dashboard_name})
