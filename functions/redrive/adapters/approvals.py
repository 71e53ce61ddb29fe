"""Pending approvals in the run state table: the task token stays here, server side.

Item ``approval#<decisionId>``: the task token, the run id and execution ARN, the summary
shown to the person, the link's expiry, and once decided the decision, who and why.

A POST first takes a short ``deciding`` lease (a conditional update from ``pending``, or
from a lease that ran out), then calls Step Functions, and only then records the decision.
If the call fails the lease is given back (``pending``) or, when the run no longer waits,
the approval is ``closed``. Both are conditional on the lease, so a slow request cannot
undo what a later one did.
"""

from __future__ import annotations

import json
from typing import Any

from ..contracts.approval import PendingApproval
from ..errors import aws_error_code

KEEP_SECONDS = 7 * 24 * 3600  # decided approvals stay readable for a week (TTL)


class ApprovalStore:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self.dynamodb = dynamodb
        self.table = table_name

    def _key(self, decision_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"approval#{decision_id}"}}

    def put_request(
        self,
        decision_id: str,
        task_token: str,
        run_id: str,
        summary: dict[str, Any],
        expires_at: int,
        execution_arn: str,
    ) -> None:
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                **self._key(decision_id),
                "status": {"S": "pending"},
                "taskToken": {"S": task_token},
                "runId": {"S": run_id},
                "executionArn": {"S": execution_arn},
                "summary": {"S": json.dumps(summary)},
                "linkExpiresAt": {"N": str(expires_at)},
                "expiresAt": {"N": str(expires_at + KEEP_SECONDS)},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, decision_id: str) -> PendingApproval | None:
        item = self.dynamodb.get_item(TableName=self.table, Key=self._key(decision_id), ConsistentRead=True).get("Item")
        if not item:
            return None
        return PendingApproval(
            status=item["status"]["S"],
            task_token=item["taskToken"]["S"],
            run_id=item["runId"]["S"],
            summary=json.loads(item["summary"]["S"]),
            execution_arn=item.get("executionArn", {}).get("S"),
            decided_by=item.get("decidedBy", {}).get("S"),
            deciding_until=int(item["decidingUntil"]["N"]) if "decidingUntil" in item else None,
            closed_reason=item.get("closedReason", {}).get("S"),
        )

    def _conditional(self, **update: Any) -> bool:
        try:
            self.dynamodb.update_item(TableName=self.table, **update)
        except Exception as error:
            if aws_error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def begin_deciding(self, decision_id: str, lease: str, until: int, now: int) -> bool:
        return self._conditional(
            Key=self._key(decision_id),
            UpdateExpression="SET #s = :deciding, decidingLease = :lease, decidingUntil = :until",
            ConditionExpression="#s = :pending OR (#s = :deciding AND decidingUntil <= :now)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":deciding": {"S": "deciding"},
                ":pending": {"S": "pending"},
                ":lease": {"S": lease},
                ":until": {"N": str(until)},
                ":now": {"N": str(now)},
            },
        )

    def record_decision(self, decision_id: str, decision: str, decided_by: str, comment: str, now: int) -> None:
        # Unconditional but for existence: Step Functions took this decision, so it is the truth.
        self.dynamodb.update_item(
            TableName=self.table,
            Key=self._key(decision_id),
            UpdateExpression=(
                "SET #s = :d, decidedBy = :by, decisionComment = :c, decidedAt = :at "
                "REMOVE decidingLease, decidingUntil"
            ),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":d": {"S": decision},
                ":by": {"S": decided_by},
                ":c": {"S": comment},
                ":at": {"N": str(now)},
            },
        )

    def release(self, decision_id: str, lease: str) -> None:
        self._conditional(
            Key=self._key(decision_id),
            UpdateExpression="SET #s = :pending REMOVE decidingLease, decidingUntil",
            ConditionExpression="#s = :deciding AND decidingLease = :lease",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":pending": {"S": "pending"},
                ":deciding": {"S": "deciding"},
                ":lease": {"S": lease},
            },
        )

    def close(self, decision_id: str, lease: str, reason: str) -> None:
        self._conditional(
            Key=self._key(decision_id),
            UpdateExpression="SET #s = :closed, closedReason = :reason REMOVE decidingLease, decidingUntil",
            ConditionExpression="#s = :deciding AND decidingLease = :lease",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":closed": {"S": "closed"},
                ":deciding": {"S": "deciding"},
                ":lease": {"S": lease},
                ":reason": {"S": reason},
            },
        )
