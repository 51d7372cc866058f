"""The DynamoDB tables as the Pulumi program declares them (components/shared.py), for moto tests."""

from __future__ import annotations

from typing import Any


def create_workflow_runs_table(dynamodb: Any, name: str) -> None:
    """The workflow-runs table: ``pk``/``sk``, GSI ``period-index`` on ``period``/``pk`` (a boto3 client or
    resource: both take these arguments)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in ("pk", "sk", "period")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "period-index",
                "KeySchema": [
                    {"AttributeName": "period", "KeyType": "HASH"},
                    {"AttributeName": "pk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
