"""Tracing on in-process for one test: a real X-Ray recorder in its Lambda context, inside an invoke whose
trace header is :data:`INVOCATION_HEADER`, its documents kept in a list instead of going to the X-Ray
daemon (nothing leaves the process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aws_xray_sdk import global_sdk_config
from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.core.lambda_launcher import LambdaContext

from functions.common import observability, tracing

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
LAMBDA_PARENT = "53995c3f42cd8ad8"
INVOCATION_HEADER = f"Root={ROOT};Parent={LAMBDA_PARENT};Sampled=1"


@dataclass
class Emitted:
    """What the recorder would have sent to the X-Ray daemon: every entity, as its document."""

    documents: list[dict[str, Any]] = field(default_factory=list)

    def send_entity(self, entity: Any) -> None:
        self.documents.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address: str | None) -> None:
        pass

    @property
    def ip(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return 2000

    def named(self, name: str) -> list[dict[str, Any]]:
        return [document for document in self.documents if document["name"] == name]


@pytest.fixture
def xray(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emitted]:
    emitted = Emitted()
    saved = (xray_recorder.context, xray_recorder.emitter, xray_recorder.streaming_threshold)
    monkeypatch.delenv(global_sdk_config.XRAY_ENABLED_KEY, raising=False)
    monkeypatch.setenv(tracing.TRACE_HEADER_ENV, INVOCATION_HEADER)
    monkeypatch.setattr(observability.tracer, "disabled", False)
    global_sdk_config.set_sdk_enabled(True)
    xray_recorder.context = LambdaContext()
    xray_recorder.emitter = emitted
    xray_recorder.streaming_threshold = 0  # as Powertools sets it: every subsegment sent when it ends
    try:
        yield emitted
    finally:
        xray_recorder.context, xray_recorder.emitter, xray_recorder.streaming_threshold = saved
        global_sdk_config.set_sdk_enabled(False)
