"""Billable units of the AWS API calls a stack made, from the emulator's call log (sandbox/api_calls.py).

Who called decides whether a call is the stack's: a function (signed as itself), the SQS pollers, or the
Step Functions engine's integrations. The sandbox's own reads (waiting for idle, reading tables back) are
signed otherwise and left out, and so are the pollers' ``GetQueueAttributes``: the sandbox's idle check,
not something Lambda's pollers do. Lambda ``Invoke`` requests and Step Functions API calls are not billed
as requests (invocations are metered from the runtime's records, executions from their histories).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sandbox.api_calls import ENGINE_ACCESS_KEY, POLLER_ACCESS_KEY, ApiCall, function_of
from stackops.billing_units import (
    ReadConsistency,
    dynamodb_read_units,
    dynamodb_write_units,
    sns_publishes,
    sqs_requests,
)
from stackops.tally import Tally

Caller = Literal["function", "poller", "states"]

#: Services whose requests are metered as requests here, and the unit they are priced in.
REQUEST_UNITS = {
    "secretsmanager": "api_requests",
    "kms": "requests",
    "monitoring": "metric_api_requests",  # CloudWatch's SigV4 service name
}
#: S3's cheaper request tier (https://aws.amazon.com/s3/pricing/); every other request is tier 1 (PUT, COPY,
#: POST, LIST) but DELETE, which is free.
S3_TIER2_OPERATIONS = frozenset({"GetObject", "HeadObject", "HeadBucket", "SelectObjectContent"})
S3_FREE_OPERATIONS = frozenset({"DeleteObject", "DeleteObjects"})
#: The short name the meter gives the stepfunctions backfill's page bucket (its physical name ends in a
#: random suffix: components/backfill_bucket.py).
BACKFILL_BUCKET = "backfill-pages"
#: The price table's service of a SigV4 service name, where they differ.
PRICED_AS = {"monitoring": "cloudwatch"}
#: The dimension naming the stack a product metric belongs to (functions/common/observability.py).
STACK_DIMENSION = "Stack"
#: Services whose calls are metered elsewhere (Lambda invokes from the runtime's records, Step Functions
#: executions from their histories) or are free.
NOT_REQUESTS = frozenset({"lambda", "states", "logs", "xray", "sts"})
_POLLER_CHECKS = frozenset({"GetQueueAttributes"})


def caller_kind(caller: str) -> Caller | None:
    """``function``, ``poller`` or ``states`` for the stack's own callers; None for the sandbox harness."""
    if function_of(caller) is not None:
        return "function"
    if caller == POLLER_ACCESS_KEY:
        return "poller"
    if caller == ENGINE_ACCESS_KEY:
        return "states"
    return None


def resource_name(call: ApiCall) -> str:
    """The physical name of the queue, table, topic, state machine or secret a call is about ("" if none)."""
    params = call.params
    if call.service == "sqs" and isinstance(params.get("QueueUrl"), str):
        return str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]
    if call.service == "dynamodb":
        if isinstance(params.get("TableName"), str):
            return str(params["TableName"])
        for entry in params.get("TransactItems") or []:
            for body in entry.values():
                if isinstance(body, Mapping) and isinstance(body.get("TableName"), str):
                    return str(body["TableName"])
        for table in params.get("RequestItems") or {}:  # BatchWriteItem: the tables it names, the first
            return str(table)
    if call.service == "sns" and isinstance(params.get("TopicArn"), str):
        return str(params["TopicArn"]).rsplit(":", 1)[-1]
    if call.service == "states":
        if isinstance(params.get("stateMachineArn"), str):
            return str(params["stateMachineArn"]).rsplit(":", 1)[-1]
        if isinstance(params.get("executionArn"), str):
            parts = str(params["executionArn"]).split(":")
            return parts[6] if len(parts) > 6 else ""
    if call.service == "s3" and isinstance(params.get("Bucket"), str):
        return str(params["Bucket"])
    if call.service == "secretsmanager" and isinstance(params.get("SecretId"), str):
        secret = str(params["SecretId"])
        return secret.split(":secret:", 1)[1] if ":secret:" in secret else secret
    return ""


@dataclass(frozen=True)
class StackNames:
    """How a stack's resources are named: ``<project>-<stack>-<short name>``."""

    stack: str
    prefix: str  # "github-automation-sandbox-sqs-"
    #: (physical name, short name) of resources named from a prefix with a unique suffix (secrets).
    aliases: tuple[tuple[str, str], ...] = ()

    def short(self, name: str) -> str | None:
        for physical, alias in self.aliases:
            if name.startswith(physical):  # a secret's ARN adds "-XXXXXX" to its name
                return alias
        return name[len(self.prefix) :] if name.startswith(self.prefix) else None


def owner(call: ApiCall, stacks: Iterable[StackNames]) -> StackNames | None:
    """The stack a call belongs to: by the resource it names, else by the function that made it (the
    longest matching prefix wins, so ``sandbox-sfn`` never claims ``sandbox-sfn-standard``'s calls)."""
    candidates = sorted(stacks, key=lambda s: len(s.prefix), reverse=True)
    for name in (resource_name(call), function_of(call.caller) or ""):
        for stack in candidates:
            if name and stack.short(name) is not None:
                return stack
    dimensioned = metric_stacks(call)  # a state machine's PutMetricData names no resource: its Stack dimension
    for stack in candidates:
        if stack.stack in dimensioned:
            return stack
    return None


def put_metric_data(call: ApiCall) -> list[Mapping[str, Any]]:
    """The datapoints of a ``PutMetricData`` call (none for any other call)."""
    if call.service != "monitoring" or call.operation != "PutMetricData":
        return []
    data = call.params.get("MetricData")
    return [datum for datum in data if isinstance(datum, Mapping)] if isinstance(data, list) else []


