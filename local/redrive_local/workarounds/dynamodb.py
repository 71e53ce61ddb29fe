"""DynamoDB: conditional writes applied atomically; transactions that back up the items they
write, not the whole table."""

from __future__ import annotations

import copy
import threading
from typing import Any

from .registry import workaround

# One write or transaction at a time, across the server's request threads. Reentrant: a
# batch write puts its items through put_item.
_WRITES = threading.RLock()


class _TablesNotCopied:
    """``copy`` as moto's DynamoDB models see it, except that a Table is not deep-copied:
    the transaction wrapper below backs up the items it writes instead."""

    def __init__(self, table_type: type) -> None:
        self.table_type = table_type

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, self.table_type):
            return value
        return copy.deepcopy(value, memo)


def _written_keys(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    keys = []
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        table_name = op.get("TableName")
        if op_type == "ConditionCheck" or table_name not in backend.tables:
            continue
        if op_type == "Put":
            table = backend.tables[table_name]
            attrs = op.get("Item", {})
            key = {name: attrs[name] for name in (table.hash_key_attr, table.range_key_attr) if name and name in attrs}
        else:
            key = op.get("Key", {})
        keys.append((table_name, key))
    return keys


@workaround
def _dynamodb_transactions_back_up_their_items() -> None:
    """moto's ``transact_write_items`` deep-copies every table it touches, whole, before
    each transaction, to restore it if one part fails. That is O(table) per transaction
    (quadratic over a run whose state table gains an item per batch: a 1,000-batch redrive
    spent most of its time copying), and the copy iterates the table's dicts while other
    requests write to them, so a transaction can fail with ``RuntimeError: dictionary changed
    size during iteration`` (HTTP 500), which AWS never answers for that. Here a transaction
    backs up only the items it writes (at most 100), restores those if it is cancelled, and
    transactions run one at a time, apart from every other write (AWS isolates them)."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    models.copy = _TablesNotCopied(Table)  # type: ignore[assignment]
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _WRITES:
            backups = []
            for table_name, key in _written_keys(self, transact_items):
                try:
                    item = self.get_item(table_name, key)
                except Exception:  # a key moto refuses: the transaction itself says so
                    continue
                backups.append((table_name, key, copy.deepcopy(item) if item is not None else None))
            try:
                original(self, transact_items)
            except Exception:
                for table_name, key, item in reversed(backups):
                    _restore(self.tables[table_name], key, item)
                raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


@workaround
def _dynamodb_conditional_writes_are_atomic() -> None:
    """moto evaluates a write's ConditionExpression, then applies the write, with nothing held
    between the two, and its server answers each request on a thread of its own: two
    conditional writes of one item at once can both pass a condition only one of them should
    (two lanes got the same pace slot: a pace cell read 1.06 of the rate, and the concurrent
    rate limiter test failed under load). DynamoDB checks a conditional PutItem, UpdateItem or
    DeleteItem against the item and writes it as one operation (Developer Guide: condition
    expressions and conditional writes), so of two racing writes only one can pass a
    condition the other's write breaks. Here each runs whole under one lock, transactions too."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in ("put_item", "update_item", "delete_item"):
        original = getattr(DynamoDBBackend, name)

        def write(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _WRITES:
                return __original(self, *args, **kwargs)

        write.__name__ = write.__qualname__ = name
        setattr(DynamoDBBackend, name, write)


def _restore(table: Any, key: dict[str, Any], item: Any) -> None:
    """Put ``item`` (None: no item) back under ``key``, as it was before the transaction."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = DynamoType(key[table.hash_key_attr])
    if table.range_key_attr:
        rows = table.items.setdefault(hash_value, {})
        range_value = DynamoType(key[table.range_key_attr])
        if item is None:
            rows.pop(range_value, None)
        else:
            rows[range_value] = item
    elif item is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = item
