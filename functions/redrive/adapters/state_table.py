"""The run state table (DynamoDB): the per-DLQ run lock and per-batch redrive markers.

Both rely on conditional writes, so two executions (or a retried Map iteration) cannot
both win.
"""

from __future__ import annotations

import time
from typing import Any

LOCK_TTL_SECONDS = 3 * 24 * 3600  # longer than a run can last (approval waits 24 h by default)


class StateTable:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self.dynamodb = dynamodb
        self.table = table_name

    def _conditional_failed(self, error: Exception) -> bool:
        code = getattr(error, "response", {}).get("Error", {}).get("Code")
        return code == "ConditionalCheckFailedException"

    def acquire_lock(self, dlq_url: str, holder: str, now: float | None = None) -> str | None:
        """Take the DLQ's lock for ``holder``; return the current holder if another has it."""
        now = now or time.time()
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"lock#{dlq_url}"},
                    "holder": {"S": holder},
                    "expiresAt": {"N": str(int(now) + LOCK_TTL_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(pk) OR holder = :me OR expiresAt < :now",
                ExpressionAttributeValues={":me": {"S": holder}, ":now": {"N": str(int(now))}},
            )
            return None
        except Exception as error:
            if not self._conditional_failed(error):
                raise
        item = self.dynamodb.get_item(TableName=self.table, Key={"pk": {"S": f"lock#{dlq_url}"}}, ConsistentRead=True)
        return str(item.get("Item", {}).get("holder", {}).get("S", "unknown"))

    def release_lock(self, dlq_url: str, holder: str) -> bool:
        try:
            self.dynamodb.delete_item(
                TableName=self.table,
                Key={"pk": {"S": f"lock#{dlq_url}"}},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": holder}},
            )
            return True
        except Exception as error:
            if self._conditional_failed(error):
                return False
            raise

    def claim_batch(self, run_id: str, batch_id: str, now: float | None = None) -> str | None:
        """Mark a batch as started; return its earlier status if it was claimed before."""
        now = now or time.time()
        key = {"pk": {"S": f"batch#{run_id}#{batch_id}"}}
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={**key, "status": {"S": "started"}, "expiresAt": {"N": str(int(now) + LOCK_TTL_SECONDS)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            return None
        except Exception as error:
            if not self._conditional_failed(error):
                raise
        item = self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        return str(item.get("Item", {}).get("status", {}).get("S", "started"))

    def complete_batch(self, run_id: str, batch_id: str) -> None:
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": f"batch#{run_id}#{batch_id}"}},
            UpdateExpression="SET #s = :done",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":done": {"S": "completed"}},
        )
