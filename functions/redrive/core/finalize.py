"""Finalize (and release): give every message and record of the run its outcome.

Modes:
- ``complete``: after the redrive. Records are redriven, discarded (archived in S3 with
  rule and reason), expired, or failed; failed ones go back to the DLQ as self-contained
  messages (the record inline, or by S3 reference when large), so a later run does not
  depend on the stream's retention.
- ``dry-run`` / ``rejected``: nothing was redriven; every message returns to the DLQ as
  it was. Records are reported ``planned``.
- ``release``: the run failed or was aborted. Messages none of whose records finished
  return as they were; records of partly finished messages return one by one.

Unrecognised messages always return untouched. A message is finished once all its
records are; nothing is dropped on any path. What goes back is fixed once per run
and sent from the ledger (core/settle.py): a retried Finalize, a Release after it, or the
reconciler, resume the same sends and change nothing more.

The work is in pure steps (:func:`record_fate`, :func:`report_records`,
:func:`disposition`, :func:`count`, :func:`build_report`) that core/settle.py strings together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..contracts.base import compact_json
from ..contracts.ledger import Send
from ..contracts.messages import REDRIVE_MARKER, DlqMessage, ManifestEntry, RecordReference, RedriveMarker
from ..contracts.plan import PlanDocument, PlanEntry
from ..contracts.records import FailureContext, StreamRecord
from ..contracts.redrive import BatchResult
from ..contracts.report import RedriveTiming, Report, ReportCounts, ReportRecord, UnrecognisedMessage
from ..contracts.run import RunConfig
from ..contracts.vocab import FinalizeMode, MessageKind, Outcome, PlannedAction, RecordClass
from ..rules.base import InvalidRecord
from ..rules.engine import rule_document
from .run_data import RunData

MAX_INLINE_BYTES = 200_000  # SQS allows 256 KiB a message; leave room for the envelope
EXPIRED_REASON = "the stream no longer holds this record of the pointer's range"


@dataclass(frozen=True)
class RecordFate:
    outcome: Outcome
    reason: str | None
    finished: bool


@dataclass
class RunState:
    """Everything a run left in S3, loaded once."""

    messages: dict[str, DlqMessage]
    entries: dict[str, ManifestEntry]
    plan: PlanDocument | None
    results: dict[str, BatchResult]
    records: dict[str, StreamRecord]

    @classmethod
    def load(cls, data: RunData, pages: int) -> RunState:
        """What the run holds (its registered pages) and everything it learned about it."""
        manifest = data.manifest()
        records: dict[str, StreamRecord] = {}
        for group in data.fetched_groups():
            for record in group.records:
                records.setdefault(record.record_id, record)
        return cls(
            messages=data.held_messages(pages),
            entries={e.message_id: e for e in (manifest.messages if manifest else [])},
            plan=data.plan(),
            results=data.results(),
            records=records,
        )

    def kind(self, message_id: str) -> MessageKind:
        entry = self.entries.get(message_id)
        return entry.kind if entry else MessageKind.UNRECOGNISED


@dataclass
class WhatGoesBack:
    """What goes back to the DLQ: whole messages as they were, and single records."""

    returned: list[str] = field(default_factory=list)
    requeued: dict[str, str] = field(default_factory=dict)  # record id -> reason

    def sends(self) -> list[Send]:
        return [Send(message_id=m) for m in self.returned] + [
            Send(record_id=rid, reason=reason) for rid, reason in self.requeued.items()
        ]


def record_fate(mode: FinalizeMode, entry: PlanEntry, results: dict[str, BatchResult]) -> RecordFate:
    """The outcome, reason and whether it is finished, of one planned record."""
    not_done = Outcome.FAILED if mode is FinalizeMode.RELEASE else Outcome.PLANNED
    if entry.action is PlannedAction.DISCARD:
        if mode is FinalizeMode.COMPLETE:
            return RecordFate(Outcome.DISCARDED, entry.reason, True)
        return RecordFate(not_done, entry.reason, False)
    if entry.action is PlannedAction.HOLD:
        if mode is FinalizeMode.COMPLETE:
            return RecordFate(Outcome.FAILED, f"{entry.record_class}: {entry.reason}", True)
        return RecordFate(not_done, entry.reason, False)
    result = results.get(entry.batch_id or "")
    if result is not None:
        reason = result.failed.get(entry.record_id)
        if reason is None:
            return RecordFate(Outcome.REDRIVEN, entry.reason, True)
        return RecordFate(Outcome.FAILED, reason, True)
    if mode is FinalizeMode.COMPLETE:
        return RecordFate(Outcome.FAILED, "the redrive did not reach this record's batch", True)
    return RecordFate(not_done, entry.reason, False)


def _report_record(entry: PlanEntry, record: StreamRecord | None, fate: RecordFate) -> ReportRecord:
    try:
        document: dict[str, Any] = dict(rule_document(record)) if record else {}
    except InvalidRecord:
        document = {}
    return ReportRecord(
        record_id=entry.record_id,
        source=record.source if record else None,
        shard_id=record.shard_id if record else None,
        sequence_number=record.sequence_number if record else None,
        partition_key=record.partition_key if record else None,
        data=entry.data if entry.repaired else document.get("data"),
        original_data=document.get("data"),
        text=document.get("text"),
        record_class=entry.record_class,
        outcome=fate.outcome,
        repaired=entry.repaired,
        rule=entry.rule,
        reason=fate.reason,
        batch_id=entry.batch_id,
    )


def report_records(state: RunState, fates: dict[str, RecordFate]) -> list[ReportRecord]:
    """One row per planned record, and one per record a pointer named that the stream lost."""
    plan = state.plan
    if plan is None:
        return []
    rows = [_report_record(entry, state.records.get(rid), fates[rid]) for rid, entry in plan.records.items()]
    for expired in plan.expired:
        pointer = expired.pointer
        rows.extend(
            ReportRecord(
                record_id=None,
                source=pointer.source if pointer else None,
                shard_id=pointer.shard_id if pointer else None,
                record_class=RecordClass.EXPIRED,
                outcome=Outcome.EXPIRED,
                reason=EXPIRED_REASON,
                pointer=pointer,
                message_id=expired.message_id,
            )
            for _ in range(expired.count)
        )
    return rows


def disposition(mode: FinalizeMode, state: RunState, fates: dict[str, RecordFate]) -> WhatGoesBack:
    """Messages none of whose records finished go back whole; unfinished or failed
    records of the other messages go back one by one, each once."""
    plan = state.plan
    expired_only = {e.message_id for e in plan.expired} if plan else set()
    out = WhatGoesBack()
    for message_id in state.messages:
        kind = state.kind(message_id)
        rids = plan.message_records.get(message_id, []) if plan else []
        finished_any = any(fates[r].finished for r in rids if r in fates)
        if kind is MessageKind.UNRECOGNISED or plan is None or not finished_any:
            all_expired = not rids and message_id in expired_only
            if mode is FinalizeMode.COMPLETE and kind is not MessageKind.UNRECOGNISED and all_expired:
                continue  # every record of the pointer expired: the pointer is kept in the report
            out.returned.append(message_id)
            continue
        for rid in rids:
            fate = fates[rid]
            if rid not in out.requeued and (not fate.finished or fate.outcome is Outcome.FAILED):
                out.requeued[rid] = fate.reason or fate.outcome
    return out


def count(state: RunState, rows: list[ReportRecord], out: WhatGoesBack) -> ReportCounts:
    by_outcome = {o: sum(1 for r in rows if r.outcome is o) for o in Outcome}
    kinds = [e.kind for e in state.entries.values()]
    return ReportCounts(
        dlq_messages=len(state.messages),
        pointers=sum(1 for k in kinds if k.counts_as_pointer),
        records_fetched=len(state.plan.records) if state.plan else 0,
        expired=by_outcome[Outcome.EXPIRED],
        repaired=sum(1 for r in rows if r.repaired),
        discarded=by_outcome[Outcome.DISCARDED],
        redriven=by_outcome[Outcome.REDRIVEN],
        failed=by_outcome[Outcome.FAILED],
        planned=by_outcome[Outcome.PLANNED],
        unrecognised=sum(1 for k in kinds if k is MessageKind.UNRECOGNISED),
        returned_messages=len(out.returned),
        requeued_records=len(out.requeued),
    )


def redrive_timing(results: dict[str, BatchResult]) -> RedriveTiming | None:
    sent = [r for r in results.values() if r.sent]
    if not sent:
        return None
    # From the start of the first pacing slot (the run's limiter tiles its slots from there),
    # to the end of the last: at most ratePerSecond, by construction.
    started = min(r.slot_start if r.slot_start is not None else r.started_at for r in sent)
    finished = max(r.finished_at for r in sent)
    delivered = sum(r.records for r in sent)
    achieved = delivered / (finished - started) if finished > started else None
    return RedriveTiming(started_at=started, finished_at=finished, records=delivered, achieved_per_second=achieved)


def requeue_body(record: StreamRecord, run_id: str, reason: str, data: RunData, bucket: str) -> str:
    """A self-contained DLQ message for a record: inline, or by S3 reference when large.

    Its failure context counts the runs that redrove the record and saw it fail again
    (``redriveAttempts``), so a rule can give up on a record that never gets through."""
    failure = FailureContext.model_validate(
        {**record.failure.model_dump(), "redrive_attempts": record.failure.redrive_attempts + 1}
    )
    marker = RedriveMarker(
        kind="record",
        record_id=record.record_id,
        run_id=run_id,
        reason=reason,
        failure=failure,
        record=record.without_failure(),
    )
    body = compact_json({REDRIVE_MARKER: marker.to_json()})
    if len(body.encode()) <= MAX_INLINE_BYTES:
        return body
    key = data.paths.requeued_record(record.record_id)
    data.put(key, record.without_failure())
    marker = marker.model_copy(update={"record": None, "record_ref": RecordReference(bucket=bucket, key=key)})
    return compact_json({REDRIVE_MARKER: marker.to_json()})


def build_report(
    run: RunConfig, mode: FinalizeMode, state: RunState, error: Any, approval: dict[str, Any] | None, now: float
) -> tuple[Report, WhatGoesBack]:
    """The report and what goes back, from the run's data alone (no side effect)."""
    plan = state.plan
    fates = {rid: record_fate(mode, entry, state.results) for rid, entry in (plan.records.items() if plan else [])}
    rows = report_records(state, fates)
    out = disposition(mode, state, fates)
    report = Report(
        run_id=run.run_id,
        mode=mode,
        finished_at=now,
        error=error,
        approval=approval,
        counts=count(state, rows, out),
        records=rows,
        unrecognised=[
            UnrecognisedMessage(message_id=mid, reason=e.reason)
            for mid, e in state.entries.items()
            if e.kind is MessageKind.UNRECOGNISED
        ],
        summary=plan.summary if plan else None,
        redrive=redrive_timing(state.results),
        target=run.redrive.target,
        rate_per_second=run.redrive.rate_per_second,
        concurrency=run.redrive.concurrency,
        batch_size=run.redrive.batch_size,
        ordering=run.redrive.ordering,
        get_records_calls=plan.summary.get_records_calls if plan else 0,
    )
    return report, out


def archive_discards(run: RunConfig, state: RunState, data: RunData) -> None:
    """Discarded records, archived with their rule and reason (complete mode only)."""
    if state.plan is None:
        return
    for rid, entry in state.plan.records.items():
        if entry.action is PlannedAction.DISCARD:
            record = state.records.get(rid)
            data.store.put_json(
                data.paths.discarded(rid),
                {
                    "runId": run.run_id,
                    "rule": entry.rule,
                    "reason": entry.reason,
                    "record": record.to_json() if record else None,
                },
            )
