"""Tracing on for the receiver's standard-library tracer (``functions.common.xray_daemon``): an invoke whose
trace header is :data:`INVOCATION_HEADER`, and an X-Ray daemon that is a UDP socket on the loopback, its
documents kept in a list (nothing leaves the machine)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from functions.common import xray_daemon as tracer_module
from functions.common.xray_header import TRACE_HEADER_ENV
from tests.functions.xray import INVOCATION_HEADER, LAMBDA_PARENT, ROOT

__all__ = ["INVOCATION_HEADER", "LAMBDA_PARENT", "ROOT", "XRayDaemon", "xray_daemon"]


@dataclass
class XRayDaemon:
    udp: socket.socket
    datagrams: list[bytes] = field(default_factory=list)

    def _receive(self) -> None:
        while True:
            try:
                self.datagrams.append(self.udp.recv(65536))
            except BlockingIOError:
                return

    @property
    def documents(self) -> list[dict[str, Any]]:
        """Every document received so far; each datagram must be the protocol line and one document."""
        self._receive()
        documents = []
        for datagram in self.datagrams:
            header, _, body = datagram.partition(b"\n")
            assert json.loads(header) == {"format": "json", "version": 1}
            documents.append(json.loads(body))
        return documents

    def named(self, name: str) -> list[dict[str, Any]]:
        return [document for document in self.documents if document["name"] == name]


@pytest.fixture
def xray_daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[XRayDaemon]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.setblocking(False)
        host, port = udp.getsockname()
        monkeypatch.setenv(tracer_module.DAEMON_ADDRESS_ENV, f"{host}:{port}")
        monkeypatch.setenv(TRACE_HEADER_ENV, INVOCATION_HEADER)
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "receiver")
        monkeypatch.delenv(tracer_module.DISABLED_ENV, raising=False)
        yield XRayDaemon(udp)
