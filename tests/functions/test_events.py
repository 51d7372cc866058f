"""The event views (functions/common/events.py) read what Powertools' data classes read, as they read it."""

from __future__ import annotations

from functions.common.events import HttpApiRequest, SQSRecord

RECORD = {
    "messageId": "m-1",
    "body": '{"a": 1}',
    "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1764633600000", "AWSTraceHeader": "Root=1-x"},
    "messageAttributes": {"correlationId": {"stringValue": "d-1", "dataType": "String"}},
    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue",
}


def test_request_headers_are_read_case_insensitively() -> None:
    request = HttpApiRequest({"headers": {"X-GitHub-Event": "ping"}, "body": "{}", "isBase64Encoded": False})
    assert request.headers.get("x-github-event") == "ping"
    assert (request.body, request.is_base64_encoded) == ("{}", False)


def test_a_request_without_headers_or_body_has_none() -> None:
    request = HttpApiRequest({})
    assert request.headers == {} and request.body is None and request.is_base64_encoded is False


def test_a_request_is_its_raw_event() -> None:
    request = HttpApiRequest({"requestContext": {"timeEpoch": 1}})
    assert request.get("requestContext") == {"timeEpoch": 1}


def test_an_sqs_record_reads_its_fields_and_attributes() -> None:
    record = SQSRecord(RECORD)
    assert (record.message_id, record.body, record.event_source_arn) == ("m-1", '{"a": 1}', RECORD["eventSourceARN"])
    assert record.attributes.approximate_receive_count == "2"
    assert record.attributes.aws_trace_header == "Root=1-x"
    assert record.attributes.get("SentTimestamp") == "1764633600000"
    attribute = record.message_attributes["correlationId"]
    assert attribute is not None and attribute.string_value == "d-1"


def test_a_missing_message_attribute_or_trace_header_is_none() -> None:
    record = SQSRecord({"messageId": "m", "body": "", "attributes": {"ApproximateReceiveCount": "1"}})
    assert record.message_attributes["correlationId"] is None
    assert record.attributes.aws_trace_header is None
