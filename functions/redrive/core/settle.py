"""Settle a run: every message it holds goes back to the DLQ or is finished, whatever
failed before, and however often this runs.

The same steps serve Finalize (complete, dry run, rejected), Release after a caught error,
the reconciler for an execution that ended outside any Catch, and a retry of any of them:

1. close the run's lease: from now on nothing more is deleted from the DLQ or sent;
2. wait for batches still in flight (a Lambda that outlives its execution finishes its
   send; its result counts): :class:`SettleDeferred` until they are done or too old;
3. fix what goes back (``disposition.json``), once: a later settle sends the same;
4. archive discards, free the DLQ lock (the run holds nothing the DLQ still has);
5. send each chunk (every message marked as returned by this run: ``RETURNED_ATTRIBUTE``),
   and mark it sent in S3 once SQS accepted it; a failure stops here
   (:class:`SettleIncomplete`), and the next settle resumes at the first unsent chunk;
6. for an S3-sourced run, delete the objects it finished (a returned object was never
   taken from its bucket: it is left in place, and nothing is sent for it), only now that
   every record they carried is finished or back in the DLQ;
7. write the report (completed) and mark the run settled.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..contracts.ledger import Disposition, RunLease
from ..contracts.messages import marked_returned
from ..contracts.report import ExecutionCounts, LambdaUsage, Report, RunMetrics
from ..contracts.run import RunConfig
from ..contracts.vocab import FinalizeMode
from ..errors import RedriveError, SettleIncomplete
from .finalize import RunState, archive_discards, build_report, requeue_body
from .ports import ExecutionHistory, FailureObjects, MessageSink, StateStore
from .run_data import RunData

REDRIVE_TIMEOUT_SECONDS = 300  # the Redrive function's Timeout: a claimed batch older than this has ended
SETTLE_LEASE_SECONDS = 330  # the settling function's Timeout, and a margin: a crashed settler's lease runs out


class SettleDeferred(RedriveError):
    """A batch of the run is still being sent by a Lambda that outlived its execution."""


def _in_flight(lease: RunLease, data: RunData, now: float, grace: float) -> list[str]:
    return [
        batch_id
        for batch_id, claimed_at in lease.in_flight.items()
        if now - claimed_at < grace and data.result(batch_id) is None
    ]


def _send_chunks(disposition: Disposition, state: RunState, run: RunConfig, data: RunData, dlq: MessageSink) -> None:
    for index, chunk in enumerate(disposition.chunks()):
        if data.store.exists(data.paths.sent_chunk(index)):
            continue
        for send in chunk:
            try:
                if send.message_id is not None:
                    message = state.messages[send.message_id]
                    if message.failure_object is not None:
                        continue  # an S3 object returns by staying in its bucket
                    dlq.send(message.body, marked_returned(message.message_attributes, run.run_id, message.body))
                else:
                    assert send.record_id is not None
                    record = state.records[send.record_id]
                    body = requeue_body(record, run.run_id, send.reason or "", data, run.bucket)
                    dlq.send(body, marked_returned({}, run.run_id, body))
            except Exception as error:
                raise SettleIncomplete(
                    f"{type(error).__name__} sending back chunk {index + 1} of {len(disposition.chunks())}: {error}"
                ) from error
        data.store.put_json(data.paths.sent_chunk(index), {"sends": len(chunk)})


def _finish_objects(disposition: Disposition, state: RunState, objects: FailureObjects | None) -> None:
    """Delete the S3 objects the run finished: every held object not returned whole."""
    returned = {send.message_id for send in disposition.sends if send.message_id is not None}
    finished = [
        message.message_id
        for message in state.messages.values()
        if message.failure_object is not None and message.message_id not in returned
    ]
    if not finished:
        return
    if objects is None:
        raise SettleIncomplete(f"{len(finished)} finished S3 object(s) to delete, and no S3 source to delete them from")
    try:
        undeleted = objects.delete(finished)
    except Exception as error:
        raise SettleIncomplete(
            f"{type(error).__name__} deleting {len(finished)} finished S3 object(s): {error}"
        ) from error
    if undeleted:
        raise SettleIncomplete(f"S3 did not delete {len(undeleted)} finished object(s), first {undeleted[0]}")


def settle_run(
    *,
    run: RunConfig,
    mode: FinalizeMode,
    data: RunData,
    dlq: MessageSink,
    state_store: StateStore,
    now: float,
    error: Any = None,
    approval: dict[str, Any] | None = None,
    in_flight_grace: float = REDRIVE_TIMEOUT_SECONDS,
    objects: FailureObjects | None = None,
    history: ExecutionHistory | None = None,
) -> Report:
    """``objects``: the S3 source of an S3-sourced run (where finished objects are deleted)."""
    mode = FinalizeMode(mode)
    lease = state_store.close_lease(run.run_id)
    if lease is None:
        raise SettleIncomplete(f"run {run.run_id} has no lease: nothing it holds can be known")
    token = uuid.uuid4().hex
    if not state_store.begin_settle(run.run_id, token, SETTLE_LEASE_SECONDS):
        raise SettleDeferred("another settle of this run is under way")
    try:
        return _settle(
            run, mode, lease, data, dlq, state_store, now, error, approval, in_flight_grace, objects, history
        )
    finally:
        state_store.end_settle(run.run_id, token)


def _settle(
    run: RunConfig,
    mode: FinalizeMode,
    lease: RunLease,
    data: RunData,
    dlq: MessageSink,
    state_store: StateStore,
    now: float,
    error: Any,
    approval: dict[str, Any] | None,
    in_flight_grace: float,
    objects: FailureObjects | None,
    history: ExecutionHistory | None,
) -> Report:
    earlier = data.report()
    if earlier is not None and earlier.completed:  # settled before (a retry, or a settle that raced us)
        state_store.release_lock(run.lock_key, run.execution_arn)
        state_store.mark_settled(run.run_id)
        return earlier
    waiting = _in_flight(lease, data, now, in_flight_grace)
    if waiting:
        raise SettleDeferred(f"batches still in flight: {', '.join(sorted(waiting))}")
    state = RunState.load(data, lease.pages)
    disposition = data.disposition()
    report, goes_back = build_report(run, disposition.mode if disposition else mode, state, error, approval, now)
    report.metrics = run_metrics(lease, history, run.execution_arn, report.get_records_calls)
    if disposition is None:
        disposition = Disposition(mode=mode, sends=goes_back.sends())
        data.put(data.paths.disposition, disposition)
    if disposition.mode is FinalizeMode.COMPLETE:
        archive_discards(run, state, data)
    state_store.release_lock(run.lock_key, run.execution_arn)
    data.put(data.paths.report, report)
    _send_chunks(disposition, state, run, data, dlq)
    _finish_objects(disposition, state, objects)
    report.completed = True
    data.put(data.paths.report, report)
    state_store.mark_settled(run.run_id)
    return report


def run_metrics(
    lease: RunLease, history: ExecutionHistory | None, execution_arn: str, get_records_calls: int
) -> RunMetrics:
    """The run's metrics as they stand: its executions counted (a failure to count is named
    in the metrics, never a reason not to settle) and its functions' usage from the lease."""
    usage = LambdaUsage(invocations=lease.invocations, billed_ms=lease.billed_ms, megabyte_ms=lease.megabyte_ms)
    counted: ExecutionCounts | None = None
    problem: str | None = None
    if history is not None:
        try:
            counted = history.counts(execution_arn)
        except Exception as failure:
            problem = f"the executions could not be counted: {type(failure).__name__}: {failure}"
    return RunMetrics.of(counted, usage, get_records_calls, problem)


def settle_without_config(lease: RunLease, state_store: StateStore) -> None:
    """A run whose Prepare failed before it wrote run.json holds no message: free its lock."""
    state_store.close_lease(lease.run_id)
    state_store.release_lock(lease.queue_arn, lease.execution_arn)
    state_store.mark_settled(lease.run_id)
