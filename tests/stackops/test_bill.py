"""``stackops.bill`` against moto: Cost Explorer results seeded the way moto documents (its moto-api queue)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto import mock_aws

from components import tagging
from sandbox import moto_fixes
from stackops import tags
from stackops.bill import BillError, check_period, earliest_start, read_bill

TODAY = date(2026, 12, 2)
SEED_URL = "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results"


def result(*periods: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {"ResultsByTime": list(periods), "DimensionValueAttributes": []}
    if token:
        page["NextPageToken"] = token
    return page


def period(start: str, end: str, **usd: str) -> dict[str, Any]:
    return {
        "TimePeriod": {"Start": start, "End": end},
        "Total": {},
        "Groups": [
            {"Keys": [service], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}
            for service, amount in usd.items()
        ],
        "Estimated": False,
    }


def seed(*results: dict[str, Any]) -> None:
    """moto answers each distinct GetCostAndUsage request with the next seeded result, in order."""
    assert requests.post(SEED_URL, json={"results": list(results)}, timeout=5).status_code == 201


@pytest.fixture
def session() -> Iterator[boto3.session.Session]:
    patches = moto_fixes.Patches()
    moto_fixes.serve_cost_allocation_tags(patches)
    try:
        with mock_aws():
            yield boto3.session.Session(region_name="eu-west-1")
    finally:
        patches.uninstall()


def activate(session: boto3.session.Session, status: str = "Active") -> None:
    session.client("ce", region_name="us-east-1").update_cost_allocation_tags_status(
        CostAllocationTagsStatus=[{"TagKey": tags.STACK_TAG, "Status": status}]
    )


def test_the_tag_names_match_the_programs() -> None:
    assert (tags.STACK_TAG, tags.ARCHITECTURE_TAG) == (tagging.STACK_TAG, tagging.ARCHITECTURE_TAG)


def test_each_stack_gets_its_services_summed_over_the_period_and_the_pages(session: boto3.session.Session) -> None:
    activate(session)
    seed(
        # dev: two pages (NextPageToken), two months
        result(
            period("2026-10-01", "2026-11-01", **{"AWS Lambda": "1.25", "Amazon Simple Queue Service": "0.5"}),
            token="page-2",
        ),
        result(period("2026-11-01", "2026-12-01", **{"AWS Lambda": "0.75", "AmazonCloudWatch": "2.3"})),
        # dev-sfn: one page
        result(
            period("2026-10-01", "2026-11-01", **{"AWS Step Functions": "4.0"}),
            period("2026-11-01", "2026-12-01", **{"AWS Step Functions": "3.5", "AWS Lambda": "0.1"}),
        ),
    )
    bill = read_bill(["dev", "dev-sfn"], start=date(2026, 10, 1), end=date(2026, 12, 1), session=session, today=TODAY)
    assert bill == {
        "dev": {"AWS Lambda": 2.0, "Amazon Simple Queue Service": 0.5, "AmazonCloudWatch": 2.3},
        "dev-sfn": {"AWS Step Functions": 7.5, "AWS Lambda": 0.1},
    }


def test_a_stack_with_no_cost_has_an_empty_bill(session: boto3.session.Session) -> None:
    activate(session)
    assert read_bill(["idle"], start=date(2026, 11, 1), end=date(2026, 12, 1), session=session, today=TODAY) == {
        "idle": {}
    }


def test_the_request_filters_by_the_stack_tag_and_groups_by_service(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    activate(session)
    sent: list[dict[str, Any]] = []
    client = session.client

    def recording_client(service: str, **kwargs: Any) -> Any:
        made = client(service, **kwargs)
        made.meta.events.register("provide-client-params.ce.GetCostAndUsage", lambda params, **_: sent.append(params))
        return made

    monkeypatch.setattr(session, "client", recording_client)
    read_bill(
        ["dev"], start=date(2026, 11, 1), end=date(2026, 12, 1), session=session, today=TODAY, granularity="DAILY"
    )
    assert sent == [
        {
            "TimePeriod": {"Start": "2026-11-01", "End": "2026-12-01"},
            "Granularity": "DAILY",
            "Metrics": ["UnblendedCost"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
            "Filter": {"Tags": {"Key": "github-automation:stack", "Values": ["dev"], "MatchOptions": ["EQUALS"]}},
        }
    ]


@pytest.mark.parametrize(("status", "said"), [(None, "is not listed yet"), ("Inactive", "is Inactive")])
def test_an_inactive_tag_is_one_line_saying_how_to_activate_it(
    session: boto3.session.Session, status: str | None, said: str
) -> None:
    if status:
        activate(session, status)
    with pytest.raises(BillError) as caught:
        read_bill(["dev"], start=date(2026, 11, 1), end=date(2026, 12, 1), session=session, today=TODAY)
    message = str(caught.value)
    assert "\n" not in message
    assert f"'github-automation:stack' {said}" in message
    assert "update-cost-allocation-tags-status" in message


def test_a_cost_explorer_error_is_one_line_with_its_code(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    activate(session)
    client = session.client

    def failing_client(service: str, **kwargs: Any) -> Any:
        made = client(service, **kwargs)

        def refuse(**_: Any) -> None:
            raise ClientError(
                {"Error": {"Code": "DataUnavailableException", "Message": "Data is not available."}}, "GetCostAndUsage"
            )

        made.meta.events.register("before-call.ce.GetCostAndUsage", refuse)
        return made

    monkeypatch.setattr(session, "client", failing_client)
    with pytest.raises(
        BillError, match=r"^Cost Explorer: DataUnavailableException: Data is not available\. \(stack 'dev'"
    ):
        read_bill(["dev"], start=date(2026, 11, 1), end=date(2026, 12, 1), session=session, today=TODAY)


def test_the_history_is_13_months_and_the_current_one() -> None:
    assert earliest_start(TODAY) == date(2025, 11, 1)
    assert earliest_start(date(2026, 1, 31)) == date(2024, 12, 1)
    assert earliest_start(TODAY, history_months=37) == date(2023, 11, 1)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (date(2025, 10, 31), date(2026, 11, 1), r"^start: 2025-10-31 is beyond Cost Explorer's history.*2025-11-01"),
        (date(2026, 11, 1), date(2026, 11, 1), r"^start: 2026-11-01 must be before end 2026-11-01"),
        (date(2026, 11, 2), date(2026, 11, 1), r"^start: 2026-11-02 must be before end"),
    ],
)
def test_a_period_cost_explorer_cannot_answer_is_refused_before_any_request(
    start: date, end: date, message: str
) -> None:
    with pytest.raises(BillError, match=message):
        check_period(start, end, today=TODAY)
    check_period(date(2025, 11, 1), date(2026, 12, 3), today=TODAY)
