"""The meter's counting of the emulator's call log: who called, whose it is, and the units it bills."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sandbox.api_calls import ENGINE_ACCESS_KEY, POLLER_ACCESS_KEY, ApiCall, function_access_key
from stackops import call_usage
from stackops.call_usage import StackNames
from stackops.tally import Tally

SQS = StackNames("sandbox-sqs", "github-automation-sandbox-sqs-")
SFN = StackNames("sandbox-sfn", "github-automation-sandbox-sfn-")
SFN_LONGER = StackNames("sandbox-sfn-std", "github-automation-sandbox-sfn-std-")
QUEUE = "http://127.0.0.1:1/123456789012/github-automation-sandbox-sqs-store-records"


def _call(
    service: str, operation: str, params: dict[str, Any], caller: str = POLLER_ACCESS_KEY, response: bytes = b"{}"
) -> ApiCall:
    return ApiCall(0.0, caller, service, operation, params, 0, 200, response)


def test_the_harness_is_not_a_caller_of_the_stack() -> None:
    assert call_usage.caller_kind(function_access_key("x")) == "function"
    assert call_usage.caller_kind(POLLER_ACCESS_KEY) == "poller"
    assert call_usage.caller_kind(ENGINE_ACCESS_KEY) == "states"
    assert call_usage.caller_kind("testing") is None
    tally = Tally()
    call_usage.meter_call(_call("sqs", "SendMessage", {"QueueUrl": QUEUE}, caller="testing"), SQS, tally, {})
    assert tally.items() == []


def test_the_longest_prefix_owns_a_call() -> None:
    call = _call("sns", "Publish", {"TopicArn": "arn:aws:sns:us-east-1:1:github-automation-sandbox-sfn-std-notes"})
    assert call_usage.owner(call, [SFN, SFN_LONGER, SQS]) is SFN_LONGER
    by_caller = _call("secretsmanager", "GetSecretValue", {}, caller=function_access_key(f"{SQS.prefix}receiver"))
    assert call_usage.owner(by_caller, [SFN, SQS]) is SQS


def test_receives_are_told_empty_or_not_and_chunked_by_64_kib() -> None:
    big = {"Messages": [{"Body": "x" * (64 * 1024)}, {"Body": "y"}]}
    tally = Tally()
    for response in (b"{}", json.dumps(big).encode()):
        call_usage.meter_call(_call("sqs", "ReceiveMessage", {"QueueUrl": QUEUE}, response=response), SQS, tally, {})
    common = {"operation": "ReceiveMessage", "caller": "poller"}
    assert tally.quantity("sqs", "requests", "store-records", empty="true", **common) == 1
    assert tally.quantity("sqs", "requests", "store-records", empty="false", **common) == 2


def test_the_pollers_idle_checks_are_the_sandboxs_not_lambdas() -> None:
    tally = Tally()
    call_usage.meter_call(_call("sqs", "GetQueueAttributes", {"QueueUrl": QUEUE}), SQS, tally, {})
    assert tally.items() == []


@given(st.integers(min_value=0, max_value=300_000))
def test_a_send_bills_one_request_per_started_64_kib(body: int) -> None:
    tally = Tally()
    caller = function_access_key(f"{SQS.prefix}receiver")
    call_usage.meter_call(
        _call("sqs", "SendMessage", {"QueueUrl": QUEUE, "MessageBody": "z" * body}, caller), SQS, tally, {}
    )
    expected = max(1, -(-body // (64 * 1024)))
    assert tally.quantity("sqs", "requests", "store-records", operation="SendMessage", caller="function") == expected


def test_a_publish_reaches_each_email_subscription() -> None:
    tally = Tally()
    topic = "arn:aws:sns:us-east-1:1:github-automation-sandbox-sqs-notifications"
    call = _call("sns", "Publish", {"TopicArn": topic, "Message": "hello"}, caller=ENGINE_ACCESS_KEY)
    call_usage.meter_call(call, SQS, tally, {"notifications": 2})
    assert tally.quantity("sns", "publishes", "notifications") == 1
    assert tally.quantity("sns", "email_deliveries", "notifications") == 2


def test_dynamodb_units_from_the_noted_item_sizes() -> None:
    """A transaction bills 2x per item, an update by the larger of before and after, a GSI its own write."""
    items = [
        {"table": f"{SQS.prefix}members", "action": "Put", "before": None, "after": 1500, "sent": 1500, "indexes": 0},
        {
            "table": f"{SQS.prefix}workflow-runs",
            "action": "Update",
            "before": 3000,
            "after": 100,
            "sent": None,
            "indexes": 1,
        },
        {
            "table": f"{SQS.prefix}members",
            "action": "ConditionCheck",
            "before": 10,
            "after": 10,
            "sent": None,
            "indexes": 1,
        },
    ]
    call = _call("dynamodb", "TransactWriteItems", {}, caller=ENGINE_ACCESS_KEY)
    call.notes["items"] = items
    tally = Tally()
    call_usage.meter_call(call, SQS, tally, {})
    op = {"operation": "TransactWriteItems"}
    assert tally.quantity("dynamodb", "write_request_units", "members", **op) == 2 * 2 + 2 * 1
    assert tally.quantity("dynamodb", "write_request_units", "workflow-runs", **op) == 2 * 3
    assert (
        tally.quantity("dynamodb", "write_request_units", "workflow-runs", operation="TransactWriteItems (index)") == 3
    )
    get = _call("dynamodb", "GetItem", {"ConsistentRead": True}, caller=ENGINE_ACCESS_KEY)
    get.notes["items"] = [{"table": f"{SQS.prefix}members", "action": "Get", "before": 5000, "after": 5000}]
    call_usage.meter_call(get, SQS, tally, {})
    assert tally.quantity("dynamodb", "read_request_units", "members", operation="GetItem") == 2


def test_a_secret_named_from_a_prefix_is_known_by_its_resource_name() -> None:
    names = StackNames(SQS.stack, SQS.prefix, ((f"{SQS.prefix}webhook-0123abcd", "webhook"),))
    arn = f"arn:aws:secretsmanager:us-east-1:1:secret:{SQS.prefix}webhook-0123abcd-AbCdEf"
    call = _call(
        "secretsmanager", "GetSecretValue", {"SecretId": arn}, caller=function_access_key(f"{SQS.prefix}receiver")
    )
    tally = Tally()
    call_usage.meter_call(call, names, tally, {})
    assert tally.quantity("secretsmanager", "api_requests", "webhook", operation="GetSecretValue") == 1


def test_a_call_with_no_unit_is_reported_not_dropped() -> None:
    call = _call("ses", "SendEmail", {}, caller=function_access_key(f"{SQS.prefix}receiver"))
    assert call_usage.meter_call(call, SQS, Tally(), {}) == "ses:SendEmail"


def _put_latency(stack: str, use_case: str = "member_added") -> ApiCall:
    """A state machine's RecordLatency, as the engine sends it (signed ``ak``, CloudWatch's JSON protocol)."""
    datum = {
        "MetricName": "DeliveryLatency",
        "Unit": "Milliseconds",
        "Value": 1234,
        "Dimensions": [{"Name": "Stack", "Value": stack}, {"Name": "UseCase", "Value": use_case}],
    }
    return _call(
        "monitoring",
        "PutMetricData",
        {"Namespace": "GitHubAutomation", "MetricData": [datum]},
        caller=ENGINE_ACCESS_KEY,
    )


def test_a_state_machines_put_metric_data_is_its_stacks_by_the_stack_dimension() -> None:
    """It names no resource and no function signs it: the Stack dimension says whose it is."""
    assert call_usage.owner(_put_latency(SFN.stack), [SQS, SFN, SFN_LONGER]) is SFN
    assert call_usage.owner(_put_latency(SFN_LONGER.stack), [SQS, SFN, SFN_LONGER]) is SFN_LONGER
    assert call_usage.owner(_put_latency("someone-else"), [SQS, SFN]) is None


def test_put_metric_data_is_a_priced_cloudwatch_api_request() -> None:
    from stackops.prices import load_prices

    tally = Tally()
    assert call_usage.meter_call(_put_latency(SFN.stack), SFN, tally, {}) is None
    assert tally.quantity("cloudwatch", "metric_api_requests", "", operation="PutMetricData") == 1
    prices = load_prices()
    price = prices.entry("cloudwatch", "metric_api_requests")
    assert prices.monthly_usd("cloudwatch", "metric_api_requests", 1_000_000 + price.per) == float(price.tiers[0].usd)


def test_put_metric_data_puts_one_custom_metric_per_dimension_combination() -> None:
    calls = [_put_latency(SFN.stack), _put_latency(SFN.stack), _put_latency(SFN.stack, "workflow_run")]
    calls.append(_call("sqs", "SendMessage", {"QueueUrl": QUEUE}))
    assert call_usage.custom_metrics(calls) == {
        ("GitHubAutomation", "DeliveryLatency", (("Stack", SFN.stack), ("UseCase", use_case)))
        for use_case in ("member_added", "workflow_run")
    }


def test_the_backfill_bucket_s_requests_are_priced_by_s3_s_two_tiers() -> None:
    bucket = "github-automation-sandbox-sfn-backfill-0a1b2c3d4e5f"
    pages = StackNames("sandbox-sfn", "github-automation-sandbox-sfn-", ((bucket, call_usage.BACKFILL_BUCKET),))
    tally = Tally()
    for operation in ("PutObject", "ListObjectsV2", "GetObject", "GetObject", "DeleteObject"):
        call = _call("s3", operation, {"Bucket": bucket, "Key": "backfills/d/members-1.json"}, caller=ENGINE_ACCESS_KEY)
        assert call_usage.owner(call, [SQS, pages]) is pages
        assert call_usage.meter_call(call, pages, tally, {}) is None, "no S3 request goes unmetered"
    resource = call_usage.BACKFILL_BUCKET
    assert tally.quantity("s3", "tier1_requests", resource, operation="PutObject") == 1
    assert tally.quantity("s3", "tier1_requests", resource, operation="ListObjectsV2") == 1
    assert tally.quantity("s3", "tier2_requests", resource, operation="GetObject") == 2
    assert not [item for item in tally.items() if "DeleteObject" in str(item)], "DELETE is free"


def test_an_s3_rest_request_is_named_by_its_method_path_and_query() -> None:
    from sandbox.api_calls import s3_operation

    assert s3_operation("PUT", "/pages/backfills/d/members-1.json", {}) == ("PutObject", "pages")
    assert s3_operation("GET", "/pages/backfills/d/members-1.json", {}) == ("GetObject", "pages")
    assert s3_operation("GET", "/pages", {"list-type": "2", "prefix": "backfills/d/"}) == ("ListObjectsV2", "pages")
    assert s3_operation("DELETE", "/pages/k", {}) == ("DeleteObject", "pages")
    assert s3_operation("PUT", "/pages", {"policy": ""}) == ("PUT bucket", "pages"), (
        "a bucket setting, not CreateBucket"
    )
