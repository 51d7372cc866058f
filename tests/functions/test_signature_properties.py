"""Properties of the receiver's signature check, for arbitrary bodies and secrets (moto, sqs architecture).

A correct signature always passes; any change to the body, the signature or the secret is a 401 that
hands nothing to the pipeline.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from githubkit.webhooks import verify
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from functions.common import dispatch, secret_cache
from functions.common.settings import settings as function_settings
from tests.functions.webhooks import (
    FIXTURES,
    FakeLambdaContext,
    delivery_headers,
    http_api_event,
    new_delivery_id,
    signature,
    signed_delivery,
)

MEMBER_ADDED = (FIXTURES / "organization" / "member_added.payload.json").read_bytes()
PROPERTY_SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

secrets = st.text(min_size=1, max_size=64)
bodies = st.one_of(st.just(MEMBER_ADDED), st.binary(min_size=1, max_size=2048))


@dataclass(frozen=True)
class Pipeline:
    queue_url: str

    def dispatched(self) -> list[dict[str, Any]]:
        """Every message the receiver sent (removed from the queue)."""
        sqs = dispatch.sqs_client()
        sent = []
        while messages := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                sent.append(json.loads(message["Body"]))
        return sent


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    with mock_aws(), pytest.MonkeyPatch.context() as env:
        dispatch.sqs_client.cache_clear()
        secret_cache.clear_cache()
        queue_url = dispatch.sqs_client().create_queue(QueueName="onboarding")["QueueUrl"]
        env.setenv("ARCHITECTURE", "sqs")
        env.setenv("GITHUB_ORG", "Octocoders")
        env.setenv("ONBOARDING_TARGET", queue_url)
        yield Pipeline(queue_url)
        dispatch.sqs_client.cache_clear()
        secret_cache.clear_cache()
    function_settings.cache_clear()


@contextmanager
def webhook_secret(value: str) -> Iterator[None]:
    """The receiver's webhook secret is ``value`` (a new Secrets Manager secret, so no cache interferes)."""
    arn = boto3.client("secretsmanager").create_secret(Name=f"webhook-{uuid.uuid4()}", SecretString=value)["ARN"]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WEBHOOK_SECRET_ARN", arn)
        function_settings.cache_clear()
        yield
    function_settings.cache_clear()


def receive(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    from functions.receiver import handler

    response = handler(event, FakeLambdaContext(function_name="receiver"))
    return response["statusCode"], json.loads(response["body"])


def headers_with_signature(body: bytes, value: str) -> dict[str, str]:
    headers = delivery_headers(body, event_name="organization", secret="unused", delivery_id=new_delivery_id())
    return {**headers, "x-hub-signature-256": value}


@PROPERTY_SETTINGS
@given(secret=secrets, body=st.binary(max_size=2048))
def test_a_signature_made_with_the_secret_passes(pipeline: Pipeline, secret: str, body: bytes) -> None:
    assert verify(secret, body, signature(secret, body))
    with webhook_secret(secret):
        status, answer = receive(signed_delivery(body, event_name="ping", secret=secret, base64_encoded=True))

    # Past the signature, a ping is ignored, and a body that is not a JSON object is a 400.
    assert (status, answer) == (202, {"status": "ignored"}) or (status == 400 and "JSON" in answer["error"])
    assert pipeline.dispatched() == []


@PROPERTY_SETTINGS
@given(secret=secrets, note=st.text(), indent=st.sampled_from([None, 0, 2]), ascii_only=st.booleans())
def test_a_signed_member_added_is_dispatched_however_it_is_serialized(
    pipeline: Pipeline, secret: str, note: str, indent: int | None, ascii_only: bool
) -> None:
    payload = {**json.loads(MEMBER_ADDED), "note": note}
    body = json.dumps(payload, indent=indent, ensure_ascii=ascii_only).encode()
    delivery_id = new_delivery_id()
    with webhook_secret(secret):
        event = signed_delivery(body, event_name="organization", secret=secret, delivery_id=delivery_id)
        assert receive(event) == (202, {"status": "accepted", "deliveryId": delivery_id})

    assert [message["correlationId"] for message in pipeline.dispatched()] == [delivery_id]


@PROPERTY_SETTINGS
@given(secret=secrets, body=bodies, position=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_a_flipped_body_byte_is_401(pipeline: Pipeline, secret: str, body: bytes, position: int, mask: int) -> None:
    index = position % len(body)
    tampered = body[:index] + bytes([body[index] ^ mask]) + body[index + 1 :]
    with webhook_secret(secret):
        headers = headers_with_signature(tampered, signature(secret, body))
        status, _ = receive(http_api_event(tampered, headers, base64_encoded=True))

    assert status == 401
    assert pipeline.dispatched() == []


@PROPERTY_SETTINGS
@given(secret=secrets, body=bodies, position=st.integers(min_value=0), replacement=st.characters())
def test_a_changed_signature_character_is_401(
    pipeline: Pipeline, secret: str, body: bytes, position: int, replacement: str
) -> None:
    good = signature(secret, body)
    index = position % len(good)
    if good[index] == replacement:
        replacement = "0" if replacement != "0" else "1"
    tampered = good[:index] + replacement + good[index + 1 :]
    with webhook_secret(secret):
        status, answer = receive(http_api_event(body, headers_with_signature(body, tampered), base64_encoded=True))

    assert (status, answer) == (401, {"error": "X-Hub-Signature-256 does not match the body"})
    assert pipeline.dispatched() == []


@PROPERTY_SETTINGS
@given(secret=secrets, other=secrets, body=bodies)
def test_a_signature_made_with_another_secret_is_401(pipeline: Pipeline, secret: str, other: str, body: bytes) -> None:
    if other == secret:
        other += "!"
    with webhook_secret(secret):
        status, _ = receive(signed_delivery(body, event_name="organization", secret=other, base64_encoded=True))

    assert status == 401
    assert pipeline.dispatched() == []


CONTENT_TYPES = st.one_of(
    st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", ""]),
    st.text(max_size=40),
)
HOSTILE_JSON = st.one_of(
    st.binary(max_size=2048),
    st.integers(min_value=1, max_value=3000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(min_value=4000, max_value=6000).map(
        lambda digits: b'{"action": "member_added", "n": ' + b"9" * digits + b"}"
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    ).map(lambda value: json.dumps(value).encode()),
)


@PROPERTY_SETTINGS
@given(
    secret=secrets,
    body=HOSTILE_JSON,
    content_type=CONTENT_TYPES,
    event_name=st.sampled_from(["organization", "workflow_run", "installation", "ping"]),
    as_form=st.booleans(),
)
def test_any_signed_body_is_answered_without_a_500(
    pipeline: Pipeline, secret: str, body: bytes, content_type: str, event_name: str, as_form: bool
) -> None:
    if as_form:
        body = b"payload=" + quote(body).encode()
    with webhook_secret(secret):
        headers = {**delivery_headers(body, event_name=event_name, secret=secret, delivery_id=new_delivery_id())}
        headers["content-type"] = content_type
        status, _ = receive(http_api_event(body, headers, base64_encoded=True))

    assert status in (202, 400, 413, 415)
    pipeline.dispatched()
