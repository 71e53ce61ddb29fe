"""The run state table (DynamoDB): the per-DLQ run lock, each run's lease, the batch claims.

Every rule here is a conditional write, so two executions, a retried Map iteration, or a
Lambda still running after its execution ended cannot both win:

- ``lock#<queueArn>``: one run per DLQ. Keyed by the queue's ARN (two URL spellings of one
  queue are one lock). Its TTL outlasts the longest approval wait.
- ``run#<runId>``: the run's lease (contracts/ledger.py). While ``open`` it carries
  ``openRun`` (the key of the sparse index ``open-runs`` the reconciler queries).
- ``returned#<queueArn>``: how many messages returned by earlier runs the last run the
  alarm started left in the DLQ (the DlqArrivals check compares the DLQ's depth with it).
- ``batch#<runId>#<batchId>``: a batch claimed, written in one transaction with its entry
  in the lease's ``inFlight``, conditional on the lease being open.
- ``rate#<runId>``: the run's pace, ``tat`` (the end of the last sending slot reserved, epoch
  seconds): every lane of the run reserves its batches' slots here.
"""

from __future__ import annotations

import time
from typing import Any

from ..contracts.ledger import LeaseStatus, RunLease
from ..contracts.run import LONGEST_APPROVAL_WAIT_SECONDS
from ..errors import AlreadyClaimed, Fenced, LockHeld, aws_error_code

# Longer than a run can last: a day more than the longest approval wait, for the steps around it.
LEASE_SECONDS = LONGEST_APPROVAL_WAIT_SECONDS + 24 * 3600
SETTLED_KEEP_SECONDS = 30 * 24 * 3600
OPEN_RUNS_INDEX = "open-runs"

_CONDITIONAL = "ConditionalCheckFailedException"
RESERVE_ATTEMPTS = 20
_backlogged_last: dict[str, bool] = {}
"""Per table: whether this process's last reservation found the limiter backlogged."""


class RateLimiterContention(RuntimeError):
    """The run's pace item changed under every attempt to reserve a slot: retry the step."""


def _decimal(value: float) -> dict[str, str]:
    return {"N": f"{value:.6f}"}


def _n(value: float) -> dict[str, str]:
    return {"N": str(int(value))}


def _lease_from_item(item: dict[str, Any]) -> RunLease:
    return RunLease(
        run_id=item["runId"]["S"],
        execution_arn=item["executionArn"]["S"],
        queue_arn=item["queueArn"]["S"],
        dlq_url=item["dlqUrl"]["S"],
        bucket=item["bucket"]["S"],
        status=item["status"]["S"],
        pages=int(item.get("pages", {}).get("N", 0)),
        in_flight={k: float(v["N"]) for k, v in item.get("inFlight", {}).get("M", {}).items()},
        opened_at=float(item.get("openedAt", {}).get("N", 0)),
        closed_at=float(item["closedAt"]["N"]) if "closedAt" in item else None,
        invocations=int(item.get("invocations", {}).get("N", 0)),
        billed_ms=int(item.get("billedMs", {}).get("N", 0)),
        megabyte_ms=int(item.get("megabyteMs", {}).get("N", 0)),
    )


