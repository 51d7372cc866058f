"""Store step of the sqs architecture: run a StoreRequest's write plan, then notify.

(The stepfunctions architecture runs the same plan through the native DynamoDB and SNS
integrations.) The plan is conditional: when DynamoDB cancels it only because its conditions
failed, the record was stored by an earlier delivery, so the step succeeds without notifying again.
"""

from __future__ import annotations

import threading
from functools import cache

import boto3
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from functions.common.adapter import sns_client, step_handler
from functions.common.models import StoreRequest
from functions.common.observability import logger
from functions.common.settings import settings

ALREADY_STORED_REASONS = frozenset({"ConditionalCheckFailed", "None"})


_CLIENT_LOCK = threading.Lock()


@cache
def dynamodb_client() -> BaseClient:
    # The adapter runs a batch's records in threads; creating clients from boto3's default session is
    # not thread-safe (using one client is).
    with _CLIENT_LOCK:
        return boto3.client("dynamodb")


def store_records(request: StoreRequest) -> None:
    if not _write(request):
        logger.info(
            "already stored by an earlier delivery: nothing written, nothing published",
            extra={"kind": request.kind},
        )
        return
    sns_client().publish(
        TopicArn=settings().need("notification_topic_arn"),
        Subject=request.notification.subject,
        Message=request.notification.message,
        MessageAttributes={
            "correlationId": {"DataType": "String", "StringValue": request.correlation_id},
            "kind": {"DataType": "String", "StringValue": request.kind},
        },
    )
    logger.info("stored and notified", extra={"kind": request.kind})


def _write(request: StoreRequest) -> bool:
    """Run the transaction; False when it was cancelled because everything is already there."""
    try:
        dynamodb_client().transact_write_items(TransactItems=request.transact_items)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise
        codes = {reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])}
        if "ConditionalCheckFailed" not in codes or not codes <= ALREADY_STORED_REASONS:
            raise  # a conflict, throttling or validation error: worth a retry or a look
        return False
    return True


handler = step_handler(store_records, StoreRequest)
