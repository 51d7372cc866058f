"""The DynamoDB write plans and the notifications, computed once and run by either architecture.

A plan is a ``TransactWriteItems`` body in low-level attribute JSON (``{"S": ...}``, ``{"N": ...}``):
the Step Functions variant hands it to the native ``aws-sdk:dynamodb:transactWriteItems``
integration, the SQS variant to ``store_records``. Every plan is conditional, so running it twice
writes once:

- members (hash key ``login``): one Put, ``attribute_not_exists(login)``: the first onboarding wins.
- workflow runs (``pk``/``sk``, GSI ``period-index`` on ``period``/``pk``): a Put of the run item,
  ``attribute_not_exists(pk)``, and in the same transaction two ``ADD`` updates of the
  repository's totals (``TOTAL``, period ``ALL``; ``MONTH#YYYY-MM``, period ``YYYY-MM``). A
  duplicate run cancels the whole transaction, so totals never double count.

Each plan also says where its notification is marked (``StoreRequest.marker``): ``notified = true`` on
the member item or on the run item (never on the totals), set by a conditional ``UpdateItem`` after the
publish, so a retry or a redelivery that finds the record stored publishes only a missing notification.
The marker is a boolean, the same in both architectures and in the oracle (``sandbox/workload.py``).
The item also names the delivery that stored it (``correlationId``): that delivery announces it (its
retries and redeliveries publish a missing notification), and another delivery that finds the item stored,
a backfill next to a ``member_added`` or two at once, publishes nothing, so no record is announced twice.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from functions.common.models import (
    STORED_BY,
    Notification,
    NotificationMarker,
    StoreRequest,
    TeamMembership,
    WorkflowRunRef,
)
from functions.directory import DirectoryResult
from functions.pricing import PricedJob, RunPrice

TOTAL_SK = "TOTAL"
ALL_PERIODS = "ALL"
JOB_NAME_MAX = 200  # bounds the run item (DynamoDB items are at most 400 KB)
NOTIFIED = "notified"  # set to true on a stored item once its success notification is published
#: What a run that finds the item stored reads back (ProjectionExpression, in this order).
READ_ATTRIBUTE_NAMES = {"#notified": NOTIFIED, "#storedBy": STORED_BY}

_serializer = TypeSerializer()


def repository_pk(owner: str, repo: str) -> str:
    return f"REPO#{owner}/{repo}"


def run_sk(run_id: int, attempt: int) -> str:
    """Zero-padded so a repository's runs sort by id, then attempt."""
    return f"RUN#{run_id:020d}#{attempt:04d}"


def month_sk(month: str) -> str:
    return f"MONTH#{month}"


def _utc(timestamp: str) -> datetime:
    moment = datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {timestamp!r} has no time zone")
    return moment.astimezone(UTC)


def booking_day(completed_at: str) -> date:
    """The UTC day a run completed (ISO 8601 timestamp in)."""
    return _utc(completed_at).date()


def booking_month(completed_at: str) -> str:
    """``YYYY-MM`` (UTC): the month a run's cost is booked to."""
    return _utc(completed_at).strftime("%Y-%m")


