"""The receiver's standard-library path writes what Powertools and the models would: the same wire messages,
log lines, metric documents, and X-Ray subsegments for its AWS calls."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import logger as powertools_logger
from aws_lambda_powertools.metrics import MetricUnit
from moto import mock_aws

from functions.common import emf, xray_header
from functions.common.json_logging import JsonLogger
from functions.common.models import MESSAGE_TYPES
from functions.common.xray_daemon import Tracer
from functions.webhook_events import Outgoing, to_outgoing
from tests.functions.webhooks import FakeLambdaContext, fixture_id, fixture_paths
from tests.functions.xray_daemon import LAMBDA_PARENT, ROOT, XRayDaemon
from tests.functions.xray_daemon import xray_daemon as xray_daemon  # noqa: F401  (the fixture)


def _org(payload: dict[str, Any]) -> str:
    for owner in (payload.get("organization"), (payload.get("repository") or {}).get("owner")):
        if isinstance(owner, dict) and owner.get("login"):
            return str(owner["login"])
    account = (payload.get("installation") or {}).get("account") or {}
    return str(account.get("login") or "octo-org")


HANDLED = [
    path
    for path in fixture_paths()
    if isinstance(
        to_outgoing(path.parent.name, payload := json.loads(path.read_bytes()), "d-1", _org(payload)), Outgoing
    )
]


def test_some_examples_are_handled() -> None:
    assert len(HANDLED) == 6


@pytest.mark.parametrize("path", HANDLED, ids=fixture_id)
def test_the_wire_message_is_the_models_own(path: Path) -> None:
    """What the receiver sends is what the next step's model reads and would write itself."""
    payload = json.loads(path.read_bytes())
    outgoing = to_outgoing(path.parent.name, payload, "d-1", _org(payload))
    assert isinstance(outgoing, Outgoing)
    wire = {**outgoing.wire, "receivedAt": 1}
    assert MESSAGE_TYPES[outgoing.kind].model_validate(wire).to_wire() == wire


def test_a_log_line_has_powertools_fields_in_powertools_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(xray_header.TRACE_HEADER_ENV, f"Root={ROOT};Parent={LAMBDA_PARENT};Sampled=1")
    # Powertools keeps cold_start per process: an earlier test's invocation has used it up.
    monkeypatch.setattr(powertools_logger, "is_cold_start", True)
    lines: dict[str, list[dict[str, Any]]] = {}
    for name in ("powertools", "stdlib"):
        stream = io.StringIO()
        logger: Any
        if name == "powertools":
            logger = Logger(service="same", logger_handler=logging.StreamHandler(stream))
            decorate = logger.inject_lambda_context(correlation_id_path="headers.id", clear_state=True)
        else:
            logger = JsonLogger(service="same")
            monkeypatch.setattr(logger.registered_handler, "stream", stream)
            decorate = logger.inject_lambda_context(correlation_id=lambda event: event["headers"]["id"])

        @decorate
        def run(event: dict[str, Any], context: Any, logger: Any = logger) -> None:
            logger.append_keys(github_event="organization")
            logger.info("accepted", extra={"message_type": "MemberRef"})
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception("failed")

        run({"headers": {"id": "d-7"}}, FakeLambdaContext(function_name="receiver"))
        lines[name] = [json.loads(line) for line in stream.getvalue().splitlines()]
    for powertools, stdlib in zip(lines["powertools"], lines["stdlib"], strict=True):
        assert list(powertools) == list(stdlib)
        for key in ("timestamp", "location", "exception"):  # the call sites differ
            powertools.pop(key, None)
            stdlib.pop(key, None)
        if "stack_trace" in powertools:
            frames = powertools["stack_trace"].pop("frames"), stdlib["stack_trace"].pop("frames")
            assert [list(frame) for frame in frames[0]] == [list(frame) for frame in frames[1]]
        assert powertools == stdlib
    assert lines["stdlib"][0]["correlation_id"] == "d-7"