class StateTable:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self.dynamodb = dynamodb
        self.table = table_name

    # --- the DLQ lock ---------------------------------------------------------------------
    def acquire_lock(self, queue_arn: str, holder: str, now: float | None = None) -> None:
        """Take the DLQ's lock for ``holder``; LockHeld naming the current holder if another has it."""
        now = now or time.time()
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={"pk": {"S": f"lock#{queue_arn}"}, "holder": {"S": holder}, "expiresAt": _n(now + LEASE_SECONDS)},
                ConditionExpression="attribute_not_exists(pk) OR holder = :me OR expiresAt < :now",
                ExpressionAttributeValues={":me": {"S": holder}, ":now": _n(now)},
            )
            return
        except Exception as error:
            if aws_error_code(error) != _CONDITIONAL:
                raise
        item = self.dynamodb.get_item(TableName=self.table, Key={"pk": {"S": f"lock#{queue_arn}"}}, ConsistentRead=True)
        raise LockHeld(str(item.get("Item", {}).get("holder", {}).get("S", "unknown")))

    def release_lock(self, queue_arn: str, holder: str) -> bool:
        try:
            self.dynamodb.delete_item(
                TableName=self.table,
                Key={"pk": {"S": f"lock#{queue_arn}"}},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": holder}},
            )
            return True
        except Exception as error:
            if aws_error_code(error) == _CONDITIONAL:
                return False
            raise

    def lock_holder(self, queue_arn: str, now: float | None = None) -> str | None:
        """The run holding the DLQ's lock (an expired lock holds nothing), or None."""
        now = now or time.time()
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": f"lock#{queue_arn}"}}, ConsistentRead=True
        ).get("Item")
        if item is None or float(item.get("expiresAt", {}).get("N", 0)) < now:
            return None
        return str(item["holder"]["S"])

    # --- messages earlier runs returned, left in the DLQ ---------------------------------
    def record_left_in_place(self, queue_arn: str, count: int, run_id: str, now: float | None = None) -> None:
        now = now or time.time()
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"returned#{queue_arn}"},
                "count": _n(count),
                "runId": {"S": run_id},
                "at": _n(now),
                "expiresAt": _n(now + SETTLED_KEEP_SECONDS),
            },
        )

    def left_in_place(self, queue_arn: str) -> int:
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": f"returned#{queue_arn}"}}, ConsistentRead=True
        ).get("Item")
        return int(item["count"]["N"]) if item else 0

    # --- the run's lease ------------------------------------------------------------------
    def open_lease(self, lease: RunLease) -> None:
        """Record the run, open (again, for a retried Prepare of the same execution)."""
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"run#{lease.run_id}"},
                    "runId": {"S": lease.run_id},
                    "executionArn": {"S": lease.execution_arn},
                    "queueArn": {"S": lease.queue_arn},
                    "dlqUrl": {"S": lease.dlq_url},
                    "bucket": {"S": lease.bucket},
                    "status": {"S": LeaseStatus.OPEN},
                    "openRun": {"S": "open"},
                    "pages": {"N": "0"},
                    "inFlight": {"M": {}},
                    "openedAt": _n(lease.opened_at),
                    "expiresAt": _n(lease.opened_at + LEASE_SECONDS),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as error:
            if aws_error_code(error) != _CONDITIONAL:
                raise
            existing = self.lease(lease.run_id)
            if existing is None or existing.execution_arn != lease.execution_arn:
                raise

    def lease(self, run_id: str) -> RunLease | None:
        item = self.dynamodb.get_item(TableName=self.table, Key={"pk": {"S": f"run#{run_id}"}}, ConsistentRead=True)
        return _lease_from_item(item["Item"]) if "Item" in item else None

    def register_page(self, run_id: str, number: int) -> None:
        """Page ``number`` is held by the run (it follows ``number - 1``); Fenced once closed."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"run#{run_id}"}},
                UpdateExpression="SET pages = :n",
                ConditionExpression="#s = :open AND pages = :before",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":n": _n(number), ":before": _n(number - 1), ":open": {"S": "open"}},
            )
        except Exception as error:
            if aws_error_code(error) == _CONDITIONAL:
                raise Fenced(f"run {run_id} may no longer take messages from the DLQ (page {number})") from None
            raise

    def begin_batch(self, run_id: str, batch_id: str, now: float | None = None) -> None:
        """Claim a batch and mark it in flight, in one transaction conditional on the open lease.

        AlreadyClaimed if this run claimed it before; Fenced if the lease is closed."""
        now = now or time.time()
        try:
            self.dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": {"pk": {"S": f"run#{run_id}"}},
                            "UpdateExpression": "SET inFlight.#b = :now",
                            "ConditionExpression": "#s = :open",
                            "ExpressionAttributeNames": {"#s": "status", "#b": batch_id},
                            "ExpressionAttributeValues": {":now": _n(now), ":open": {"S": "open"}},
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": {
                                "pk": {"S": f"batch#{run_id}#{batch_id}"},
                                "status": {"S": "started"},
                                "expiresAt": _n(now + LEASE_SECONDS),
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except Exception as error:
            if aws_error_code(error) != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in getattr(error, "response", {}).get("CancellationReasons", [])]
            if reasons and reasons[0] == _CONDITIONAL:
                raise Fenced(f"run {run_id} may no longer send (batch {batch_id})") from None
            item = self.dynamodb.get_item(
                TableName=self.table, Key={"pk": {"S": f"batch#{run_id}#{batch_id}"}}, ConsistentRead=True
            )
            if "Item" not in item:
                raise Fenced(f"run {run_id} may no longer send (batch {batch_id})") from None
            raise AlreadyClaimed(batch_id, item["Item"].get("status", {}).get("S", "started")) from None

    def end_batch(self, run_id: str, batch_id: str) -> None:
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": f"batch#{run_id}#{batch_id}"}},
            UpdateExpression="SET #s = :done",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":done": {"S": "completed"}},
        )
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": f"run#{run_id}"}},
            UpdateExpression="REMOVE inFlight.#b",
            ExpressionAttributeNames={"#b": batch_id},
        )

    # --- the run's pace ---------------------------------------------------------------------
    def reserve(self, run_id: str, seconds: float, now: float | None = None) -> float:
        """The start of the run's next ``seconds`` of sending (virtual scheduling, GCRA).

        Two conditional writes, no read: when the limiter is idle (``tat`` absent or past)
        the slot starts now; when it is backlogged the slot starts at ``tat``, moved on by
        ``seconds`` in the same update. Between lanes racing, exactly one wins each write.
        The write tried first is the one that won this table's last reservation in this
        process: a run sending at its rate is backlogged batch after batch, and a conditional
        write that fails still costs a request and a write unit."""
        now = time.time() if now is None else now
        key = {"pk": {"S": f"rate#{run_id}"}}
        attempts = (self._reserve_backlogged, self._reserve_idle)
        if not _backlogged_last.get(self.table, False):
            attempts = attempts[::-1]
        for _ in range(RESERVE_ATTEMPTS):
            for attempt in attempts:
                start = attempt(key, seconds, now)
                if start is not None:
                    _backlogged_last[self.table] = attempt == self._reserve_backlogged
                    return start
        raise RateLimiterContention(f"run {run_id}: no pacing slot after {RESERVE_ATTEMPTS} attempts")

    def _reserve_idle(self, key: dict[str, Any], seconds: float, now: float) -> float | None:
        """The slot starts now if the limiter is idle; None if it is backlogged."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="SET tat = :end, expiresAt = :expires",
                ConditionExpression="attribute_not_exists(tat) OR tat < :now",
                ExpressionAttributeValues={
                    ":end": _decimal(now + seconds),
                    ":now": _decimal(now),
                    ":expires": _n(now + LEASE_SECONDS),
                },
            )
            return now
        except Exception as error:
            if aws_error_code(error) != _CONDITIONAL:
                raise
            return None

    def _reserve_backlogged(self, key: dict[str, Any], seconds: float, now: float) -> float | None:
        """The slot starts where the backlog ends, if there is one; None if the limiter is idle."""
        try:
            answer = self.dynamodb.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="SET tat = tat + :seconds",
                ConditionExpression="tat >= :now",
                ExpressionAttributeValues={":seconds": _decimal(seconds), ":now": _decimal(now)},
                ReturnValues="UPDATED_NEW",
            )
            return float(answer["Attributes"]["tat"]["N"]) - round(seconds, 6)
        except Exception as error:
            if aws_error_code(error) != _CONDITIONAL:
                raise
            return None

    def close_lease(self, run_id: str, now: float | None = None) -> RunLease | None:
        """Fence the run: no more deletes from the DLQ, no more sends. Idempotent."""
        now = now or time.time()
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"run#{run_id}"}},
                UpdateExpression="SET #s = :closed, closedAt = :now",
                ConditionExpression="#s = :open",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":closed": {"S": "closed"}, ":open": {"S": "open"}, ":now": _n(now)},
            )
        except Exception as error:
            if aws_error_code(error) != _CONDITIONAL:
                raise
        return self.lease(run_id)

    def begin_settle(self, run_id: str, token: str, seconds: float, now: float | None = None) -> bool:
        """Take the run's settle lease (one settler at a time); False if another holds it."""
        now = now or time.time()
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"run#{run_id}"}},
                UpdateExpression="SET settler = :me, settlerUntil = :until",
                ConditionExpression="attribute_not_exists(settler) OR settler = :me OR settlerUntil < :now",
                ExpressionAttributeValues={":me": {"S": token}, ":until": _n(now + seconds), ":now": _n(now)},
            )
            return True
        except Exception as error:
            if aws_error_code(error) == _CONDITIONAL:
                return False
            raise

    def end_settle(self, run_id: str, token: str) -> None:
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"run#{run_id}"}},
                UpdateExpression="REMOVE settler, settlerUntil",
                ConditionExpression="settler = :me",
                ExpressionAttributeValues={":me": {"S": token}},
            )
        except Exception as error:
            if aws_error_code(error) != _CONDITIONAL:
                raise

    def mark_settled(self, run_id: str, now: float | None = None) -> None:
        """Every held message is back or finished: the run leaves the reconciler's index."""
        now = now or time.time()
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": f"run#{run_id}"}},
            UpdateExpression="SET #s = :settled, expiresAt = :keep REMOVE openRun",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":settled": {"S": "settled"}, ":keep": _n(now + SETTLED_KEEP_SECONDS)},
        )

    def add_usage(self, run_id: str, billed_ms: int, megabyte_ms: int) -> None:
        """Add one invocation's billed time to the run's lease (an atomic ADD, whatever its
        status: a settled run's report has been written, the lease still counts)."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"run#{run_id}"}},
                UpdateExpression="ADD invocations :one, billedMs :ms, megabyteMs :mbms",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":one": {"N": "1"}, ":ms": _n(billed_ms), ":mbms": _n(megabyte_ms)},
            )
        except Exception as error:
            if aws_error_code(error) != _CONDITIONAL:  # no lease (yet): nothing to add it to
                raise

    def unsettled_runs(self) -> list[RunLease]:
        """Runs not settled yet (open or closed), from the sparse index."""
        leases: list[RunLease] = []
        paginator = self.dynamodb.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table,
            IndexName=OPEN_RUNS_INDEX,
            KeyConditionExpression="openRun = :open",
            ExpressionAttributeValues={":open": {"S": "open"}},
        ):
            for item in page.get("Items", []):  # the index projects the keys only
                lease = self.lease(item["pk"]["S"].removeprefix("run#"))
                if lease is not None and lease.status is not LeaseStatus.SETTLED:
                    leases.append(lease)
        return leases
