"""The GitHub App webhook endpoint (API Gateway HTTP API, payload format 2.0).

It verifies the delivery, turns a handled event into its pipeline message and hands it over, then
answers 202 at once: GitHub waits 10 s and never retries on its own, so the work happens behind the
queue or the state machine. An AWS failure answers 500, so the delivery shows as failed in GitHub and
can be redelivered (same delivery id: the pipeline is idempotent on it).

Its cold start is on GitHub's clock, so its path imports the standard library and boto3 only (a test
holds it to that): no pydantic, no Powertools, no X-Ray SDK. It reads its settings from the environment
(``functions.common.environment``), the payload with ``functions.webhook_events``, logs and counts with
``functions.common.json_logging`` and ``functions.common.emf`` (the lines and metric documents the other
functions write with Powertools) and traces with ``functions.common.xray_daemon``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from botocore.exceptions import BotoCoreError, ClientError

from functions.common import dispatch as pipeline
from functions.common import emf, secret_cache, xray_header
from functions.common.dispatch import RedeliveryLimitExceeded
from functions.common.emf import USE_CASE_DIMENSION, EmfMetrics
from functions.common.environment import MissingSetting, need
from functions.common.events import HttpApiRequest
from functions.common.json_logging import logger
from functions.common.xray_daemon import Tracer
from functions.webhook_events import Ignored, MalformedWebhook, Outgoing, to_outgoing

SIGNATURE_PREFIX = "sha256="
#: GitHub's payloads nest 7 levels at most; a bound far below Python's recursion limit keeps json.loads safe.
MAX_JSON_DEPTH = 64
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
ACCEPTED_TYPES = f"GitHub sends {JSON_TYPE} or {FORM_TYPE}"
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = bytes(byte for byte in range(256) if byte not in b"[]{}")
AWS_ERRORS = (ClientError, BotoCoreError)
ARCHITECTURES = ("sqs", "stepfunctions")
DEFAULT_MAX_WEBHOOK_BYTES = 1024 * 1024

#: Which variable names the target (queue URL or state machine ARN) of each message.
TARGET_VARIABLE: dict[str, str] = {
    "MemberRef": "ONBOARDING_TARGET",
    "WorkflowRunRef": "CHARGEBACK_TARGET",
    "BackfillRequest": "BACKFILL_TARGET",
}
#: The ``UseCase`` dimension of WebhooksAccepted: deliveries per use case (stackops.aws_usage reads them).
USE_CASE: dict[str, str] = {
    "MemberRef": "member_added",
    "WorkflowRunRef": "workflow_run",
    "BackfillRequest": "installation",
}

metrics = EmfMetrics()
tracer = Tracer()
emf.set_stack_dimension(metrics)


class Rejected(Exception):
    """The request cannot be accepted; ``reason`` is safe to return to the caller."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def delivery_id_of(event: Mapping[str, Any]) -> str | None:
    """The delivery id, from the header API Gateway passes on (lower-cased): every log line carries it."""
    headers = event.get("headers")
    value = headers.get("x-github-delivery") if isinstance(headers, Mapping) else None
    return value if isinstance(value, str) else None


@logger.inject_lambda_context(correlation_id=delivery_id_of)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = HttpApiRequest(event)
    logger.append_keys(github_event=request.headers.get("x-github-event"))
    delivery_id = request.headers.get("x-github-delivery")
    if delivery_id:  # the invocation's metric document names it, as every log line does
        metrics.name_deliveries([delivery_id])
    try:
        return _receive(request)
    except Rejected as rejection:
        _count("WebhooksRejected")
        logger.warning("webhook rejected", extra={"status": rejection.status, "reason": rejection.reason})
        return _response(rejection.status, {"error": rejection.reason})
    except RedeliveryLimitExceeded as error:
        _count("WebhooksFailed")
        logger.error("webhook not handed over: too many failed attempts", extra={"reason": str(error)})
        return _response(409, {"error": str(error)})
    except AWS_ERRORS:
        _count("WebhooksFailed")
        logger.exception("webhook not handed over: AWS failed")
        return _response(500, {"error": "the event could not be handed over; redeliver it"})


def _receive(request: HttpApiRequest) -> dict[str, Any]:
    body = _raw_body(request)
    _verify_signature(body, request.headers.get("x-hub-signature-256"))
    event_name = _required_header(request, "x-github-event")
    delivery_id = _required_header(request, "x-github-delivery")
    tracer.put_annotation(xray_header.DELIVERY_ID_ANNOTATION, delivery_id)
    payload = _json_object(_json_bytes(body, request.headers.get("content-type")))
    logger.append_keys(action=payload.get("action"))
    try:
        message = to_outgoing(event_name, payload, delivery_id, need("GITHUB_ORG"))
    except MalformedWebhook as error:
        raise Rejected(400, str(error)) from error
    if isinstance(message, Ignored):
        _count("WebhooksIgnored")
        logger.info("webhook ignored", extra={"reason": message.reason})
        return _response(202, {"status": "ignored"})
    if message is None:
        _count("WebhooksIgnored")
        logger.info("webhook ignored")
        return _response(202, {"status": "ignored"})
    handed_over = _dispatch(message, received_at(request))
    # One webhook per invoke: the dimension applies to this invoke's metrics only (they flush at its end).
    metrics.add_dimension(name=USE_CASE_DIMENSION, value=USE_CASE[message.kind])
    _count("WebhooksAccepted")
    # What it handed over: an Express machine that logs errors only keeps no execution input to redrive from.
    logger.info("webhook accepted", extra={"message_type": message.kind, "input": handed_over})
    return _response(202, {"status": "accepted", "deliveryId": delivery_id})


