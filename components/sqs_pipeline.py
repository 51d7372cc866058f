"""The sqs architecture: a queue with a dead-letter queue in front of every step that consumes work.

receiver -> add-team-member -> lookup-directory -> store-records; receiver -> price-workflow-run ->
store-records; receiver -> list-org-members -> (fan-out) add-team-member. Each step forwards its
result to the queue of the next one (``components.wiring.NEXT_STEP``); queues are created with the
names the functions were already told (``components.wiring``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import iam, wiring
from components.alarms import Alarms
from components.catalog import BUSINESS_FUNCTIONS, RECEIVER, STORE_RECORDS, FunctionSpec, Needs
from components.config import StackConfig
from components.lambda_function import LambdaFunction
from components.naming import Naming
from components.shared import METRICS_NAMESPACE, SharedResources

#: AWS: visibility timeout >= 6x the consumer's timeout, so a throttled batch can be retried in time.
VISIBILITY_TIMEOUT_FACTOR = 6
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum
#: A message keeps its first enqueue time in the dead-letter queue, so the source queue must keep
#: messages for less time than the dead-letter queue does (4 days is the SQS default).
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
MIN_MAXIMUM_CONCURRENCY = 2  # the lowest ScalingConfig.MaximumConcurrency Lambda accepts

_SPECS = {spec.key: spec for spec in (*BUSINESS_FUNCTIONS, STORE_RECORDS)}
#: Every step that consumes a queue, in pipeline order.
CONSUMERS: tuple[FunctionSpec, ...] = tuple(_SPECS[key] for key in wiring.NEXT_STEP)


@dataclass
class SqsPipelineArgs:
    config: StackConfig
    naming: Naming
    shared: SharedResources


def visibility_timeout_seconds(config: StackConfig, spec: FunctionSpec) -> int:
    """Long enough for Lambda to retry a throttled batch, plus the time the batch was being gathered."""
    return VISIBILITY_TIMEOUT_FACTOR * spec.timeout_seconds + config.sqs_batch_window_seconds


def maximum_concurrency(config: StackConfig) -> int:
    """Concurrent invocations per queue: as many members at once as the stepfunctions backfill Map runs.

    Both architectures then put the same parallel load on GitHub's rate limits.
    """
    return max(MIN_MAXIMUM_CONCURRENCY, config.backfill_max_concurrency)


def oldest_message_age_threshold_seconds(config: StackConfig, spec: FunctionSpec) -> int:
    """A failing message leaves for the dead-letter queue after maxReceiveCount visibility timeouts;
    a message older than that was never received: nobody is consuming the queue."""
    return config.max_receive_count * visibility_timeout_seconds(config, spec)


class SqsPipeline(pulumi.ComponentResource):
    queue_urls: dict[str, pulumi.Output[str]]
    dead_letter_queue_urls: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: SqsPipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("github-automation:sqs:SqsPipeline", name, None, opts)
        config, naming, shared = args.config, args.naming, args.shared
        child = pulumi.ResourceOptions(parent=self)

        functions: dict[str, LambdaFunction] = {
            spec.key: shared.new_function(spec, self) if spec is STORE_RECORDS else shared.functions[spec.key]
            for spec in CONSUMERS
        }

        queues: dict[str, aws.sqs.Queue] = {}
        dead_letter_queues: dict[str, aws.sqs.Queue] = {}
        for spec in CONSUMERS:
            key = spec.key
            dlq = aws.sqs.Queue(
                f"{name}-{key}-dlq",
                name=wiring.dead_letter_queue_name(naming, spec),
                message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
                sqs_managed_sse_enabled=True,
                opts=child,
            )
            queue = aws.sqs.Queue(
                f"{name}-{key}",
                name=wiring.queue_name(naming, spec),
                visibility_timeout_seconds=visibility_timeout_seconds(config, spec),
                message_retention_seconds=QUEUE_RETENTION_SECONDS,
                sqs_managed_sse_enabled=True,
                redrive_policy=pulumi.Output.json_dumps(
                    {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": config.max_receive_count}
                ),
                opts=child,
            )
            aws.sqs.RedriveAllowPolicy(
                f"{name}-{key}-dlq-redrive-allow",
                queue_url=dlq.url,
                redrive_allow_policy=pulumi.Output.json_dumps(
                    {"redrivePermission": "byQueue", "sourceQueueArns": [queue.arn]}
                ),
                opts=child,
            )
            queues[key], dead_letter_queues[key] = queue, dlq

        alarms = Alarms(name, naming, shared.topic.arn, self)
        for spec in CONSUMERS:
            key = spec.key
            function, queue = functions[key], queues[key]
            statements = [
                iam.allow(
                    [
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:ChangeMessageVisibility",
                        "sqs:GetQueueAttributes",
                    ],
                    [queue.arn],
                    sid="ConsumeOwnQueue",
                ),
                # a rate-limited record is re-sent to its own queue with a delay (functions/common/rate_limits.py);
                # a paginated step sends the request for its next page there (functions/common/adapter.py)
                iam.allow(["sqs:SendMessage"], [queue.arn], sid="DelayRateLimitedRecords"),
            ]
            next_step = wiring.NEXT_STEP[key]
            if next_step is not None:
                statements.append(iam.allow(["sqs:SendMessage"], [queues[next_step.key].arn], sid="ForwardToNextStep"))
            if Needs.NOTIFICATIONS not in spec.needs:  # a failure notification on a record's last receive
                statements.extend(shared.publish_statements())
            grant = function.grant(f"{name}-{key}-pipeline", statements, self)
            aws.lambda_.EventSourceMapping(
                f"{name}-{key}",
                event_source_arn=queue.arn,
                function_name=function.arn,
                batch_size=config.sqs_batch_size,
                maximum_batching_window_in_seconds=config.sqs_batch_window_seconds,
                function_response_types=["ReportBatchItemFailures"],
                scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(
                    maximum_concurrency=maximum_concurrency(config)
                ),
                # Lambda checks the role can receive from the queue when the mapping is created.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[grant]),
            )
            alarms.dead_letter_queue(key, dead_letter_queues[key].name, DEAD_LETTER_RETENTION_SECONDS)
            alarms.parked_records(
                key, METRICS_NAMESPACE, pulumi.get_stack(), function.function.name, spec.timeout_seconds
            )
            threshold = oldest_message_age_threshold_seconds(config, spec)
            alarms.backlog(
                key,
                queue.name,
                threshold,
                f"A message waited in {wiring.queue_name(naming, spec)} longer than its "
                f"{config.max_receive_count} receives could take ({threshold} s): the {key} "
                "step is not consuming (mapping disabled, throttled or failing to start).",
            )

        entry_queues = [queues[spec.key].arn for spec in wiring.ENTRY_STEP.values()]
        shared.functions[RECEIVER.key].grant(
            f"{name}-receiver-dispatch", [iam.allow(["sqs:SendMessage"], entry_queues, sid="DispatchToPipeline")], self
        )

        #: every function this pipeline consumes with, store-records (created here) included
        self.functions = functions
        self.dead_letter_queues = dead_letter_queues
        self.queue_urls = {key: queue.url for key, queue in queues.items()}
        self.dead_letter_queue_urls = {key: dlq.url for key, dlq in dead_letter_queues.items()}
        self.register_outputs({"queueUrls": self.queue_urls, "deadLetterQueueUrls": self.dead_letter_queue_urls})
