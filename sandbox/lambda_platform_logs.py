"""The lines Lambda itself writes to a function's log stream around each invocation (its system logs).

In the JSON log format they are ``platform.initStart`` (a new environment), ``platform.start`` and
``platform.report`` (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html,
record shapes from https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html); in the
text format ``INIT_START``, ``START``, ``END`` and ``REPORT``. All of them are INFO: a ``SystemLogLevel``
of WARN or above keeps none.
"""

from __future__ import annotations

import datetime
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUNTIME_VERSION = f"python:{sys.version_info.major}.{sys.version_info.minor}"
_SYSTEM_LEVELS_KEPT = ("DEBUG", "INFO")


@dataclass(frozen=True)
class InvokeFigures:
    """What ``platform.report`` tells of one invocation."""

    request_id: str
    duration_ms: float
    memory_size_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None = None  # only the first invocation of an environment
    status: str = "success"  # success, error, timeout
    error_type: str | None = None

    @property
    def billed_duration_ms(self) -> int:
        return max(1, math.ceil(self.duration_ms))


def system_logs_kept(log_format: str, system_log_level: str | None) -> bool:
    return log_format != "JSON" or (system_log_level or "INFO").upper() in _SYSTEM_LEVELS_KEPT


def stamp(epoch_seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch_seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _json(at: float, kind: str, record: dict[str, Any]) -> str:
    return json.dumps({"time": stamp(at), "type": kind, "record": record}, separators=(",", ":"))


def init_start(log_format: str, at: float, function_name: str, version: str) -> list[str]:
    if log_format == "JSON":
        record = {
            "initializationType": "on-demand",
            "phase": "init",
            "runtimeVersion": RUNTIME_VERSION,
            "functionName": function_name,
            "functionVersion": version,
        }
        return [_json(at, "platform.initStart", record)]
    return [f"INIT_START Runtime Version: {RUNTIME_VERSION}"]


def start(log_format: str, at: float, request_id: str, version: str) -> list[str]:
    if log_format == "JSON":
        return [_json(at, "platform.start", {"requestId": request_id, "version": version})]
    return [f"START RequestId: {request_id} Version: {version}"]


def report(log_format: str, at: float, figures: InvokeFigures) -> list[str]:
    if log_format == "JSON":
        metrics: dict[str, Any] = {
            "durationMs": round(figures.duration_ms, 3),
            "billedDurationMs": figures.billed_duration_ms,
            "memorySizeMB": figures.memory_size_mb,
            "maxMemoryUsedMB": figures.max_memory_used_mb,
        }
        if figures.init_duration_ms is not None:
            metrics["initDurationMs"] = round(figures.init_duration_ms, 3)
        record: dict[str, Any] = {"requestId": figures.request_id, "metrics": metrics, "status": figures.status}
        if figures.error_type is not None:
            record["errorType"] = figures.error_type
        return [_json(at, "platform.report", record)]
    line = (
        f"REPORT RequestId: {figures.request_id}\tDuration: {figures.duration_ms:.2f} ms\t"
        f"Billed Duration: {figures.billed_duration_ms} ms\tMemory Size: {figures.memory_size_mb} MB\t"
        f"Max Memory Used: {figures.max_memory_used_mb} MB\t"
    )
    if figures.init_duration_ms is not None:
        line += f"Init Duration: {figures.init_duration_ms:.2f} ms\t"
    return [f"END RequestId: {figures.request_id}", line]


def max_memory_used_mb(pid: int, fallback: int) -> int:
    """The process's peak resident set (``VmHWM``) in MB, or ``fallback`` where /proc does not tell."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return max(1, math.ceil(int(line.split()[1]) / 1024))
    except (OSError, ValueError, IndexError):
        pass
    return fallback
