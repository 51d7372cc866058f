"""A Step Functions execution's log events, written where its state machine's logging configuration says.

moto 5.2.5 starts every execution without a logging session, and its own ``CloudWatchLoggingSession``
could not publish one anyway (it reads ``event_timestamp`` as a datetime where the engine hands it a
string, and gives the backend ``LogEvent`` objects where it wants dicts). This one stands in for it (the
engine's ``EventManager`` calls ``log_level_filter`` and ``publish_history_log``) and writes each event as
Step Functions does (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html):

    {"id": "3", "type": "TaskStateEntered", "details": {...}, "previous_event_id": "2",
     "event_timestamp": "1733112000123", "execution_arn": "...", "redrive_count": "0"}

into the configured group, in a stream ``states/<machine>/<YYYY-MM-DD-HH-MM>/<hex>`` of its own (created
when the execution logs its first event). A group that does not exist gets nothing, as on AWS.
"""

from __future__ import annotations

import datetime
import json
import logging
import secrets
import threading
from typing import Any

LOG = logging.getLogger(__name__)


class ExecutionLogSession:
    def __init__(self, execution_arn: str, configuration: Any, started: datetime.datetime) -> None:
        self.execution_arn = execution_arn
        self.configuration = configuration  # moto's CloudWatchLoggingConfiguration
        parts = execution_arn.split(":")
        machine = parts[6] if len(parts) > 6 else "unknown"
        self.log_stream_name = f"states/{machine}/{started:%Y-%m-%d-%H-%M}/{secrets.token_hex(4)}"
        self._lock = threading.Lock()
        self._created = False
        self.dropped = 0

    def log_level_filter(self, history_event_type: Any) -> bool:
        from moto.stepfunctions.parser.asl.eval.event.logging import is_logging_enabled_for

        return bool(is_logging_enabled_for(self.configuration.log_level, history_event_type))

    def publish_history_log(self, history_log: dict[str, Any]) -> None:
        from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

        timestamp = _epoch_ms(history_log["event_timestamp"])
        event_type = history_log["type"]
        record = {
            "id": str(history_log["id"]),
            "type": str(getattr(event_type, "value", event_type)),
            "details": json.loads(to_json_str(history_log.get("details") or {})),
            "previous_event_id": str(history_log["previous_event_id"]),
            "event_timestamp": str(timestamp),
            "execution_arn": self.execution_arn,
            "redrive_count": "0",
        }
        try:
            self._put(timestamp, json.dumps(record, separators=(",", ":")))
        except Exception as error:  # noqa: BLE001 - a log that cannot be written must not fail the execution
            self.dropped += 1
            LOG.warning("execution log event of %s dropped: %s", self.execution_arn, error)

    def _put(self, timestamp: int, message: str) -> None:
        from moto.logs.exceptions import ResourceNotFoundException
        from moto.logs.models import logs_backends

        backend = logs_backends[self.configuration.log_account_id][self.configuration.log_region]
        group = self.configuration.log_group_name
        with self._lock:
            if not self._created:
                try:
                    backend.create_log_stream(group, self.log_stream_name)
                except ResourceNotFoundException:
                    self.dropped += 1
                    return
                self._created = True
            backend.put_log_events(group, self.log_stream_name, [{"timestamp": timestamp, "message": message}])


def _epoch_ms(value: Any) -> int:
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return int(value.timestamp() * 1000)
