"""Pending approvals in the run state table: the task token stays here, server side.

Item ``approval#<decisionId>``: the task token, the run id, the summary shown to the
person, the link's expiry, and once decided the decision, who and why. Deciding is a
conditional update from ``pending``: a decision is single use.
"""

from __future__ import annotations

import json
import time
from typing import Any

KEEP_SECONDS = 7 * 24 * 3600  # decided approvals stay readable for a week (TTL)


class ApprovalStore:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self.dynamodb = dynamodb
        self.table = table_name

    def put_request(
        self, decision_id: str, task_token: str, run_id: str, summary: dict[str, Any], expires_at: int
    ) -> None:
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"approval#{decision_id}"},
                "status": {"S": "pending"},
                "taskToken": {"S": task_token},
                "runId": {"S": run_id},
                "summary": {"S": json.dumps(summary)},
                "linkExpiresAt": {"N": str(expires_at)},
                "expiresAt": {"N": str(expires_at + KEEP_SECONDS)},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, decision_id: str) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": f"approval#{decision_id}"}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return {
            "status": item["status"]["S"],
            "taskToken": item["taskToken"]["S"],
            "runId": item["runId"]["S"],
            "summary": json.loads(item["summary"]["S"]),
            "decidedBy": item.get("decidedBy", {}).get("S"),
        }

    def mark_decided(self, decision_id: str, decision: str, decided_by: str, comment: str) -> bool:
        """Record the decision if the approval is still pending; False if it was not."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"approval#{decision_id}"}},
                UpdateExpression="SET #s = :d, decidedBy = :by, decisionComment = :c, decidedAt = :at",
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":d": {"S": decision},
                    ":by": {"S": decided_by},
                    ":c": {"S": comment},
                    ":at": {"N": str(int(time.time()))},
                    ":pending": {"S": "pending"},
                },
            )
            return True
        except Exception as error:
            if getattr(error, "response", {}).get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
