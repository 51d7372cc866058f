"""Store step of the sqs architecture: run a StoreRequest's write plan, notify, mark the notification.

(The stepfunctions architecture runs the same plan, publish and marker through the native DynamoDB and
SNS integrations.) Stored and notified are one idempotent unit:

- the plan is conditional: when DynamoDB cancels it only because its conditions failed, the record was
  stored by an earlier run (this message's earlier receive, a redelivery, or a backfill);
- after a successful publish, the plan's marker (``notified = true`` on the stored item) is set;
- a run that finds the record already stored reads the marker and the delivery that stored it (consistent
  read) and publishes only when the marker is missing and the item is its own delivery's: a publish that
  failed after the write is made good by the next receive; another delivery (a backfill next to a
  ``member_added``, at once or later) leaves the announcement to the one that stored it.

A failed publish raises ``NotificationPending`` (the record is retried and lands in the DLQ after
``maxReceiveCount``, where a redrive publishes only the notification). Duplicates of one record in the
same batch (a redelivery next to its original, a backfill next to a member_added) run one after another
(the handler's ``serial_key`` is the stored item), so the second finds the first stored and notified.
Beyond that, notifications are at least once: a crash between the publish and the marker, or two copies
of the same delivery in two concurrent invocations, can publish twice; a notification is never skipped.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError

from functions.common.adapter import sns_client, step_handler
from functions.common.errors import NotificationPending
from functions.common.models import STORED_BY, StoreRequest
from functions.common.observability import emit_delivery_latency, logger
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
        stored = _stored(request)
        if request.marker.notified_attribute in stored:
            logger.info(
                "already stored and notified by an earlier delivery: nothing written, nothing published",
                extra={"kind": request.kind},
            )
            return
        stored_by = stored.get(STORED_BY, {}).get("S")
        if stored_by is not None and stored_by != request.correlation_id:
            logger.info(
                "already stored by another delivery, which announces it: nothing written, nothing published",
                extra={"kind": request.kind, "storedBy": stored_by},
            )
            return
        logger.info("already stored, its notification is missing: publishing it", extra={"kind": request.kind})
    _notify(request)
    dynamodb_client().update_item(**request.marker.update_item_request())
    extra: dict[str, object] = {"kind": request.kind}
    if request.received_at is not None:  # stored and notified: the delivery's end-to-end latency
        extra["latencyMs"] = emit_delivery_latency(request.use_case, request.received_at, request.correlation_id)
    logger.info("stored and notified", extra=extra)


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


def _stored(request: StoreRequest) -> dict[str, Any]:
    """The stored item's marker and the delivery that stored it (low-level attribute JSON)."""
    item: dict[str, Any] = dynamodb_client().get_item(**request.marker.get_item_request()).get("Item", {})
    return item


def _notify(request: StoreRequest) -> None:
    try:
        sns_client().publish(
            TopicArn=settings().need("notification_topic_arn"),
            Subject=request.notification.subject,
            Message=request.notification.message,
            MessageAttributes={
                "correlationId": {"DataType": "String", "StringValue": request.correlation_id},
                "kind": {"DataType": "String", "StringValue": request.kind},
            },
        )
    except (ClientError, BotoCoreError) as error:
        raise NotificationPending(
            f"the {request.kind} is stored but its notification was not published ({error}); "
            "a retry or a redrive publishes only the notification"
        ) from error


def stored_item(request: StoreRequest) -> str:
    """What duplicates of a record have in common: the item they store and mark."""
    return request.marker.item_identity


handler = step_handler(store_records, StoreRequest, serial_key=stored_item)
