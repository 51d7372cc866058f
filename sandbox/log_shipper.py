"""Ships log lines to CloudWatch Logs in the background, as Lambda ships a function's output.

``put()`` only appends to a buffer (it never blocks an invocation); a flusher thread sends each stream's
events with ``PutLogEvents`` every ``interval`` seconds, in batches within the API's limits (10,000 events,
1 MiB counting 26 bytes per event, 24 hours from first to last, in time order), creating the stream, and
the group when missing, on first use. A batch the API refuses is dropped and counted (``dropped``): the
runtime must not die of its logs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD_BYTES
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000
DEFAULT_INTERVAL = 0.2

LOG = logging.getLogger(__name__)

StreamKey = tuple[str, str]  # (log group, log stream)


@dataclass(frozen=True)
class _Event:
    timestamp: int  # epoch ms
    message: str


def batches(events: list[_Event]) -> list[list[_Event]]:
    """``events`` (in time order) cut into PutLogEvents calls within the API's limits."""
    cut: list[list[_Event]] = []
    current: list[_Event] = []
    size = 0
    for event in events:
        event_size = len(event.message.encode()) + EVENT_OVERHEAD_BYTES
        if current and (
            len(current) >= MAX_BATCH_EVENTS
            or size + event_size > MAX_BATCH_BYTES
            or event.timestamp - current[0].timestamp > MAX_BATCH_SPAN_MS
        ):
            cut.append(current)
            current, size = [], 0
        current.append(event)
        size += event_size
    if current:
        cut.append(current)
    return cut


def _fit(message: str) -> str:
    """An event's message within the 256 KiB limit (Lambda truncates a longer line)."""
    encoded = message.encode()
    if len(encoded) <= MAX_EVENT_BYTES:
        return message if message else " "  # an empty message is refused
    return encoded[:MAX_EVENT_BYTES].decode(errors="ignore")


class LogShipper:
    """``shipper.put(group, stream, line)``; ``flush()`` waits until everything put so far is sent."""

    def __init__(
        self,
        client: Callable[[], Any],
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client_factory = client
        self._client: Any = None
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: dict[StreamKey, list[_Event]] = defaultdict(list)
        self._last_timestamp: dict[StreamKey, int] = {}
        self._created: set[StreamKey] = set()
        self._sending = False
        self._closed = False
        self._flush_requested = False
        self.shipped = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, daemon=True, name="log-shipper")
        self._thread.start()

    def put(self, group: str, stream: str, message: str) -> None:
        """Queue one line, stamped with its time of arrival (never earlier than the stream's previous one)."""
        key = (group, stream)
        with self._lock:
            if self._closed:
                self.dropped += 1
                return
            timestamp = max(int(self._clock() * 1000), self._last_timestamp.get(key, 0))
            self._last_timestamp[key] = timestamp
            self._pending[key].append(_Event(timestamp, _fit(message)))

    def flush_soon(self) -> None:
        """Send what is buffered without waiting for the next interval (a process exited)."""
        with self._wake:
            self._flush_requested = True
            self._wake.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Send everything put so far; False if it is not all sent within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._wake:
            self._flush_requested = True
            self._wake.notify_all()
            while self._pending or self._sending:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._wake.wait(remaining)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Flush, then stop the flusher; lines put afterwards are dropped."""
        self.flush(timeout)
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self._thread.join(timeout)

    # The flusher.

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._closed and not self._flush_requested:
                    self._wake.wait(self._interval)
                self._flush_requested = False
                if self._closed and not self._pending:
                    self._wake.notify_all()
                    return
                pending, self._pending = self._pending, defaultdict(list)
                self._sending = bool(pending)
            try:
                for key, events in pending.items():
                    self._send(key, events)
            finally:
                with self._wake:
                    self._sending = False
                    self._wake.notify_all()

    def _send(self, key: StreamKey, events: list[_Event]) -> None:
        for batch in batches(events):
            try:
                self._put(key, batch)
                self.shipped += len(batch)
            except Exception as error:  # noqa: BLE001 - whatever the emulator answers, the runtime goes on
                self.dropped += len(batch)
                LOG.warning("dropped %d log events for %s %s: %s", len(batch), key[0], key[1], error)

    def _put(self, key: StreamKey, batch: list[_Event]) -> None:
        if self._client is None:
            self._client = self._client_factory()
        if key not in self._created:
            self._create(key)
        group, stream = key
        self._client.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": event.timestamp, "message": event.message} for event in batch],
        )

    def _create(self, key: StreamKey) -> None:
        group, stream = key
        client = self._client
        try:
            client.create_log_stream(logGroupName=group, logStreamName=stream)
        except client.exceptions.ResourceAlreadyExistsException:
            pass
        except client.exceptions.ResourceNotFoundException:
            with contextlib.suppress(client.exceptions.ResourceAlreadyExistsException):
                client.create_log_group(logGroupName=group)
            client.create_log_stream(logGroupName=group, logStreamName=stream)
        self._created.add(key)
