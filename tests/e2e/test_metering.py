"""Metering: a scripted delivery through each design yields exactly the billable units derived by hand.

One sandbox with the three designs the cost comparison meters (sqs; stepfunctions with EXPRESS per-event
machines; stepfunctions with STANDARD ones). Each test sends one delivery to a fresh stack (its first after
the meter's warm-up ping, which starts only the receiver: every other function starts cold) and compares
the metered units with the ones
written out here from the code path and the ASL (components/statemachines/*.asl.json).

Left out of the exact comparison, and checked for consistency instead: Lambda GB-seconds and log bytes
(measured durations and timestamps in the lines vary run to run) and the pollers' empty receives (how many
fall into a window depends on timing; they are idle cost, not the delivery's).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.fake_github import SANDBOX_ORG
from sandbox.workload import installation_created, member_added
from stackops.billing_units import dynamodb_item_bytes
from stackops.sandbox_meter import (
    DESIGN_ORDER,
    SECRET_CACHE_SECONDS,
    STANDARD_DESIGN,
    SandboxMeter,
)
from stackops.usage import UsageLine, UseCaseUsage

Key = tuple[str, str, str, frozenset[tuple[str, str]]]
ALICE = SANDBOX_ORG.members[0]
MEMBERS_IN_ORG = len(SANDBOX_ORG.members)


@pytest.fixture(scope="module")
def meter() -> Iterator[SandboxMeter]:
    with SandboxMeter.start(DESIGN_ORDER, time_scale=0.002) as running:
        yield running


def _exact(lines: list[UsageLine]) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for line in lines:
        if (line.service, line.unit) in (("lambda", "gb_seconds"), ("logs", "ingested_gb")):
            continue
        if line.attributes.get("empty") == "true":
            continue
        strings = frozenset((k, v) for k, v in line.attributes.items() if isinstance(v, str))
        out[(line.service, line.unit, line.resource, strings)] = line.quantity
    return out


def _k(service: str, unit: str, resource: str, **attributes: str) -> Key:
    return (service, unit, resource, frozenset(attributes.items()))


def _consistent(usage: UseCaseUsage, functions: dict[str, str]) -> None:
    """GB-seconds follow from their own attributes; every function and state machine logged something."""
    for line in usage.lines:
        if (line.service, line.unit) == ("lambda", "gb_seconds"):
            a = line.attributes
            expected = (
                float(a["invokesPerDelivery"]) * float(a["billedMsPerInvoke"]) / 1000 * float(a["memoryMb"]) / 1024
            )
            assert line.quantity == pytest.approx(expected), line
            assert a["architecture"] == "arm64" and line.quantity > 0
    logged = {line.resource for line in usage.lines if (line.service, line.unit) == ("logs", "ingested_gb")}
    assert set(functions) | {"webhook-access"} <= logged  # and the HTTP API's access log
    invoked = {line.resource for line in usage.lines if (line.service, line.unit) == ("lambda", "gb_seconds")}
    assert invoked == {name for name, trigger in functions.items() if trigger != "machine"}


def _member_units(meter: SandboxMeter, design: str) -> tuple[int, int]:
    """(transactional write units of the stored member, write units of marking it notified): the member item
    is under 1 KB before and after the marker, so 2 (1 KB x 2, transactional) and 1."""
    table = meter.sandbox.stacks[design].exports["membersTable"]
    (item,) = meter.sandbox.raw_table_items(design, "membersTable")
    assert item["login"] == {"S": ALICE.login} and table.endswith("-members")
    assert dynamodb_item_bytes(item) < 1024
    return 2, 1


def _common_member_added(notify_resource: str = "notifications") -> dict[Key, float]:
    return {
        _k("apigateway", "http_requests", "webhook"): 1,
        _k("sns", "publishes", notify_resource): 1,
        _k("sns", "email_deliveries", notify_resource): 1,  # the example stack's one email subscription
        # no X-Ray line: the example stacks leave xrayTracing at PassThrough
    }


def test_member_added_through_sqs(meter: SandboxMeter) -> None:
    usage = meter.phase("sqs", "member_added", [member_added(SANDBOX_ORG, ALICE)])
    put, mark = _member_units(meter, "sqs")
    expected = _common_member_added()
    # receiver (HTTP) -> add-team-member queue -> lookup-directory queue -> store-records queue: each hop is
    # one SendMessage by the function before it, one ReceiveMessage with the message and one
    # DeleteMessageBatch by the poller, one invoke of one record.
    for hop, sender in (
        ("add-team-member", "receiver"),
        ("lookup-directory", "add-team-member"),
        ("store-records", "lookup-directory"),
    ):
        expected[_k("sqs", "requests", hop, operation="SendMessage", caller="function")] = 1
        expected[_k("sqs", "requests", hop, operation="ReceiveMessage", caller="poller", empty="false")] = 1
        expected[_k("sqs", "requests", hop, operation="DeleteMessageBatch", caller="poller")] = 1
        expected[_k("lambda", "requests", hop, trigger="sqs")] = 1
        assert sender
    expected[_k("lambda", "requests", "receiver", trigger="http")] = 1
    # store-records writes the member in one transaction and marks it notified after publishing.
    expected[_k("dynamodb", "write_request_units", "members", operation="TransactWriteItems")] = put
    expected[_k("dynamodb", "write_request_units", "members", operation="UpdateItem")] = mark
    assert _exact(usage.lines) == expected
    records = {
        line.resource: line.attributes.get("recordsPerInvoke")
        for line in usage.lines
        if line.unit == "requests" and line.service == "lambda"
    }
    assert records == {"receiver": None, "add-team-member": 1.0, "lookup-directory": 1.0, "store-records": 1.0}
    _consistent(
        usage, {"receiver": "http", "add-team-member": "sqs", "lookup-directory": "sqs", "store-records": "sqs"}
    )
    assert len(usage.latency_seconds) == 1 and usage.latency_seconds[0] > 0


@pytest.mark.parametrize("design", ["stepfunctions", STANDARD_DESIGN])
def test_member_added_through_stepfunctions(meter: SandboxMeter, design: str) -> None:
    usage = meter.phase(design, "member_added", [member_added(SANDBOX_ORG, ALICE)])
    put, mark = _member_units(meter, design)
    expected = _common_member_added()
    expected[_k("lambda", "requests", "receiver", trigger="http")] = 1
    # onboarding.asl.json on the success path: AddTeamMember (lambda:invoke), LookupDirectory (lambda:invoke),
    # Store (aws-sdk:dynamodb:transactWriteItems), NotifySuccess (sns:publish), MarkNotified
    # (dynamodb:updateItem), RecordLatency (aws-sdk:cloudwatch:putMetricData): six
    # states entered, two Lambda invokes, the writes, the publish and the metric made by the engine itself
    # (no store-records function).
    expected[_k("lambda", "requests", "add-team-member", trigger="states")] = 1
    expected[_k("lambda", "requests", "lookup-directory", trigger="states")] = 1
    expected[_k("dynamodb", "write_request_units", "members", operation="TransactWriteItems")] = put
    expected[_k("dynamodb", "write_request_units", "members", operation="UpdateItem")] = mark
    expected[_k("cloudwatch", "metric_api_requests", "", operation="PutMetricData")] = 1
    if design == STANDARD_DESIGN:
        expected[_k("states", "standard_transitions", "onboarding")] = 6
    else:
        expected[_k("states", "express_requests", "onboarding")] = 1
        expected[_k("states", "express_gb_seconds", "onboarding")] = next(
            line.quantity for line in usage.lines if line.unit == "express_gb_seconds"
        )
    assert _exact(usage.lines) == expected
    if design != STANDARD_DESIGN:
        (express,) = (line for line in usage.lines if line.unit == "express_gb_seconds")
        billed_ms, billed_mb = (
            float(express.attributes["billedMsPerExecution"]),
            float(express.attributes["billedMemoryMb"]),
        )
        assert billed_mb == 64 and billed_ms % 100 == 0 and billed_ms >= 100
        assert express.quantity == pytest.approx(billed_ms / 1000 * billed_mb / 1024)
    (logs,) = (line for line in usage.lines if line.resource == "onboarding" and line.service == "logs")
    # The machines log errors only (stateMachineLogLevel ERROR): a successful execution logs nothing; the
    # meter also sizes what ALL would have logged, with and without execution data (the logLevel lever).
    assert logs.attributes["level"] == "ERROR" and logs.quantity == 0
    alternatives = logs.attributes
    assert float(alternatives["gbAt.OFF"]) == float(alternatives["gbAt.FATAL"]) == 0
    with_data, without = float(alternatives["gbAt.ALL"]), float(alternatives["gbAt.ALL.noExecutionData"])
    assert with_data > without > 0
    _consistent(
        usage, {"receiver": "http", "add-team-member": "states", "lookup-directory": "states", "onboarding": "machine"}
    )


def test_a_backfill_through_standard_counts_every_child_and_map_iteration(meter: SandboxMeter) -> None:
    usage = meter.phase(STANDARD_DESIGN, "installation", [installation_created(SANDBOX_ORG)])
    # backfill.asl.json, the parent: FirstPage; ListOrgMembers, PageHasMembers, MorePages twice (the SAML
    # identities' call, which writes no page, then the one page of members), PutPage once, OnboardPages (the
    # Distributed Map), AnyFailed, NoneFailed, Summarize, NotifySummary; the page's child execution (billed as
    # the backfill's): ReadPage, OnboardMembers (the inline Map) and, per member, OnboardMember
    # (startExecution.sync:2 of onboarding), CheckOnboarding, MemberOnboarded; then CheckPageFailures,
    # AnyPageFailed, PageDone. Each onboarding execution enters its seven states and puts its latency (as in
    # test_member_added_through_stepfunctions).
    exact = _exact(usage.lines)
    assert exact[_k("states", "standard_transitions", "backfill")] == 1 + 2 * 3 + 6 + 2 + 3 * MEMBERS_IN_ORG + 3
    assert exact[_k("states", "standard_transitions", "onboarding")] == 6 * MEMBERS_IN_ORG
    assert exact[_k("cloudwatch", "metric_api_requests", "", operation="PutMetricData")] == MEMBERS_IN_ORG
    assert exact[_k("lambda", "requests", "list-org-members", trigger="states")] == 2, "identities, then members"
    # the page's object: written by PutPage, listed by the Distributed Map's ItemReader, read by its child
    for unit, operation in (("tier1", "PutObject"), ("tier1", "ListObjectsV2"), ("tier2", "GetObject")):
        assert exact[_k("s3", f"{unit}_requests", "backfill-pages", operation=operation)] == 1, operation
    assert exact[_k("lambda", "requests", "add-team-member", trigger="states")] == MEMBERS_IN_ORG
    assert exact[_k("sns", "publishes", "notifications")] == MEMBERS_IN_ORG + 1  # one per member, the summary
    assert len(usage.latency_seconds) == 1  # webhook sent -> the backfill's summary


@pytest.mark.parametrize(("design", "readers"), [("sqs", 5), ("stepfunctions", 5), (STANDARD_DESIGN, 5)])
def test_secret_reads_are_a_warm_environments_refreshes_not_a_deliverys(
    meter: SandboxMeter, design: str, readers: int
) -> None:
    """The cold functions of a phase read their secret (the sandbox's calls), but no delivery line prices
    it: a month's reads are each (function, secret) pair's refresh every SECRET_CACHE_SECONDS. sqs: the
    receiver (webhook secret) and the four GitHub functions (App secret); stepfunctions: the same five."""
    usage = meter.phase(design, "member_added", [member_added(SANDBOX_ORG, ALICE)])
    assert not [line for line in usage.lines if line.service == "secretsmanager"]
    [reads] = [
        line
        for line in meter.stack_usage(design, [usage]).idle.lines
        if (line.service, line.unit) == ("secretsmanager", "api_requests")
    ]
    assert reads.attributes["readers"] == readers
    assert reads.quantity == pytest.approx(readers * 730 * 3600 / SECRET_CACHE_SECONDS)
