"""Item sizes noted around DynamoDB requests, read from moto's tables (in process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sandbox.api_calls import ApiCall
from stackops.billing_units import dynamodb_item_bytes
from stackops.dynamodb_sizes import MotoTables, observe_item_sizes, targets


@pytest.fixture
def tables() -> Iterator[tuple[Any, MotoTables]]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="runs",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "period")],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "period-index",
                    "KeySchema": [{"AttributeName": "period", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        yield client, MotoTables("123456789012", "us-east-1")


def test_an_update_notes_the_item_before_and_after(tables: tuple[Any, MotoTables]) -> None:
    client, moto_tables = tables
    key = {"pk": {"S": "a"}, "sk": {"S": "b"}}
    client.put_item(TableName="runs", Item=key | {"notes": {"S": "x" * 2000}})
    params = {"TableName": "runs", "Key": key, "UpdateExpression": "SET period = :p REMOVE notes"}
    call = ApiCall(0.0, "ak", "dynamodb", "UpdateItem", params)
    after = observe_item_sizes(moto_tables)(call)
    assert after is not None
    client.update_item(
        TableName="runs",
        Key=key,
        UpdateExpression="SET period = :p REMOVE notes",
        ExpressionAttributeValues={":p": {"S": "2026-01"}},
    )
    (noted,) = after()["items"]
    assert noted["before"] == dynamodb_item_bytes(key | {"notes": {"S": "x" * 2000}})
    assert noted["after"] == dynamodb_item_bytes(key | {"period": {"S": "2026-01"}})
    assert (noted["action"], noted["indexes"]) == ("Update", 1)


def test_a_transaction_names_every_item_it_touches() -> None:
    params = {
        "TransactItems": [
            {"Put": {"TableName": "members", "Item": {"login": {"S": "alice"}, "x": {"N": "1"}}}},
            {"Update": {"TableName": "runs", "Key": {"pk": {"S": "a"}, "sk": {"S": "b"}}}},
            {"ConditionCheck": {"TableName": "runs", "Key": {"pk": {"S": "c"}, "sk": {"S": "d"}}}},
        ]
    }
    keys = {"members": ["login"], "runs": ["pk", "sk"]}
    found = targets("TransactWriteItems", params, lambda table: keys[table])
    assert [(t.table, t.action, dict(t.key)) for t in found] == [
        ("members", "Put", {"login": {"S": "alice"}}),
        ("runs", "Update", {"pk": {"S": "a"}, "sk": {"S": "b"}}),
        ("runs", "ConditionCheck", {"pk": {"S": "c"}, "sk": {"S": "d"}}),
    ]


def test_a_batch_write_names_every_item_it_writes() -> None:
    """The SAML identity cache is written with BatchWriteItem (functions/saml_identities.py): each item is metered."""
    item = {"org": {"S": "o"}, "login": {"S": "alice"}, "samlIdentity": {"S": "{}"}}
    params = {
        "RequestItems": {
            "saml": [
                {"PutRequest": {"Item": item}},
                {"DeleteRequest": {"Key": {"org": {"S": "o"}, "login": {"S": "bob"}}}},
            ]
        }
    }
    found = targets("BatchWriteItem", params, lambda table: ["org", "login"])
    assert [(t.table, t.action, dict(t.key)) for t in found] == [
        ("saml", "Put", {"org": {"S": "o"}, "login": {"S": "alice"}}),
        ("saml", "Delete", {"org": {"S": "o"}, "login": {"S": "bob"}}),
    ]
    assert found[0].sent == item, "sized as the item sent"
