"""The workflow-runs table in moto, filled with what the oracle of the sandbox workload says a stack stores."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sandbox.fake_github import SANDBOX_ORG
from sandbox.workload import expected_tables, sandbox_workload

REGION = "us-east-1"
TABLE = "github-automation-dev-workflow-runs"


def create_table(dynamodb: Any) -> None:
    """The workflow-runs table as components/shared.py declares it."""
    dynamodb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "period")],
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
    )


class QueryOnly:
    """The DynamoDB client, recording each operation; any other read than Query fails the test."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.queries: list[dict[str, Any]] = []

    def query(self, **request: Any) -> Any:
        self.queries.append(request)
        return self.client.query(**request)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"chargeback called DynamoDB {name}; it may only Query")


@contextmanager
def moto_runs_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto with the workflow-runs table, and its DynamoDB client."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client)
        yield client


def load_the_oracle() -> Any:
    """Fill the table with what the oracle says the sandbox workload leaves; the oracle's tables."""
    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
    oracle = expected_tables(SANDBOX_ORG, sandbox_workload())
    with table.batch_writer() as batch:
        for items in oracle.workflow_runs.values():
            batch.put_item(Item=items[0])
    return oracle


@pytest.fixture
def runs_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with moto_runs_table(monkeypatch) as client:
        yield client


@pytest.fixture
def sandbox_tables(runs_table: Any) -> Any:
    """The table after the sandbox workload, as the oracle states it."""
    return load_the_oracle()
