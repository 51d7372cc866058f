"""Hand an accepted webhook's message to the pipeline of the stack's architecture.

sqs: the message goes to the first queue. stepfunctions: it starts the state machine, named after the
delivery id. What a GitHub redelivery (same delivery id) then does depends on the machine's type:

- STANDARD rejects a reused name with ``ExecutionAlreadyExists``, for closed executions too (for 90
  days). The receiver then describes that execution: RUNNING, SUCCEEDED or PENDING_REDRIVE, the
  redelivery is a duplicate and starts nothing; FAILED, TIMED_OUT or ABORTED, it starts a new attempt
  named ``<name>-2``, ``-3``, ... (the first free or still live one), so a delivery that failed can be
  redelivered once its cause is fixed, as in sqs. ``RedriveExecution`` would resume only FAILED,
  TIMED_OUT or ABORTED executions of the last 14 days from the failed state with the old input, and
  moto 5.2.5 does not implement it; a new attempt behaves the same on AWS and in the sandbox.
- EXPRESS names are not unique (Express is at-least-once): every redelivery starts a new execution,
  and the conditional writes make the duplicate change nothing.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from typing import Any

import boto3
from botocore.client import BaseClient

from functions.common.json_logging import logger

#: Statuses of a Standard execution under which a redelivery of its delivery is a duplicate.
IN_PROGRESS_OR_DONE = frozenset({"RUNNING", "SUCCEEDED", "PENDING_REDRIVE"})
#: Attempts of one delivery the receiver checks before giving up (each costs a StartExecution and a
#: DescribeExecution: this bounds the receiver's work within GitHub's 10 s).
MAX_ATTEMPTS = 20

EXECUTION_NAME_MAX_LENGTH = 80
EXECUTION_NAME_HASH_LENGTH = 16
_VALID_EXECUTION_NAME = re.compile(r"[0-9A-Za-z_-]{1,80}")
_NOT_ALLOWED_IN_EXECUTION_NAME = re.compile(r"[^0-9A-Za-z_-]")


@cache
def sqs_client() -> BaseClient:
    return boto3.client("sqs")


@cache
def sfn_client() -> BaseClient:
    return boto3.client("stepfunctions")


def correlation_attributes(correlation_id: str) -> dict[str, Any]:
    """The SQS message attributes every pipeline message carries."""
    return {"correlationId": {"DataType": "String", "StringValue": correlation_id}}


def execution_name(delivery_id: str, attempt: int = 1) -> str:
    """A valid Step Functions execution name (1-80 of ``[0-9A-Za-z_-]``) for a delivery's ``attempt``.

    The first attempt of a GitHub delivery id (a GUID) is the id unchanged; attempt n > 1 appends
    ``-n``. Any other id is sanitized and truncated, with a hash of the original appended, so two
    different ids cannot collide into one name (the second would be taken for a redelivery of the
    first and silently dropped). An attempt name ``<id>-<n>`` could only equal another delivery's
    first name if that delivery's id were literally ``<id>-<n>``: GitHub's ids are GUIDs, and a GUID
    followed by ``-<n>`` is not one.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, not {attempt}")
    suffix = "" if attempt == 1 else f"-{attempt}"
    room = EXECUTION_NAME_MAX_LENGTH - len(suffix)
    if _VALID_EXECUTION_NAME.fullmatch(delivery_id) and len(delivery_id) <= room:
        return delivery_id + suffix
    digest = hashlib.sha256(delivery_id.encode()).hexdigest()[:EXECUTION_NAME_HASH_LENGTH]
    prefix = _NOT_ALLOWED_IN_EXECUTION_NAME.sub("_", delivery_id)
    return f"{prefix[: room - EXECUTION_NAME_HASH_LENGTH - 1]}-{digest}{suffix}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of a Standard machine's execution: ``arn:...:stateMachine:<m>`` -> ``arn:...:execution:<m>:<name>``."""
    prefix, separator, machine = state_machine_arn.rpartition(":stateMachine:")
    if not separator or not machine:
        raise ValueError(f"not a state machine ARN: {state_machine_arn!r}")
    return f"{prefix}:execution:{machine}:{name}"


class RedeliveryLimitExceeded(RuntimeError):
    """Every attempt name a delivery may use is taken by a closed, unsuccessful execution."""


def dispatch(
    architecture: str, target: str, correlation_id: str, body: str, system_attributes: dict[str, Any] | None = None
) -> None:
    """Send the message ``body`` of delivery ``correlation_id`` to ``target``: a queue URL (sqs, with
    ``system_attributes``: the trace header) or a state machine ARN (stepfunctions).

    AWS errors propagate: the caller answers 500 so that the delivery can be redelivered.
    """
    if architecture == "sqs":
        sqs_client().send_message(
            QueueUrl=target,
            MessageBody=body,
            MessageAttributes=correlation_attributes(correlation_id),
            **(system_attributes or {}),
        )
        return
    start_execution(target, correlation_id, body)


def start_execution(state_machine_arn: str, delivery_id: str, body: str, client: BaseClient | None = None) -> str:
    """Start the delivery's execution unless a live or successful one exists; return the name used.

    See the module docstring for why a closed unsuccessful attempt is followed by a new one. ``client``:
    the receiver's own by default; `python -m stackops redrive` passes the stack's.
    """
    client = client or sfn_client()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        name = execution_name(delivery_id, attempt)
        try:
            client.start_execution(stateMachineArn=state_machine_arn, name=name, input=body)
            if attempt > 1:
                logger.info(
                    "earlier attempts of this delivery did not succeed: started a new one",
                    extra={"target": state_machine_arn, "execution_name": name, "attempt": attempt},
                )
            return name
        except client.exceptions.ExecutionAlreadyExists:
            status = client.describe_execution(executionArn=execution_arn(state_machine_arn, name))["status"]
            if status in IN_PROGRESS_OR_DONE:
                logger.info(
                    "execution already started for this delivery: redelivery accepted",
                    extra={"target": state_machine_arn, "execution_name": name, "status": status},
                )
                return name
    raise RedeliveryLimitExceeded(
        f"delivery {delivery_id!r}: all {MAX_ATTEMPTS} attempts on {state_machine_arn} ended FAILED, "
        "TIMED_OUT or ABORTED; investigate before redelivering"
    )