def test_a_metric_document_is_powertools_own(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    documents = []
    for metrics in (Metrics(namespace="Ns", service="receiver"), emf.EmfMetrics(namespace="Ns", service="receiver")):
        emf.set_stack_dimension(metrics, {emf.STACK_ENV: "dev"})
        metrics.add_dimension(name=emf.USE_CASE_DIMENSION, value="member_added")
        metrics.add_metadata(key="correlation_id", value="d-1")
        metrics.add_metric(name="WebhooksAccepted", unit=MetricUnit.Count, value=1)
        capsys.readouterr()
        metrics.flush_metrics()
        (line,) = capsys.readouterr().out.splitlines()
        document = json.loads(line)
        document["_aws"].pop("Timestamp")
        documents.append(document)
        emf.set_stack_dimension(metrics, {})
    powertools, stdlib = documents
    assert powertools == stdlib and list(powertools) == list(stdlib)


def test_nothing_is_printed_without_a_metric(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = emf.EmfMetrics(namespace="Ns", service="receiver")
    metrics.add_metadata(key="correlation_id", value="d-1")
    metrics.flush_metrics()
    assert capsys.readouterr().out == ""


# --- tracing -------------------------------------------------------------------------------------------


def _traced_call(tracer: Tracer, sent_headers: list[str | None]) -> Any:
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        tracer.put_annotation(xray_header.DELIVERY_ID_ANNOTATION, "d-9")
        sqs = tracer.instrument(boto3.client("sqs"))
        sqs.meta.events.register(
            "before-send.sqs.*", lambda request, **_: sent_headers.append(request.headers.get("X-Amzn-Trace-Id"))
        )
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="{}", **xray_header.message_system_attributes(tracer.trace_header()))
        return {"statusCode": 202}

    with mock_aws():
        return handler({}, FakeLambdaContext())


def test_each_aws_call_is_a_subsegment_that_aws_continues(xray_daemon: XRayDaemon) -> None:
    sent: list[str | None] = []
    assert _traced_call(Tracer(service="receiver"), sent) == {"statusCode": 202}

    (handler,) = xray_daemon.documents
    assert (handler["name"], handler["type"], handler["trace_id"], handler["parent_id"]) == (
        "## handler",
        "subsegment",
        ROOT,
        LAMBDA_PARENT,
    )
    assert handler["annotations"] == {"ColdStart": True, "Service": "receiver", "DeliveryId": "d-9"}
    calls = handler["subsegments"]
    assert [(call["name"], call["namespace"], call["aws"]["operation"]) for call in calls] == [
        ("sqs", "aws", "CreateQueue"),
        ("sqs", "aws", "SendMessage"),
    ]
    assert all(call["http"]["response"]["status"] == 200 and call["end_time"] >= call["start_time"] for call in calls)
    assert sent == [f"Root={ROOT};Parent={call['id']};Sampled=1" for call in calls]


def test_a_failed_invocation_is_a_fault_on_its_handler_subsegment(xray_daemon: XRayDaemon) -> None:
    tracer = Tracer(service="receiver")

    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        handler({}, FakeLambdaContext())
    (document,) = xray_daemon.documents
    assert document["fault"] is True
    assert document["cause"]["exceptions"][0]["type"] == "RuntimeError"


def test_a_not_sampled_invocation_sends_nothing_and_passes_its_header_on(
    xray_daemon: XRayDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(xray_header.TRACE_HEADER_ENV, f"Root={ROOT};Parent={LAMBDA_PARENT};Sampled=0")
    tracer = Tracer(service="receiver")
    headers = []

    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> None:
        headers.append(tracer.trace_header())

    handler({}, FakeLambdaContext())
    assert xray_daemon.documents == []
    assert headers == [f"Root={ROOT};Parent={LAMBDA_PARENT};Sampled=0"]


def test_tracing_disabled_sends_nothing_and_no_header(xray_daemon: XRayDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    sent: list[str | None] = []
    _traced_call(Tracer(service="receiver"), sent)
    assert xray_daemon.documents == []
    assert Tracer().trace_header() is None
