"""``GET /chargeback?month=YYYY-MM``: the month's per-repository chargeback as JSON, for a finance tool.

The route is authorized with IAM (``AWS_IAM``, SigV4-signed requests only; components/ingress.py), so
this function trusts its caller and only checks its input: ``month`` (``YYYY-MM``, required) and
``includedMinutes`` (a whole number, optional: the plan's free minutes allocated pro rata). It reads
the workflow-runs table the way ``python -m stackops chargeback`` does (``functions/chargeback.py``:
``Query`` on ``period-index``, every page) and answers the same JSON as its ``--format json``. Its
role may only ``Query`` that table and its index.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from functions.chargeback import ChargebackTable, month_argument, monthly_report, report_json
from functions.common.environment import need
from functions.common.events import HttpApiRequest
from functions.common.json_logging import logger

_client: Any = None


def _table() -> ChargebackTable:
    global _client
    if _client is None:  # one client per warm process
        _client = boto3.client("dynamodb")
    return ChargebackTable(_client, need("WORKFLOW_RUNS_TABLE"))


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def _included_minutes(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise ValueError(f"includedMinutes={text!r} is not a whole number of at least 0")
    return int(text)


def _request_id(event: Any) -> str | None:
    context = event.get("requestContext") or {}
    return str(context["requestId"]) if "requestId" in context else None


@logger.inject_lambda_context(correlation_id=_request_id)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = HttpApiRequest(event)
    query: dict[str, str] = dict(request.get("queryStringParameters") or {})
    try:
        month = month_argument(query.get("month") or "")
        included = _included_minutes(query.get("includedMinutes"))
    except ValueError as error:
        message = "month is required: ?month=YYYY-MM" if not query.get("month") else str(error)
        return _response(400, {"message": message})
    try:
        report = monthly_report(month, _table().month_totals(month), included)
    except (BotoCoreError, ClientError):
        logger.exception("chargeback report: reading the table failed", extra={"month": month})
        return _response(500, {"message": "the chargeback table could not be read"})
    logger.info("chargeback report", extra={"month": month, "repositories": len(report.lines)})
    return _response(200, report_json(report))
