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
from stackops.stack_outputs import StackOutputs
from tests.tables import create_workflow_runs_table

REGION = "us-east-1"
TABLE = "github-automation-dev-workflow-runs"


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
        create_workflow_runs_table(client, TABLE)
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


def stack_outputs(**github: str) -> StackOutputs:
    """`--stack dev`'s outputs: the moto table (and, for reconcile, the GitHub App's ``github_*`` outputs)."""
    return StackOutputs(
        stack="dev",
        architecture="sqs",
        function_log_groups={"receiver": "/aws/lambda/r"},
        workflow_runs_table=TABLE,
        region=REGION,
        **github,  # type: ignore[arg-type]
    )
