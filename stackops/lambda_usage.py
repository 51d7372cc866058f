"""Lambda usage from the local runtime's records and the lines the functions wrote.

Billed duration is each invoke's measured duration on this machine rounded up to 1 ms, without a cold
invoke's init (``InvokeRecord.init_duration``). AWS bills the init phase of on-demand functions since
2025-08-01 (https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/), but
once per execution environment, not per delivery: the sandbox starts a fresh process for every few
deliveries, while a function under steady traffic keeps its environment for hours, so a cold start's
share of a delivery there is a rounding error. Log bytes are
what the function wrote at its configured level, plus the two platform records Lambda writes per invoke
in the JSON log format (``platform.start``, ``platform.report``, filled with the invoke's figures:
https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html); ``gbAt.<LEVEL>`` is what
a higher level would keep (the lines below it dropped; the platform records kept at INFO and below).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.lambda_runtime import InvokeRecord
from stackops.billing_units import lambda_billed_ms

#: Powertools' levels, lowest first.
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL", "TRACE": "DEBUG"}
GB = 1024**3


def level_rank(level: str) -> int:
    name = _ALIASES.get(level.upper(), level.upper())
    if name not in LEVELS:
        raise ValueError(f"log level {level!r}: one of {', '.join(LEVELS)}")
    return LEVELS.index(name)


def line_level(line: str) -> str | None:
    """A JSON log line's level; None for lines every level keeps (metrics in EMF, tracebacks, prints)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or "_aws" in record:
        return None
    level = record.get("level")
    if isinstance(level, str) and _ALIASES.get(level.upper(), level.upper()) in LEVELS:
        return level
    return None


def platform_records(record: InvokeRecord, billed_ms: int) -> list[str]:
    """The ``platform.start`` and ``platform.report`` records Lambda writes for one invoke (JSON format)."""
    stamp = datetime.fromtimestamp(record.started_at or 0, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    start = {"time": stamp, "type": "platform.start", "record": {"requestId": record.request_id, "version": "$LATEST"}}
    metrics: dict[str, Any] = {
        "durationMs": round(record.duration * 1000, 3),
        "billedDurationMs": billed_ms,
        "memorySizeMB": record.memory_mb,
        "maxMemoryUsedMB": record.memory_mb,
    }
    report = {
        "time": stamp,
        "type": "platform.report",
        "record": {
            "requestId": record.request_id,
            "metrics": metrics,
            "status": "success" if record.error_type is None else "error",
        },
    }
    return [json.dumps(start, separators=(",", ":")), json.dumps(report, separators=(",", ":"))]


@dataclass
class FunctionUsage:
    """One function's invokes and log bytes over a phase."""

    invokes: int = 0
    billed_ms: int = 0
    #: Bytes logged per level the function could run at (its own and every higher one).
    log_bytes: dict[str, int] | None = None


def function_usage(records: Iterable[InvokeRecord], lines: Iterable[str], configured_level: str) -> FunctionUsage:
    """Invokes, billed ms and log bytes per level (from ``configured_level`` up) of one function."""
    configured = level_rank(configured_level)
    usage = FunctionUsage(log_bytes={level: 0 for level in LEVELS[configured:]})
    assert usage.log_bytes is not None
    platform: list[str] = []
    for record in records:
        billed = lambda_billed_ms((record.duration - record.init_duration) * 1000)
        usage.invokes += 1
        usage.billed_ms += billed
        platform.extend(platform_records(record, billed))
    for line in lines:
        size = len(line.encode()) + 1  # the line's newline is part of the event
        level = line_level(line)
        rank = configured if level is None else level_rank(level)
        if level is not None and rank < configured:
            continue  # below the configured level: the function would not have written it on AWS
        for kept in usage.log_bytes:
            if level is None or rank >= level_rank(kept):
                usage.log_bytes[kept] += size
    info = level_rank("INFO")
    for kept in usage.log_bytes:
        if level_rank(kept) <= info:
            usage.log_bytes[kept] += sum(len(p.encode()) + 1 for p in platform)
    return usage


def records_per_invoke(records: int, batches: int) -> float:
    return records / batches if batches else 0.0


def custom_metrics(lines: Iterable[str]) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """The (namespace, metric, dimensions) combinations the lines' embedded metric format records emit."""
    found: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or not isinstance(record.get("_aws"), Mapping):
            continue
        for directive in record["_aws"].get("CloudWatchMetrics") or []:
            namespace = str(directive.get("Namespace", ""))
            for dimension_set in directive.get("Dimensions") or [[]]:
                dimensions = tuple(sorted((str(d), str(record.get(d, ""))) for d in dimension_set))
                for metric in directive.get("Metrics") or []:
                    found.add((namespace, str(metric.get("Name", "")), dimensions))
    return found


def gb(size: float) -> float:
    return size / GB
