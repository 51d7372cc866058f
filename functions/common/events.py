"""Read-only views of the two Lambda events the functions get: an API Gateway HTTP API request (payload
format 2.0) and an SQS record.

They read the fields these functions use the way Powertools' data classes do (headers case-insensitive,
an absent message attribute is None), with the standard library only: importing one Powertools data
class runs ``aws_lambda_powertools.utilities.data_classes``'s ``__init__``, which imports every event
class it has (some thirty modules) into every cold start.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class _View(Mapping[str, Any]):
    """A mapping over the raw event (``record.get("eventSourceARN")`` reads it as it came)."""

    def __init__(self, data: Mapping[str, Any] | None) -> None:
        self._data: Mapping[str, Any] = data or {}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    @property
    def raw_event(self) -> Mapping[str, Any]:
        return self._data


class HttpApiRequest(_View):
    """An API Gateway HTTP API (payload format 2.0) request."""

    @property
    def headers(self) -> dict[str, str]:
        """The headers by lower-case name (HTTP header names are case-insensitive)."""
        return {name.lower(): value for name, value in (self.get("headers") or {}).items()}

    @property
    def body(self) -> str | None:
        return self.get("body")

    @property
    def is_base64_encoded(self) -> bool:
        return bool(self.get("isBase64Encoded"))


class MessageAttribute(_View):
    @property
    def string_value(self) -> str | None:
        return self.get("stringValue")


class MessageAttributes(_View):
    def __getitem__(self, key: str) -> MessageAttribute | None:
        """The attribute ``key``, or None when the message has none of that name."""
        value = self._data.get(key)
        return None if value is None else MessageAttribute(value)


class RecordAttributes(_View):
    @property
    def approximate_receive_count(self) -> str:
        return str(self["ApproximateReceiveCount"])

    @property
    def aws_trace_header(self) -> str | None:
        return self.get("AWSTraceHeader")


class SQSRecord(_View):
    """One record of an SQS event."""

    @property
    def message_id(self) -> str:
        return str(self["messageId"])

    @property
    def body(self) -> str:
        return str(self["body"])

    @property
    def event_source_arn(self) -> str:
        return str(self["eventSourceARN"])

    @property
    def attributes(self) -> RecordAttributes:
        return RecordAttributes(self.get("attributes"))

    @property
    def message_attributes(self) -> MessageAttributes:
        return MessageAttributes(self.get("messageAttributes"))
