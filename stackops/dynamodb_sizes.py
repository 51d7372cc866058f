"""The size of each item a DynamoDB request touches, before and after it, read from the emulator's tables.

DynamoDB bills a write by the larger of the item's size before and after it (an ``UpdateItem`` by the
whole item, not by the attributes it sets) and a read by the size of the item it returns
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html). A request
alone does not say those sizes, so :func:`observe_item_sizes` looks the items up in moto's backend just
before and just after the emulator handles the request, and notes them on the call
(``call.notes["items"]``). It runs in the emulator's process; ``sandbox/api_calls.py`` calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.api_calls import ApiCall
from stackops.billing_units import dynamodb_item_bytes

#: The request operations whose items are sized, and the action each item entry names.
_SINGLE = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete", "GetItem": "Get"}
_TRANSACTIONS = ("TransactWriteItems", "TransactGetItems")
#: A BatchWriteItem request's entries, by the action each names.
_BATCH_WRITES = {"PutRequest": "Put", "DeleteRequest": "Delete"}


@dataclass(frozen=True)
class ItemTarget:
    """One item a request reads or writes: its table, key, action, and (for a put) the item sent."""

    table: str
    key: Mapping[str, Any]
    action: str  # Put, Update, Delete, ConditionCheck, Get
    sent: Mapping[str, Any] | None = None  # the item of a Put


def targets(operation: str, params: Mapping[str, Any], key_names: Callable[[str], list[str]]) -> list[ItemTarget]:
    """The items a DynamoDB request touches. ``key_names(table)`` gives the table's key attribute names."""

    def one(action: str, entry: Mapping[str, Any]) -> ItemTarget | None:
        table = entry.get("TableName")
        if not isinstance(table, str):
            return None
        item = entry.get("Item")
        if isinstance(item, Mapping):
            key = {name: item[name] for name in key_names(table) if name in item}
            return ItemTarget(table, key, action, item)
        given = entry.get("Key")
        return ItemTarget(table, given, action) if isinstance(given, Mapping) else None

    found: list[ItemTarget | None] = []
    if operation in _SINGLE:
        found.append(one(_SINGLE[operation], params))
    elif operation in _TRANSACTIONS:
        for entry in params.get("TransactItems") or []:
            for action, body in entry.items():
                if isinstance(body, Mapping):
                    found.append(one(action, body))
    elif operation == "BatchWriteItem":  # the SAML identity cache (functions/saml_identities.py)
        for table, requests in (params.get("RequestItems") or {}).items():
            for request in requests or []:
                for kind, body in request.items():
                    if isinstance(body, Mapping):
                        found.append(one(_BATCH_WRITES.get(kind, kind), {**body, "TableName": table}))
    return [target for target in found if target is not None]


class MotoTables:
    """Reads items and key schemas from moto's DynamoDB backend (in this process)."""

    def __init__(self, account_id: str, region: str) -> None:
        from moto.dynamodb.models import dynamodb_backends

        self._backend = dynamodb_backends[account_id][region]

    def _table(self, name: str) -> Any:
        try:
            return self._backend.get_table(name)
        except Exception:  # not a table (yet): nothing to size
            return None

    def key_names(self, name: str) -> list[str]:
        table = self._table(name)
        if table is None:
            return []
        return [key for key in (table.hash_key_attr, table.range_key_attr) if key]

    def index_keys(self, name: str) -> list[list[str]]:
        """Each global secondary index's key attribute names."""
        table = self._table(name)
        if table is None:
            return []
        return [[element["AttributeName"] for element in index.schema] for index in table.global_indexes]

    def item_bytes(self, name: str, key: Mapping[str, Any]) -> int | None:
        """The stored item's size in DynamoDB's sizing, or None when there is no such item."""
        item = self.item(name, key)
        return None if item is None else dynamodb_item_bytes(item)

    def item(self, name: str, key: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The stored item in DynamoDB JSON, or None."""
        from moto.dynamodb.models.dynamo_type import DynamoType

        table = self._table(name)
        if table is None or table.hash_key_attr not in key:
            return None
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
        try:
            item = table.get_item(DynamoType(key[table.hash_key_attr]), range_key)
        except Exception:
            return None
        return None if item is None else dict(item.to_json()["Attributes"])


def observe_item_sizes(tables: MotoTables) -> Callable[[ApiCall], Callable[[], Mapping[str, Any]] | None]:
    """An ApiCallLog observer noting, per DynamoDB item a request touches, its size before and after and
    whether it is in each global secondary index afterwards."""

    def observer(call: ApiCall) -> Callable[[], Mapping[str, Any]] | None:
        if call.service != "dynamodb":
            return None
        touched = targets(call.operation, call.params, tables.key_names)
        if not touched:
            return None
        before = [tables.item_bytes(t.table, t.key) for t in touched]

        def after() -> Mapping[str, Any]:
            noted = []
            for target, size_before in zip(touched, before, strict=True):
                stored = tables.item(target.table, target.key)
                indexed = stored if stored is not None else target.sent
                noted.append(
                    {
                        "table": target.table,
                        "action": target.action,
                        "before": size_before,
                        "after": None if stored is None else dynamodb_item_bytes(stored),
                        "sent": None if target.sent is None else dynamodb_item_bytes(target.sent),
                        "indexes": sum(
                            1
                            for keys in tables.index_keys(target.table)
                            if indexed is not None and all(k in indexed for k in keys)
                        ),
                    }
                )
            return {"items": noted}

        return after

    return observer