def _dimensions(datum: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    pairs = datum.get("Dimensions")
    if not isinstance(pairs, list):
        return ()
    return tuple(sorted((str(d.get("Name", "")), str(d.get("Value", ""))) for d in pairs if isinstance(d, Mapping)))


def metric_stacks(call: ApiCall) -> set[str]:
    """The ``Stack`` dimension values of a ``PutMetricData`` call's datapoints."""
    return {value for datum in put_metric_data(call) for name, value in _dimensions(datum) if name == STACK_DIMENSION}


def custom_metrics(calls: Iterable[ApiCall]) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """The (namespace, metric, dimensions) combinations ``PutMetricData`` calls put: custom metrics, as the
    embedded metric format lines' (``stackops.lambda_usage.custom_metrics``)."""
    return {
        (str(call.params.get("Namespace", "")), str(datum.get("MetricName", "")), _dimensions(datum))
        for call in calls
        for datum in put_metric_data(call)
    }


def _attribute_bytes(attributes: Any) -> int:
    """SQS/SNS message attributes count towards the payload: names, types and values."""
    if not isinstance(attributes, Mapping):
        return 0
    size = 0
    for name, value in attributes.items():
        size += len(str(name).encode())
        if isinstance(value, Mapping):
            size += len(str(value.get("DataType", "")).encode())
            size += len(str(value.get("StringValue", value.get("BinaryValue", ""))).encode())
    return size


def _message_bytes(message: Mapping[str, Any]) -> int:
    return len(str(message.get("MessageBody", message.get("Body", ""))).encode()) + _attribute_bytes(
        message.get("MessageAttributes")
    )


def sqs_payload_bytes(call: ApiCall) -> tuple[int, bool]:
    """(payload bytes the request is billed on, whether a ReceiveMessage came back empty)."""
    if call.operation == "SendMessage":
        return _message_bytes(call.params), False
    if call.operation == "SendMessageBatch":
        return sum(_message_bytes(entry) for entry in call.params.get("Entries") or []), False
    if call.operation == "ReceiveMessage":
        try:
            messages = json.loads(call.response or b"{}").get("Messages") or []
        except ValueError:
            messages = []
        return sum(_message_bytes(message) for message in messages), not messages
    return 0, False


def _write_bytes(item: Mapping[str, Any]) -> int:
    return max(item.get("before") or 0, item.get("after") or 0, item.get("sent") or 0)


def meter_call(call: ApiCall, stack: StackNames, tally: Tally, email_subscriptions: Mapping[str, int]) -> str | None:
    """Add one of the stack's calls to ``tally``; returns ``service:operation`` when the call is one this
    meter has no unit for (reported in the usage notes, never dropped silently), else None."""
    kind = caller_kind(call.caller)
    if kind is None or call.service in NOT_REQUESTS:
        return None
    resource = stack.short(resource_name(call)) or resource_name(call)
    if call.service == "sqs":
        if kind == "poller" and call.operation in _POLLER_CHECKS:
            return None
        payload, empty = sqs_payload_bytes(call)
        attributes = {"operation": call.operation, "caller": kind}
        if call.operation == "ReceiveMessage":
            attributes["empty"] = "true" if empty else "false"
        tally.add("sqs", "requests", sqs_requests(payload), resource, **attributes)
        return None
    if call.service == "sns" and call.operation == "Publish":
        size = len(str(call.params.get("Message", "")).encode()) + _attribute_bytes(
            call.params.get("MessageAttributes")
        )
        publishes = sns_publishes(size)
        tally.add("sns", "publishes", publishes, resource)
        emails = email_subscriptions.get(resource, 0)
        if emails:
            tally.add("sns", "email_deliveries", emails, resource)
        return None
    if call.service == "dynamodb":
        return _meter_dynamodb(call, stack, tally)
    if call.service == "s3":
        if call.operation not in S3_FREE_OPERATIONS:
            tier = "tier2_requests" if call.operation in S3_TIER2_OPERATIONS else "tier1_requests"
            tally.add("s3", tier, 1, resource, operation=call.operation)
        return None
    unit = REQUEST_UNITS.get(call.service)
    if unit is None:
        return f"{call.service}:{call.operation}"
    tally.add(PRICED_AS.get(call.service, call.service), unit, 1, resource, operation=call.operation)
    return None


def _meter_dynamodb(call: ApiCall, stack: StackNames, tally: Tally) -> str | None:
    items = call.notes.get("items")
    if not isinstance(items, list) or not items:
        return f"dynamodb:{call.operation}"
    transactional = call.operation.startswith("Transact")
    for item in items:
        table = stack.short(str(item["table"])) or str(item["table"])
        if item["action"] == "Get":
            consistency: ReadConsistency = (
                "transactional" if transactional else "strong" if call.params.get("ConsistentRead") else "eventual"
            )
            units = dynamodb_read_units(item.get("after") or 0, consistency)
            tally.add("dynamodb", "read_request_units", units, table, operation=call.operation)
            continue
        size = _write_bytes(item)
        tally.add(
            "dynamodb",
            "write_request_units",
            dynamodb_write_units(size, transactional),
            table,
            operation=call.operation,
        )
        if item["action"] == "ConditionCheck":
            continue  # a condition check writes no index
        for _ in range(int(item.get("indexes") or 0)):
            tally.add(
                "dynamodb",
                "write_request_units",
                dynamodb_write_units(size),
                table,
                operation=f"{call.operation} (index)",
            )
    return None
