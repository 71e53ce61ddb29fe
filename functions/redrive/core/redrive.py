"""Redrive one batch: at most once per run, paced by the run's shared limiter, every record
with an outcome.

Pacing is a property of the run, not of a lane. Each batch of ``n`` records reserves the
run's next ``n / ratePerSecond`` seconds of sending from the limiter in the state table
(:class:`~redrive.core.ports.RateLimiter`: ``start = max(now, tat); tat = start + n/rate``,
atomically, whatever the number of lanes, shards or children). When the slot starts a second
or more from now, the function returns at once with ``waitSeconds`` (whole seconds, what a
Step Functions Wait state takes) and the child workflow waits, free, then calls again with
the slot: no sleep is ever billed in the function, and no wait outlasts its timeout. A
batch whose slot starts less than :data:`BURST_SECONDS` ahead is sent now, because a Wait
state cannot wait less than a second: so the run sends at most ``ratePerSecond * (T + 1)``
records in any ``T`` seconds, and over the whole redrive (first send to the end of the last
slot) at most ``ratePerSecond``.

At most once: the batch is claimed in the state table only when it is actually sent (never
across a Wait: settle waits for claimed batches), in one transaction with its entry in the
run's lease (in flight), conditional on the lease being open. A retried iteration that finds
the claim does not send again: a completed batch keeps its result; a batch interrupted
mid-send has an unknown delivery, so its records are reported ``failed`` and go back to the
DLQ, never silently dropped and never sent twice in a run. Once the run is closed (aborted,
ended) nothing more is sent: the batch is fenced.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..contracts.redrive import BatchError, BatchResult, RedriveBatchOutput
from ..contracts.run import RunConfig
from ..contracts.steps import StepError
from ..errors import AlreadyClaimed, Fenced
from .ports import RateLimiter, RedriveTarget, RunLeases
from .run_data import RunData

MAP_RUN_FAILED = "States.ExceedToleratedFailureThreshold"
"""What a Distributed Map fails with when one of its children failed (tolerated: none)."""
INTERRUPTED = "redrive interrupted before its outcome was recorded; not sent again in this run"
BURST_SECONDS = 1.0
"""A slot starting sooner than this is sent at once (a Wait state waits whole seconds)."""


def slot_seconds(records: int, rate_per_second: float) -> float:
    """How much of the run's sending time a batch of ``records`` takes."""
    return records / rate_per_second


def _repeated(batch_id: str, data: RunData, now: float) -> RedriveBatchOutput:
    """A batch claimed before: its recorded result, or, if none, every record failed."""
    result = data.result(batch_id)
    if result is None:
        batch = data.batch(batch_id)
        result = BatchResult(
            batch_id=batch_id,
            started_at=now,
            sent_at=now,
            finished_at=now,
            records=len(batch.records),
            sent=False,
            failed={r.record_id: INTERRUPTED for r in batch.records},
        )
        data.put(data.paths.result(batch_id), result)
    return RedriveBatchOutput(batch_id=batch_id, repeated=True, failed=len(result.failed))


def redrive_batch(
    *,
    run: RunConfig,
    batch_id: str,
    data: RunData,
    claims: RunLeases,
    limiter: RateLimiter,
    target: RedriveTarget,
    slot_start: float | None = None,
    clock: Callable[[], float] = time.time,
) -> RedriveBatchOutput:
    """Send the batch in its slot, or say how long to wait for it (``waitSeconds``)."""
    batch = data.batch(batch_id)
    seconds = slot_seconds(len(batch.records), run.redrive.rate_per_second)
    now = clock()
    if slot_start is None:
        slot_start = limiter.reserve(run.run_id, seconds, now)
    ahead = slot_start - now
    if ahead >= BURST_SECONDS:
        return RedriveBatchOutput(
            batch_id=batch_id, repeated=False, failed=0, wait_seconds=int(ahead), slot_start=slot_start
        )
    try:
        claims.begin_batch(run.run_id, batch_id)
    except AlreadyClaimed:
        return _repeated(batch_id, data, clock())
    except Fenced:
        return RedriveBatchOutput(batch_id=batch_id, repeated=False, failed=0, fenced=True)
    started = clock()
    try:
        failed = target.send(batch)
    except Exception as error:
        # Nothing is in flight any more; with no result the batch's records count as not
        # redriven, and their messages go back whole (a record delivered before the error
        # may so be delivered again later: at least once, never lost).
        claims.end_batch(run.run_id, batch_id)
        reason = (f"{type(error).__name__}: {error}".splitlines() or [type(error).__name__])[0][:500]
        data.put(data.paths.redrive_error(batch_id), BatchError(batch_id=batch_id, error=reason))
        raise
    sent = clock()
    result = BatchResult(
        batch_id=batch_id,
        started_at=started,
        sent_at=sent,
        finished_at=max(sent, slot_start + seconds),
        records=len(batch.records),
        sent=True,
        failed=failed,
        slot_start=slot_start,
    )
    data.put(data.paths.result(batch_id), result)
    claims.end_batch(run.run_id, batch_id)
    return RedriveBatchOutput(batch_id=batch_id, repeated=False, failed=len(failed), slot_start=slot_start)


def explain_map_run_failure(error: StepError, data: RunData) -> StepError:
    """The Redrive Map's failure says only that a child failed: add why, from the first
    batch whose send raised (``redrive/errors/``), so the operator reads the real cause."""
    if error.error != MAP_RUN_FAILED:
        return error
    keys = sorted(data.store.list_keys(data.paths.redrive_errors))
    if not keys:
        return error
    first = data.get(keys[0], BatchError)
    return error.model_copy(update={"cause": f"{error.cause or error.error}; batch {first.batch_id}: {first.error}"})
