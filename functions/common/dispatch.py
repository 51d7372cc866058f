"""Hand an accepted webhook's message to the pipeline of the stack's architecture.

sqs: the message goes to the first queue. stepfunctions: it starts the state machine, named after the
delivery id, so a GitHub redelivery of the same delivery cannot start a second execution.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from typing import Any

import boto3
from botocore.client import BaseClient

from functions.common.models import Message
from functions.common.observability import logger
from functions.common.settings import Architecture

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


def execution_name(delivery_id: str) -> str:
    """A valid Step Functions execution name (1-80 of ``[0-9A-Za-z_-]``) for a delivery, the same every time.

    GitHub delivery ids are GUIDs and pass unchanged. Any other id is sanitized and truncated, with a
    hash of the original appended, so two different ids cannot collide into one name (the second
    would be taken for a redelivery of the first and silently dropped).
    """
    if _VALID_EXECUTION_NAME.fullmatch(delivery_id):
        return delivery_id
    digest = hashlib.sha256(delivery_id.encode()).hexdigest()[:EXECUTION_NAME_HASH_LENGTH]
    prefix = _NOT_ALLOWED_IN_EXECUTION_NAME.sub("_", delivery_id)
    return f"{prefix[: EXECUTION_NAME_MAX_LENGTH - EXECUTION_NAME_HASH_LENGTH - 1]}-{digest}"


def dispatch(architecture: Architecture, target: str, message: Message) -> None:
    """Send ``message`` to ``target``: a queue URL (sqs) or a state machine ARN (stepfunctions).

    AWS errors propagate: the caller answers 500 so that the delivery can be redelivered.
    """
    body = json.dumps(message.to_wire())
    if architecture == "sqs":
        sqs_client().send_message(
            QueueUrl=target, MessageBody=body, MessageAttributes=correlation_attributes(message.correlation_id)
        )
        return
    client = sfn_client()
    try:
        client.start_execution(stateMachineArn=target, name=execution_name(message.correlation_id), input=body)
    except client.exceptions.ExecutionAlreadyExists:
        logger.info("execution already started for this delivery: redelivery accepted", extra={"target": target})
