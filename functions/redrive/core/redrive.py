"""Redrive one batch: at most once per run, paced, every record with an outcome.

Pacing: with ``concurrency`` Map iterations at once, each batch of ``n`` records holds
its iteration for at least ``n * concurrency / ratePerSecond`` seconds. No more than
``concurrency`` batches run at a time, so over the run the records leave at no more than
``ratePerSecond`` on any machine, however fast or slow (an upper bound, not a target).

At most once: the batch is claimed in the state table before anything is sent. A retried
iteration that finds the claim does not send again: a completed batch keeps its result;
a batch interrupted mid-send has an unknown delivery, so its records are reported
``failed`` and go back to the DLQ, never silently dropped and never sent twice in a run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from ..adapters.store import ObjectStore
from ..adapters.targets import RedriveTarget


class BatchClaims(Protocol):
    def claim_batch(self, run_id: str, batch_id: str) -> str | None: ...
    def complete_batch(self, run_id: str, batch_id: str) -> None: ...


def slot_seconds(records: int, concurrency: int, rate_per_second: float) -> float:
    """How long a batch must hold its Map iteration to keep the run under the rate."""
    return records * concurrency / rate_per_second


def redrive_batch(
    *,
    run_id: str,
    prefix: str,
    batch_id: str,
    store: ObjectStore,
    claims: BatchClaims,
    target: RedriveTarget,
    concurrency: int,
    rate_per_second: float,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    result_key = f"{prefix}results/{batch_id}.json"
    earlier = claims.claim_batch(run_id, batch_id)
    if earlier is not None:
        if store.exists(result_key):
            result: dict[str, Any] = store.get_json(result_key)
            return {"batchId": batch_id, "repeated": True, "failed": len(result["failed"])}
        batch = store.get_json(f"{prefix}batches/{batch_id}.json")
        now = clock()
        result = {
            "batchId": batch_id,
            "startedAt": now,
            "sentAt": now,
            "finishedAt": now,
            "records": len(batch["records"]),
            "sent": False,
            "failed": {
                r["recordId"]: "redrive interrupted before its outcome was recorded; not sent again in this run"
                for r in batch["records"]
            },
        }
        store.put_json(result_key, result)
        return {"batchId": batch_id, "repeated": True, "failed": len(result["failed"])}

    batch = store.get_json(f"{prefix}batches/{batch_id}.json")
    started = clock()
    failed = target.send(batch)
    sent = clock()
    slot_end = started + slot_seconds(len(batch["records"]), concurrency, rate_per_second)
    result = {
        "batchId": batch_id,
        "startedAt": started,
        "sentAt": sent,
        "finishedAt": max(sent, slot_end),
        "records": len(batch["records"]),
        "sent": True,
        "failed": failed,
    }
    # The outcome is durable before the pacing pause: a timeout while waiting loses nothing.
    store.put_json(result_key, result)
    claims.complete_batch(run_id, batch_id)
    if slot_end > sent:
        sleep(slot_end - sent)
    return {"batchId": batch_id, "repeated": False, "failed": len(failed)}
