"""The alarms of a stack: one helper, so both architectures alarm on the same meanings, all to the topic.

Every alarm carries its meaning in the ``AlarmMeaning`` tag and as the last part of its name, so the two
architectures can be compared meaning by meaning (``tests/unit/test_observability.py``):

- ``function-errors``, ``function-throttles``: AWS/Lambda ``Errors`` and ``Throttles`` of every function;
- ``dlq-depth``, ``dlq-oldest-message``: every dead-letter queue (the stepfunctions architecture has none);
- ``executions-failed``, ``executions-timed-out``: Step Functions' execution metrics; their sqs equivalent
  is a record parked after its last receive (the ``StepParked`` product metric) and a consumer running
  into its timeout (a timed-out record is retried, then parked, without any handler code running);
- ``backlog-age``: sqs only, a source queue nobody consumes (Step Functions has no backlog to age).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.naming import Naming

MEANING_TAG = "AlarmMeaning"
FUNCTION_ERRORS = "function-errors"
FUNCTION_THROTTLES = "function-throttles"
DLQ_DEPTH = "dlq-depth"
DLQ_OLDEST_MESSAGE = "dlq-oldest-message"
EXECUTIONS_FAILED = "executions-failed"
EXECUTIONS_TIMED_OUT = "executions-timed-out"
BACKLOG_AGE = "backlog-age"
#: AWS/Lambda, AWS/SQS and AWS/States all publish every minute.
PERIOD_SECONDS = 60


@dataclass(frozen=True)
class AlarmArgs:
    """One alarm: ``metric`` of ``namespace`` crossing ``threshold`` within a minute."""

    key: str  #: the resource the alarm watches (a function key, a step, a state machine)
    meaning: str
    description: str
    namespace: str
    metric: str
    dimensions: Mapping[str, pulumi.Input[str]]
    statistic: str = "Sum"
    threshold: float = 0
    comparison: str = "GreaterThanThreshold"


class Alarms:
    """Creates alarms for one component, every one notifying ``topic_arn`` when it fires and recovers."""

    def __init__(self, prefix: str, naming: Naming, topic_arn: pulumi.Input[str], parent: pulumi.Resource) -> None:
        self._prefix, self._naming, self._topic_arn, self._parent = prefix, naming, topic_arn, parent

    def add(self, args: AlarmArgs) -> aws.cloudwatch.MetricAlarm:
        return aws.cloudwatch.MetricAlarm(
            f"{self._prefix}-{args.key}-{args.meaning}",
            name=self._naming(args.key, args.meaning),
            alarm_description=args.description,
            namespace=args.namespace,
            metric_name=args.metric,
            dimensions=dict(args.dimensions),
            statistic=args.statistic,
            period=PERIOD_SECONDS,
            evaluation_periods=1,
            comparison_operator=args.comparison,
            threshold=args.threshold,
            treat_missing_data="notBreaching",
            alarm_actions=[self._topic_arn],
            ok_actions=[self._topic_arn],
            tags={MEANING_TAG: args.meaning},
            opts=pulumi.ResourceOptions(parent=self._parent),
        )

    def function(self, key: str, function_name: pulumi.Input[str]) -> None:
        """Errors (timeouts included) and throttles of one function."""
        for meaning, metric, what in (
            (FUNCTION_ERRORS, "Errors", "failed (an error or a timeout)"),
            (FUNCTION_THROTTLES, "Throttles", "was throttled"),
        ):
            self.add(
                AlarmArgs(
                    key=key,
                    meaning=meaning,
                    description=f"An invocation of the {key} function {what}; see its log group.",
                    namespace="AWS/Lambda",
                    metric=metric,
                    dimensions={"FunctionName": function_name},
                )
            )

    def dead_letter_queue(self, key: str, queue_name: pulumi.Input[str], retention_seconds: int) -> None:
        """Messages waiting in a dead-letter queue, and the oldest of them halfway to being deleted."""
        self.add(
            AlarmArgs(
                key=key,
                meaning=DLQ_DEPTH,
                description=f"Messages of the {key} step wait in its dead-letter queue: fix the cause, then redrive.",
                namespace="AWS/SQS",
                metric="ApproximateNumberOfMessagesVisible",
                dimensions={"QueueName": queue_name},
                statistic="Maximum",
            )
        )
        # A message keeps its first enqueue time in the dead-letter queue: at half its retention the other
        # half is left to redrive it before SQS deletes it.
        half = retention_seconds // 2
        self.add(
            AlarmArgs(
                key=key,
                meaning=DLQ_OLDEST_MESSAGE,
                description=(
                    f"A message of the {key} step has waited {half} s, half the dead-letter queue's retention: "
                    "redrive it before it is deleted."
                ),
                namespace="AWS/SQS",
                metric="ApproximateAgeOfOldestMessage",
                dimensions={"QueueName": queue_name},
                statistic="Maximum",
                threshold=half,
            )
        )

    def backlog(self, key: str, queue_name: pulumi.Input[str], threshold_seconds: int, why: str) -> None:
        """A source queue's oldest message older than ``threshold_seconds``: nobody consumes it."""
        self.add(
            AlarmArgs(
                key=key,
                meaning=BACKLOG_AGE,
                description=why,
                namespace="AWS/SQS",
                metric="ApproximateAgeOfOldestMessage",
                dimensions={"QueueName": queue_name},
                statistic="Maximum",
                threshold=threshold_seconds,
            )
        )

    def executions(self, key: str, machine_name: str, machine_arn: pulumi.Input[str]) -> None:
        """Failed and timed-out executions: a timed-out execution is not counted as failed, and no
        ``Catch`` sees the execution's own timeout."""
        for meaning, metric, what in (
            (EXECUTIONS_FAILED, "ExecutionsFailed", "failed"),
            (EXECUTIONS_TIMED_OUT, "ExecutionsTimedOut", "timed out"),
        ):
            self.add(
                AlarmArgs(
                    key=key,
                    meaning=meaning,
                    description=f"An execution of {machine_name} {what}; see its history and logs.",
                    namespace="AWS/States",
                    metric=metric,
                    dimensions={"StateMachineArn": machine_arn},
                )
            )

    def parked_records(
        self, key: str, metrics_namespace: str, stack: str, function_name: pulumi.Input[str], timeout_seconds: int
    ) -> None:
        """The sqs equivalent of failed and timed-out executions.

        Failed: the step's handler counts ``StepParked`` on a record's last receive (its Powertools
        ``service`` dimension is the function key). Timed out: the consumer ran for its whole timeout
        (Lambda reports a timed-out invocation's duration as the timeout), so no handler code counted it.
        """
        self.add(
            AlarmArgs(
                key=key,
                meaning=EXECUTIONS_FAILED,
                description=f"A record of the {key} step failed its last receive: it waits in the dead-letter queue.",
                namespace=metrics_namespace,
                metric="StepParked",
                dimensions={"service": key, "Stack": stack},
            )
        )
        self.add(
            AlarmArgs(
                key=key,
                meaning=EXECUTIONS_TIMED_OUT,
                description=f"An invocation of the {key} step ran into its {timeout_seconds} s timeout.",
                namespace="AWS/Lambda",
                metric="Duration",
                dimensions={"FunctionName": function_name},
                statistic="Maximum",
                threshold=timeout_seconds * 1000,
                comparison="GreaterThanOrEqualToThreshold",
            )
        )