def architecture() -> str:
    value = os.environ.get("ARCHITECTURE") or "sqs"
    if value not in ARCHITECTURES:
        raise MissingSetting(f"environment variable ARCHITECTURE is {value!r}: one of {', '.join(ARCHITECTURES)}")
    return value


def _dispatch(message: Outgoing, received: int) -> dict[str, Any]:
    """Hand the message (with ``receivedAt``, after ``correlationId`` as the models write it) to its target;
    what was handed over."""
    correlation_id, *rest = message.wire.items()
    wire = dict([correlation_id, ("receivedAt", received), *rest])
    body = json.dumps(wire)
    kind, target = architecture(), need(TARGET_VARIABLE[message.kind])
    tracer.instrument(pipeline.sqs_client() if kind == "sqs" else pipeline.sfn_client())
    system_attributes = xray_header.message_system_attributes(tracer.trace_header())
    pipeline.dispatch(kind, target, message.correlation_id, body, system_attributes)
    return wire


def received_at(request: HttpApiRequest) -> int:
    """When the request arrived, epoch milliseconds: API Gateway's ``requestContext.timeEpoch`` (before a
    cold start, unlike the clock now), or now when the event has none."""
    context = request.get("requestContext")
    epoch = context.get("timeEpoch") if isinstance(context, dict) else None
    if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch > 0:
        return epoch
    return time.time_ns() // 1_000_000


def _raw_body(request: HttpApiRequest) -> bytes:
    """The exact bytes GitHub sent (the signature covers them), within the size limit."""
    text = request.body or ""
    try:
        body = base64.b64decode(text, validate=True) if request.is_base64_encoded else text.encode()
    except binascii.Error as error:
        raise Rejected(400, "body is marked base64 but is not valid base64") from error
    limit = int(os.environ.get("MAX_WEBHOOK_BYTES") or DEFAULT_MAX_WEBHOOK_BYTES)
    if len(body) > limit:
        raise Rejected(413, f"body is {len(body)} bytes; the limit is {limit}")
    return body


def _verify_signature(body: bytes, signature: str | None) -> None:
    if not signature:
        raise Rejected(401, "X-Hub-Signature-256 header is missing")
    # compare_digest refuses non-ASCII text; only the SHA-256 form is accepted, never SHA-1.
    if not (signature.startswith(SIGNATURE_PREFIX) and signature.isascii() and signature_matches(body, signature)):
        raise Rejected(401, "X-Hub-Signature-256 does not match the body")


def signature_matches(body: bytes, signature: str) -> bool:
    """Whether ``signature`` is GitHub's ``sha256=<hex HMAC of the body>`` under the webhook secret.

    The standard library's HMAC, compared in constant time: the receiver's hot path imports nothing but
    the standard library and boto3 for it (githubkit would bring httpx, anyio and cryptography along).
    """
    expected = SIGNATURE_PREFIX + hmac.new(webhook_secret().encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def webhook_secret() -> str:
    """The secret GitHub signs each delivery with (``X-Hub-Signature-256``), cached for a while."""
    client = tracer.instrument(secret_cache.secrets_client())
    return secret_cache.get_secret(need("WEBHOOK_SECRET_ARN"), client=client)


def _required_header(request: HttpApiRequest, name: str) -> str:
    value = request.headers.get(name)
    if not value:
        raise Rejected(400, f"{name} header is missing")
    return value


def _json_bytes(body: bytes, content_type: str | None) -> bytes:
    """The JSON document of a verified body: the body itself, or a form's ``payload`` field (415 otherwise)."""
    if content_type is None:
        raise Rejected(415, f"Content-Type header is missing: {ACCEPTED_TYPES}")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == JSON_TYPE:
        return body
    if media_type != FORM_TYPE:
        raise Rejected(415, f"content type {content_type!r} is not accepted: {ACCEPTED_TYPES}")
    try:
        fields = parse_qsl(body.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as error:
        raise Rejected(400, f"form body is not UTF-8 percent-encoded: {error}") from error
    payloads = [value for name, value in fields if name == "payload"]
    if not payloads:
        raise Rejected(400, "form body has no payload field")
    if len(payloads) > 1:
        raise Rejected(400, f"form body has {len(payloads)} payload fields; GitHub sends one")
    return payloads[0].encode()


def _nesting_depth(body: bytes, limit: int) -> int:
    """How deep the brackets outside JSON strings nest, counted up to ``limit + 1`` at most.

    The strings go first (one regular expression), then everything that is not a bracket (one
    ``translate``), so only the brackets are walked in Python.
    """
    depth = deepest = 0
    for byte in _JSON_STRING.sub(b"", body).translate(None, _NOT_A_BRACKET):
        depth += 1 if byte in b"[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                break
    return deepest


def _json_object(body: bytes) -> dict[str, Any]:
    if _nesting_depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise Rejected(400, f"body is not JSON: it nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as error:  # also UnicodeDecodeError and the integer digit limit
        raise Rejected(400, f"body is not JSON: {error}") from error
    if not isinstance(payload, dict):
        raise Rejected(400, "body is not a JSON object")
    return payload


def _count(metric: str) -> None:
    metrics.add_metric(name=metric, unit="Count", value=1)


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
