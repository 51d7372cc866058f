"""The real bill of each stack: Cost Explorer ``GetCostAndUsage`` filtered by the stack's cost allocation tag.

``read_bill(["dev", "dev-sfn"], start=..., end=...)`` -> ``{"dev": {"AWS Lambda": 1.23, ...}, ...}``: the
UnblendedCost (USD) of every resource tagged ``github-automation:stack = <stack>`` over ``[start, end)``,
grouped by service, summed over the period.

What Cost Explorer needs and answers:

- the tag must be activated as a cost allocation tag (Billing console > Cost allocation tags, or
  ``ce:UpdateCostAllocationTagsStatus``; it is listed there about 24 hours after it was first applied,
  and costs are tagged from the activation on, unless backfilled). Before that, CE answers no error, only
  no cost: ``read_bill`` asks ``ListCostAllocationTags`` first and says so in one line;
- it keeps 13 months of history plus the current month (38 months at MONTHLY granularity once multi-year
  data is enabled: pass ``history_months``); ``End`` is exclusive; a period outside that is refused here,
  before a request is paid for (each request costs $0.01);
- Cost Explorer is a global service: its endpoint is in us-east-1 whatever region the stacks are in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from stackops.tags import STACK_TAG

Granularity = Literal["DAILY", "MONTHLY"]
METRIC = "UnblendedCost"
CE_REGION = "us-east-1"
#: Cost Explorer's history: the last 13 months and the current one.
HISTORY_MONTHS = 13


class BillError(RuntimeError):
    """Cost Explorer cannot give the bill asked for; the message is one line saying why and what to do."""


def earliest_start(today: date, history_months: int = HISTORY_MONTHS) -> date:
    """The first day Cost Explorer still has: the 1st of the month ``history_months`` before this one."""
    months = today.year * 12 + today.month - 1 - history_months
    return date(months // 12, months % 12 + 1, 1)


def check_period(start: date, end: date, *, today: date, history_months: int = HISTORY_MONTHS) -> None:
    """Refuse a period Cost Explorer cannot answer, naming the argument, the value and what is allowed."""
    if start >= end:
        raise BillError(f"start: {start.isoformat()} must be before end {end.isoformat()} (end is exclusive)")
    first = earliest_start(today, history_months)
    if start < first:
        raise BillError(
            f"start: {start.isoformat()} is beyond Cost Explorer's history; it keeps {history_months} months "
            f"and the current one, so start on {first.isoformat()} or later"
        )


def check_tag_active(ce: Any, tag: str = STACK_TAG) -> None:
    """Cost Explorer filters only by an active cost allocation tag: say how to activate it if it is not."""
    try:
        listed = ce.list_cost_allocation_tags(TagKeys=[tag], Type="UserDefined")["CostAllocationTags"]
    except (ClientError, BotoCoreError) as error:
        raise BillError(f"Cost Explorer: cannot list the cost allocation tag {tag!r}: {error}") from error
    status = next((t["Status"] for t in listed if t["TagKey"] == tag), None)
    if status != "Active":
        state = (
            "is not listed yet (AWS lists a tag about 24 hours after it is first applied)"
            if status is None
            else "is Inactive"
        )
        raise BillError(
            f"Cost Explorer: the cost allocation tag {tag!r} {state}: activate it in the Billing console "
            f"(Cost allocation tags) or with `aws ce update-cost-allocation-tags-status "
            f"--cost-allocation-tags-status TagKey={tag},Status=Active`; costs are tagged from then on"
        )


def read_bill(
    stacks: Sequence[str],
    *,
    start: date,
    end: date,
    session: boto3.session.Session | None = None,
    granularity: Granularity = "MONTHLY",
    history_months: int = HISTORY_MONTHS,
    today: date | None = None,
) -> dict[str, dict[str, float]]:
    """Per stack, USD per service over ``[start, end)``: what AWS billed the resources tagged with it."""
    check_period(start, end, today=today or date.today(), history_months=history_months)
    ce = (session or boto3.session.Session()).client("ce", region_name=CE_REGION)
    check_tag_active(ce)
    return {stack: _stack_bill(ce, stack, start, end, granularity) for stack in stacks}


def _stack_bill(ce: Any, stack: str, start: date, end: date, granularity: Granularity) -> dict[str, float]:
    request: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": granularity,
        "Metrics": [METRIC],
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        "Filter": {"Tags": {"Key": STACK_TAG, "Values": [stack], "MatchOptions": ["EQUALS"]}},
    }
    by_service: dict[str, float] = defaultdict(float)
    while True:
        try:
            page = ce.get_cost_and_usage(**request)
        except ClientError as error:
            code, message = error.response["Error"].get("Code", ""), error.response["Error"].get("Message", "")
            raise BillError(f"Cost Explorer: {code}: {message} (stack {stack!r}, {start}..{end})") from error
        except BotoCoreError as error:
            raise BillError(f"Cost Explorer: {error} (stack {stack!r})") from error
        for period in page.get("ResultsByTime", []):
            for group in period.get("Groups", []):
                cost = group["Metrics"][METRIC]
                if cost.get("Unit", "USD") != "USD":
                    raise BillError(f"Cost Explorer answered {cost['Unit']!r}, not USD, for {group['Keys']}")
                by_service[group["Keys"][0]] += float(cost["Amount"])
        token = page.get("NextPageToken")
        if not token:
            return dict(by_service)
        request["NextPageToken"] = token