def attributes(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Low-level attribute JSON of a plain item; None values are left out."""
    return {name: _serializer.serialize(value) for name, value in values.items() if value is not None}


def notification_marker(table: str, key: dict[str, Any]) -> NotificationMarker:
    """Set ``notified = true`` on the stored item with this primary ``key`` (plain values), if it exists."""
    return NotificationMarker(
        table_name=table,
        key=attributes(key),
        update_expression="SET #notified = :notified",
        condition_expression=" AND ".join(f"attribute_exists({name})" for name in key),
        expression_attribute_names={"#notified": NOTIFIED},
        expression_attribute_values=attributes({":notified": True}),
        read_attribute_names=READ_ATTRIBUTE_NAMES,
    )


def _message(kind: str, record: dict[str, Any]) -> str:
    return json.dumps({"kind": kind, **record}, indent=2, sort_keys=True, default=str)


# --- members -------------------------------------------------------------------------------------


def member_store_request(
    membership: TeamMembership, directory: DirectoryResult, *, onboarded_at: datetime, table: str
) -> StoreRequest:
    company = directory.record
    record = {
        "login": membership.login,
        "userId": membership.user_id,
        "org": membership.org,
        "team": membership.team,
        "teamRole": membership.role,
        "teamState": membership.state,
        "source": membership.source,
        "directoryStatus": directory.status,
        "directorySource": directory.source,
        "directoryDetail": directory.detail,
        "employeeId": company.employee_id if company else None,
        "email": company.email if company else None,
        "name": company.name if company else None,
        "department": company.department if company else None,
        "correlationId": membership.correlation_id,
        "onboardedAt": onboarded_at.astimezone(UTC).isoformat(timespec="seconds"),
    }
    record = {name: value for name, value in record.items() if value is not None}
    put = {
        "Put": {
            "TableName": table,
            "Item": attributes(record),
            "ConditionExpression": "attribute_not_exists(login)",
        }
    }
    if company is not None:
        outcome = f"employee {company.employee_id}"
    elif directory.status == "saml_not_configured":
        outcome = "SAML not configured for the org"
    else:
        outcome = "no company record"
    return StoreRequest(
        correlation_id=membership.correlation_id,
        kind="member",
        record=record,
        transact_items=[put],
        notification=Notification(
            subject=f"Onboarded {membership.login} to {membership.org}/{membership.team} ({outcome})",
            message=_message("member", record),
        ),
        marker=notification_marker(table, {"login": membership.login}),
    )


# --- workflow runs -------------------------------------------------------------------------------


def _job_entry(job: PricedJob) -> dict[str, Any]:
    return {
        "id": job.job_id,
        "name": job.name[:JOB_NAME_MAX],
        "labels": list(job.labels),
        "sku": job.sku,
        "minutes": job.minutes,
        "billableMinutes": job.billable_minutes,
        "usdPerMinute": format(job.usd_per_minute, "f"),
        "costUsd": format(job.cost_usd, "f"),
        "estimated": job.estimated,
    }


def workflow_run_store_request(run: WorkflowRunRef, price: RunPrice, *, table: str) -> StoreRequest:
    pk = repository_pk(run.owner, run.repo)
    month = booking_month(run.completed_at)
    cost = price.cost_usd
    repository = f"{run.owner}/{run.repo}"
    record = {
        "repository": repository,
        "repositoryPrivate": run.repository_private,
        "runId": run.run_id,
        "runAttempt": run.run_attempt,
        "workflowName": run.workflow_name,
        "conclusion": run.conclusion,
        "event": run.event,
        "headBranch": run.head_branch,
        "htmlUrl": run.html_url,
        "completedAt": run.completed_at,
        "month": month,
        "jobCount": len(price.jobs),
        "minutes": price.minutes,
        "billableMinutes": price.billable_minutes,
        "costUsd": format(cost, "f"),
        "estimatedJobs": len(price.estimated_jobs),
        "correlationId": run.correlation_id,
    }
    record = {name: value for name, value in record.items() if value is not None}
    run_item = {
        **record,
        "pk": pk,
        "sk": run_sk(run.run_id, run.run_attempt),
        "costUsd": cost,
        "jobs": json.dumps([_job_entry(job) for job in price.jobs], separators=(",", ":")),
    }
    transact_items = [
        {
            "Put": {
                "TableName": table,
                "Item": attributes(run_item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        _add_to_totals(table, pk, TOTAL_SK, ALL_PERIODS, repository, price),
        _add_to_totals(table, pk, month_sk(month), month, repository, price),
    ]
    status = run.conclusion or "completed"
    return StoreRequest(
        correlation_id=run.correlation_id,
        kind="workflow_run",
        record=record,
        transact_items=transact_items,
        notification=Notification(
            subject=(
                f"Run {run.run_id} of {record['repository']} ({status}): "
                f"${format(cost, 'f')}, {price.billable_minutes} billable min"
            ),
            message=_message("workflow_run", record),
        ),
        marker=notification_marker(table, {"pk": pk, "sk": run_item["sk"]}),
    )


def _add_to_totals(table: str, pk: str, sk: str, period: str, repository: str, price: RunPrice) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": attributes({"pk": pk, "sk": sk}),
            "UpdateExpression": (
                "SET #period = :period, #repository = :repository "
                "ADD #runs :one, #minutes :minutes, #billable :billable, #cost :cost, #estimated :estimated"
            ),
            "ExpressionAttributeNames": {
                "#period": "period",
                "#repository": "repository",
                "#runs": "runs",
                "#minutes": "minutes",
                "#billable": "billableMinutes",
                "#cost": "costUsd",
                "#estimated": "estimatedJobs",
            },
            "ExpressionAttributeValues": attributes(
                {
                    ":period": period,
                    ":repository": repository,
                    ":one": 1,
                    ":minutes": price.minutes,
                    ":billable": price.billable_minutes,
                    ":cost": Decimal(price.cost_usd),
                    ":estimated": len(price.estimated_jobs),
                }
            ),
        }
    }
