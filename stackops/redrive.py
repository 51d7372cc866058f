"""`python -m stackops redrive`: send a stack's parked work back, once its cause is fixed.

sqs: a dead-letter queue's messages go back to the queue they failed from. Every message of every DLQ:
``StartMessageMoveTask`` (SQS moves them itself). One delivery's, or those first sent since a time: each
message is received from the DLQ, sent to its source queue with the same body and attributes, then deleted
from the DLQ (at least once: a crash between the send and the delete leaves a copy in both, which the steps'
idempotence absorbs).

stepfunctions: the delivery's latest unsuccessful execution. A Standard execution that failed in a state
that can run again is redriven in place (``RedriveExecution``: it "continues the failed execution from the
unsuccessful step", keeping what succeeded). This product's machines catch every error to send the failure
notification and end in a ``Fail`` state, and redriving such an execution would continue from that ``Fail``
state and fail again; so such an execution, and any Express one (which has no redrive), is restarted: a
new execution with the same input, named as the receiver names a redelivery (``<name>-2``, ``-3``, ...:
``functions.common.dispatch.start_execution``), so a GitHub redelivery and an operator's redrive cannot
start the same work twice.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from functions.common import dispatch
from functions.common.dispatch import execution_name
from stackops.execution_history import from_history, from_log_lines
from stackops.log_search import FilterLogEventsSearch
from stackops.stack_outputs import StackOutputs
from stackops.trace import RECEIVER, attempts, base_name, message_correlation_id

UNSUCCESSFUL = ("FAILED", "TIMED_OUT", "ABORTED")
NO_INPUT = (
    "its input is not in the logs (the machine logs errors only) and the receiver did not start it: "
    "redrive the backfill that started it"
)
RECEIVE_WAIT_SECONDS = 1
#: How long a message received for a move stays invisible: long enough to send it and delete it.
MOVE_VISIBILITY_SECONDS = 60
Method = Literal["move task", "moved", "redriven", "restarted", "skipped"]


@dataclass(frozen=True)
class Redriven:
    method: Method
    #: the queue or execution it came from
    source: str
    #: the queue or execution it went to (empty when skipped or a dry run)
    target: str
    delivery_id: str | None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Redriver:
    def __init__(self, outputs: StackOutputs, *, dry_run: bool = False, clients: Callable[[str], Any] | None = None):
        self.outputs = outputs
        self.dry_run = dry_run
        self._make = clients or outputs.client
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._make(service)
        return self._clients[service]

    def redrive(self, *, delivery_id: str | None = None, since: datetime | None = None) -> list[Redriven]:
        """One delivery's parked work, or every failure (first sent or stopped ``since``, if given)."""
        if self.outputs.architecture == "sqs":
            return self._dead_letter_queues(delivery_id, since)
        return self._executions(delivery_id, since)

    # sqs

    def _dead_letter_queues(self, delivery_id: str | None, since: datetime | None) -> list[Redriven]:
        sqs = self.client("sqs")
        done: list[Redriven] = []
        for key, dlq_url in self.outputs.dead_letter_queue_urls.items():
            source_url = self.outputs.queue_urls[key]
            if delivery_id is None and since is None:
                done += self._move_task(dlq_url, source_url)
                continue
            since_ms = int(since.timestamp() * 1000) if since is not None else None
            kept: list[dict[str, Any]] = []  # handed back once the whole queue is read, not before
            for message in self._received(dlq_url):
                wanted = (delivery_id is None or message_correlation_id(message) == delivery_id) and (
                    since_ms is None or int(message["Attributes"].get("SentTimestamp", 0)) >= since_ms
                )
                if not wanted or self.dry_run:
                    kept.append(message)
                    if wanted:
                        done.append(
                            Redriven("moved", _queue_name(dlq_url), "", message_correlation_id(message), "dry run")
                        )
                    continue
                sqs.send_message(
                    QueueUrl=source_url,
                    MessageBody=message["Body"],
                    MessageAttributes=message.get("MessageAttributes", {}),
                )
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
                done.append(
                    Redriven("moved", _queue_name(dlq_url), _queue_name(source_url), message_correlation_id(message))
                )
            self._hand_back(dlq_url, kept)
        return done

    def _move_task(self, dlq_url: str, source_url: str) -> list[Redriven]:
        sqs = self.client("sqs")
        attributes = sqs.get_queue_attributes(
            QueueUrl=dlq_url, AttributeNames=["QueueArn", "ApproximateNumberOfMessages"]
        )["Attributes"]
        waiting = int(attributes.get("ApproximateNumberOfMessages", 0))
        if waiting == 0:
            return []
        detail = f"about {waiting} messages"
        if self.dry_run:
            return [Redriven("move task", _queue_name(dlq_url), "", None, f"{detail} (dry run)")]
        source_arn = sqs.get_queue_attributes(QueueUrl=source_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        handle = sqs.start_message_move_task(SourceArn=attributes["QueueArn"], DestinationArn=source_arn)["TaskHandle"]
        return [Redriven("move task", _queue_name(dlq_url), _queue_name(source_url), None, f"{detail}; task {handle}")]

    def _hand_back(self, dlq_url: str, messages: list[dict[str, Any]]) -> None:
        """Make the messages left in the DLQ visible again at once (they were hidden while it was read)."""
        sqs = self.client("sqs")
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for n, m in enumerate(messages[start : start + 10])
            ]
            sqs.change_message_visibility_batch(QueueUrl=dlq_url, Entries=entries)

    def _received(self, dlq_url: str) -> Iterator[dict[str, Any]]:
        """Every message of the DLQ once: each stays invisible (for the scan) until moved or handed back."""
        sqs = self.client("sqs")
        seen: set[str] = set()
        while True:
            messages = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
                VisibilityTimeout=MOVE_VISIBILITY_SECONDS,
                MessageAttributeNames=["All"],
                AttributeNames=["SentTimestamp"],
            ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:  # empty, or the scan outlasted the visibility timeout and came round again
                return
            seen.update(m["MessageId"] for m in fresh)
            yield from fresh

    # stepfunctions

    def _executions(self, delivery_id: str | None, since: datetime | None) -> list[Redriven]:
        sfn = self.client("stepfunctions")
        done: list[Redriven] = []
        for use_case, machine_arn in self.outputs.state_machine_arns.items():
            express = sfn.describe_state_machine(stateMachineArn=machine_arn)["type"] == "EXPRESS"
            failed: list[tuple[str, str, str | None]]
            if express:
                failed = self._failed_express(use_case, delivery_id, since)
            else:
                failed = list(self._failed_standard(machine_arn, delivery_id, since))
            for name, arn, input_text in failed:
                if input_text is None:
                    done.append(Redriven("skipped", name, "", None, NO_INPUT))
                    continue
                done.append(self._again(machine_arn, name, arn, input_text, express))
        return done

    def _failed_standard(
        self, machine_arn: str, delivery_id: str | None, since: datetime | None
    ) -> list[tuple[str, str, str]]:
        """(name, arn, input) of the latest attempt of each delivery, where that attempt is unsuccessful."""
        sfn = self.client("stepfunctions")
        latest: dict[str, dict[str, Any]] = {}
        if delivery_id is not None:
            described = self._latest_attempt(machine_arn, delivery_id)
            if described:
                latest[delivery_id] = described
        else:
            for status in UNSUCCESSFUL:
                for page in sfn.get_paginator("list_executions").paginate(
                    stateMachineArn=machine_arn, statusFilter=status
                ):
                    for execution in page["executions"]:
                        if since is not None and execution.get("stopDate") and execution["stopDate"] < since:
                            continue
                        base = base_name(execution["name"])
                        if base not in latest:  # a later attempt may have succeeded: only the latest counts
                            latest[base] = self._latest_attempt(machine_arn, base)
        return [
            (base, described["executionArn"], described.get("input", "{}"))
            for base, described in latest.items()
            if described["status"] in UNSUCCESSFUL
        ]

    def _latest_attempt(self, machine_arn: str, base: str) -> dict[str, Any]:
        """DescribeExecution of the newest of ``<base>``, ``<base>-2``, ...; empty if there is none."""
        newest = deque(attempts(self.client("stepfunctions"), machine_arn, base), maxlen=1)
        return newest[0] if newest else {}

    def _failed_express(
        self, use_case: str, delivery_id: str | None, since: datetime | None
    ) -> list[tuple[str, str, str | None]]:
        """From the machine's logs: executions whose last run of a name failed (Express keeps no history)."""
        group = self.outputs.state_machine_log_groups.get(use_case)
        if group is None:
            return []
        start_ms = int(since.timestamp() * 1000) if since is not None else 0
        end_ms = int(datetime.now().timestamp() * 1000) + 60_000
        search = FilterLogEventsSearch(self.client("logs"))
        needles = [execution_name(delivery_id)] if delivery_id is not None else ["ExecutionFailed", "ExecutionTimedOut"]
        names: set[str] = set()
        for needle in needles:
            for line in search.group_lines(group, needle, start_ms, end_ms):
                if delivery_id is not None or line.get("type") in ("ExecutionFailed", "ExecutionTimedOut"):
                    names.add(str(line.get("execution_arn", "")).split(":")[7])
        failed = []
        for name in sorted(n for n in names if n):
            runs: dict[str, list[dict[str, Any]]] = {}
            for line in search.group_lines(group, name, 0, end_ms):
                runs.setdefault(str(line.get("execution_arn")), []).append(line)
            if not runs:
                continue
            last_arn, last = max(runs.items(), key=lambda run: min(int(line["event_timestamp"]) for line in run[1]))
            events = from_log_lines(last)
            ended = next(
                (e for e in reversed(events) if e.type.startswith("Execution") and e.type != "ExecutionStarted"), None
            )
            started = next((e for e in events if e.type == "ExecutionStarted" and "input" in e.details), None)
            if ended is None or ended.type == "ExecutionSucceeded":
                continue
            base = base_name(name)
            if started is not None:
                input_text: str | None = str(started.details["input"])
            else:
                input_text = self._handed_over(search, base, end_ms)
            failed.append((base, last_arn, input_text))
        return failed

    def _handed_over(self, search: FilterLogEventsSearch, delivery_id: str, end_ms: int) -> str | None:
        """The input the receiver started the delivery's execution with (its "webhook accepted" line), for a
        machine whose logs hold no ``ExecutionStarted`` input (ERROR level); None for an execution the receiver
        did not start (a backfill's child)."""
        group = self.outputs.function_log_groups.get(RECEIVER)
        lines = search.group_lines(group, delivery_id, 0, end_ms) if group else []
        handed = [
            line["input"]
            for line in lines
            if line.get("message") == "webhook accepted"
            and line.get("correlation_id") == delivery_id
            and "input" in line
        ]
        return json.dumps(handed[-1]) if handed else None

    def _again(self, machine_arn: str, name: str, arn: str, input_text: str, express: bool) -> Redriven:
        label = arn.split(":")[-1] if not express else name
        if not express and not self._failed_in_fail_state(arn):
            if self.dry_run:
                return Redriven("redriven", label, "", _delivery(input_text), "dry run")
            self.client("stepfunctions").redrive_execution(executionArn=arn)
            return Redriven("redriven", label, label, _delivery(input_text), "RedriveExecution")
        if self.dry_run:
            return Redriven("restarted", label, "", _delivery(input_text), "dry run")
        started = dispatch.start_execution(machine_arn, name, input_text, self.client("stepfunctions"))
        return Redriven("restarted", label, started, _delivery(input_text), "a new execution with the same input")

    def _failed_in_fail_state(self, arn: str) -> bool:
        history = self.client("stepfunctions").get_execution_history(executionArn=arn, reverseOrder=True, maxResults=5)
        return any(event.type == "FailStateEntered" for event in from_history(history["events"]))


def _delivery(input_text: str) -> str | None:
    try:
        value = json.loads(input_text).get("correlationId")
    except (ValueError, AttributeError):
        return None
    return str(value) if value else None


def _queue_name(url: str) -> str:
    return url.rsplit("/", 1)[1]
