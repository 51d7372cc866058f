"""Find one delivery's log lines in a stack's log groups: Logs Insights on AWS, FilterLogEvents elsewhere.

Both return the JSON lines that mention the delivery id, by log group, oldest first; every line is checked
again here (the id as a whole value, not a substring of another id), so neither search's matching rules
decide what belongs to the delivery. Insights reads up to 50 log groups per query (one query for the whole
stack); FilterLogEvents reads one group per call, page by page.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

INSIGHTS_MAX_GROUPS = 50
INSIGHTS_MAX_ROWS = 10_000
INSIGHTS_POLL_SECONDS = 0.5
INSIGHTS_TIMEOUT_SECONDS = 120.0
LogsMode = Literal["auto", "insights", "filter"]

LogLine = dict[str, Any]


@dataclass
class Found:
    """The delivery's lines by log group, and the groups that do not exist (a stack not deployed, or no logs)."""

    lines: dict[str, list[LogLine]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


class LogSearch(Protocol):
    def find(self, groups: Sequence[str], needle: str, start_ms: int, end_ms: int) -> Found: ...


def mentions(line: Mapping[str, Any], needle: str) -> bool:
    """The line is the delivery's: its correlation id, or (a state machine's line) its execution's name."""
    if line.get("correlation_id") == needle:
        return True
    arn = str(line.get("execution_arn", ""))
    return needle in arn.split(":")


class FilterLogEventsSearch:
    def __init__(self, logs: Any) -> None:
        self._logs = logs

    def find(self, groups: Sequence[str], needle: str, start_ms: int, end_ms: int) -> Found:
        found = Found()
        for group in groups:
            try:
                lines = list(self._group_lines(group, needle, start_ms, end_ms))
            except self._logs.exceptions.ResourceNotFoundException:
                found.missing.append(group)
                continue
            found.lines[group] = [line for line in lines if mentions(line, needle)]
        return found

    def group_lines(self, group: str, needle: str, start_ms: int, end_ms: int) -> list[LogLine]:
        """Every JSON line of ``group`` the filter pattern matches (none if the group does not exist)."""
        try:
            return list(self._group_lines(group, needle, start_ms, end_ms))
        except self._logs.exceptions.ResourceNotFoundException:
            return []

    def _group_lines(self, group: str, needle: str, start_ms: int, end_ms: int) -> Iterator[LogLine]:
        request: dict[str, Any] = {
            "logGroupName": group,
            "filterPattern": json.dumps(needle),  # a quoted term: the id as one phrase
            "startTime": start_ms,
            "endTime": end_ms,
        }
        while True:
            page = self._logs.filter_log_events(**request)
            for event in page.get("events", []):
                line = _parse(event["message"])
                if line is not None:
                    line.setdefault("@timestamp", event["timestamp"])
                    line["@logStream"] = event.get("logStreamName")
                    yield line
            token = page.get("nextToken")
            if not token or not page.get("events") and token == request.get("nextToken"):
                return
            request["nextToken"] = token


class InsightsSearch:
    def __init__(self, logs: Any, timeout_seconds: float = INSIGHTS_TIMEOUT_SECONDS) -> None:
        self._logs = logs
        self._timeout = timeout_seconds

    def find(self, groups: Sequence[str], needle: str, start_ms: int, end_ms: int) -> Found:
        existing, missing = self._existing(groups)
        found = Found(lines={group: [] for group in existing}, missing=missing)
        query = (
            "fields @timestamp, @log, @logStream, @message"
            f" | filter @message like {json.dumps(needle)}"
            f" | sort @timestamp asc | limit {INSIGHTS_MAX_ROWS}"
        )
        for start in range(0, len(existing), INSIGHTS_MAX_GROUPS):
            chunk = existing[start : start + INSIGHTS_MAX_GROUPS]
            for row in self._run(chunk, query, start_ms, end_ms):
                line = _parse(row.get("@message", ""))
                group = _group_of(row.get("@log", ""), chunk)
                if line is not None and group is not None and mentions(line, needle):
                    line.setdefault("@timestamp", _insights_time(row.get("@timestamp")))
                    line["@logStream"] = row.get("@logStream")
                    found.lines[group].append(line)
        return found

    def _existing(self, groups: Sequence[str]) -> tuple[list[str], list[str]]:
        """StartQuery fails as a whole on one missing group: find which exist first (one call per group)."""
        existing: list[str] = []
        missing: list[str] = []
        for group in groups:
            described = self._logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
            (existing if any(g["logGroupName"] == group for g in described) else missing).append(group)
        return existing, missing

    def _run(self, groups: Sequence[str], query: str, start_ms: int, end_ms: int) -> list[dict[str, str]]:
        query_id = self._logs.start_query(
            logGroupNames=list(groups), startTime=start_ms // 1000, endTime=end_ms // 1000 + 1, queryString=query
        )["queryId"]
        deadline = time.monotonic() + self._timeout
        while True:
            result = self._logs.get_query_results(queryId=query_id)
            if result["status"] in ("Complete", "Failed", "Cancelled", "Timeout"):
                break
            if time.monotonic() > deadline:
                self._logs.stop_query(queryId=query_id)
                raise TimeoutError(f"the Logs Insights query did not complete in {self._timeout:.0f} s")
            time.sleep(INSIGHTS_POLL_SECONDS)
        if result["status"] != "Complete":
            raise RuntimeError(f"the Logs Insights query ended {result['status']}")
        return [{cell["field"]: cell["value"] for cell in row} for row in result.get("results", [])]


def log_search(logs: Any, mode: LogsMode, on_aws: bool) -> LogSearch:
    """``auto``: Insights on AWS (one query for every group), FilterLogEvents where Insights is missing."""
    if mode == "insights" or (mode == "auto" and on_aws):
        return InsightsSearch(logs)
    return FilterLogEventsSearch(logs)


def _parse(message: str) -> LogLine | None:
    try:
        line = json.loads(message)
    except ValueError:
        return None
    return line if isinstance(line, dict) else None


def _group_of(log: str, groups: Sequence[str]) -> str | None:
    """Insights' ``@log`` is ``<account>:<group>``."""
    name = log.split(":", 1)[1] if ":" in log else log
    return name if name in groups else None


def _insights_time(value: str | None) -> int | None:
    """Insights' ``@timestamp`` (``2026-12-02 04:05:06.789``, UTC) in epoch milliseconds."""
    if not value:
        return None
    from datetime import UTC, datetime

    return int(datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp() * 1000)
