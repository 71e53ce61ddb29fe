"""Plan: classify every record, apply the rules, and cut the redrive into batches.

Classes: ``transient`` (no rule decided: redriven as it is), ``poison`` (a rule repaired
or discarded it), ``rule-error`` (a rule raised: the record is held back unchanged and
returns to the DLQ, never dropped), ``invalid-record`` (it cannot be read), ``expired``
(the stream no longer holds it). Batches and lanes: ``core/lanes.py``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from ..contracts.fetch import FetchedGroup
from ..contracts.plan import Batch, ExpiredPointer, PlanDocument, PlanEntry, PlanSummary, RuleFired, RuleSample
from ..contracts.records import StreamRecord
from ..contracts.run import NO_DYNAMODB_STREAM_TARGET
from ..contracts.vocab import Ordering, PlannedAction, RecordClass, RuleVerdict, Source, Target
from ..rules.base import InvalidRecord, Rule, RuleDocument
from ..rules.dynamodb_json import json_to_image
from ..rules.engine import RuleOutcome, apply_rules, rule_document
from .lanes import cut_lane_batches, lanes_of
from .ports import ConsumerMappings

SAMPLES_PER_RULE = 3
PREVIEW_CHARS = 300


def json_preview(value: Any) -> str:
    """Compact, key-sorted JSON of a sample, cut to PREVIEW_CHARS: samples travel in plans,
    emails and the approval record (a DynamoDB item), so a large record must not."""
    text = json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


@dataclass
class RunPlan:
    records: dict[str, PlanEntry] = field(default_factory=dict)
    expired: list[ExpiredPointer] = field(default_factory=list)
    message_records: dict[str, list[str]] = field(default_factory=dict)
    batches: list[Batch] = field(default_factory=list)
    rules_fired: dict[str, RuleFired] = field(default_factory=dict)
    get_records_calls: int = 0
    oldest_arrival: str | None = None

    def summary(self) -> PlanSummary:
        by_class: dict[str, int] = {}
        by_action: dict[str, int] = {}
        for entry in self.records.values():
            by_class[entry.record_class] = by_class.get(entry.record_class, 0) + 1
            by_action[entry.action] = by_action.get(entry.action, 0) + 1
        expired = sum(e.count for e in self.expired)
        if expired:
            by_class[RecordClass.EXPIRED] = expired
        return PlanSummary(
            records=len(self.records),
            expired=expired,
            by_class=by_class,
            by_action=by_action,
            batches=len(self.batches),
            rules=self.rules_fired,
            largest_batch=max((len(batch.records) for batch in self.batches), default=0),
            get_records_calls=self.get_records_calls,
            oldest_arrival=self.oldest_arrival,
        )

    def lanes(self) -> list[list[str]]:
        """Batch ids per lane, in the order they must go."""
        return lanes_of(self.batches)

    def document(self) -> PlanDocument:
        return PlanDocument(
            records=self.records,
            expired=self.expired,
            message_records=self.message_records,
            batches=[b.batch_id for b in self.batches],
            lanes=self.lanes(),
            summary=self.summary(),
        )


def _redriven_form(record: StreamRecord, new_data: Any) -> StreamRecord:
    """The record as it will be redriven: its payload replaced by the repaired data."""
    if record.source is Source.KINESIS:
        payload = base64.b64encode(json.dumps(new_data, separators=(",", ":")).encode()).decode()
        return record.without_failure().model_copy(update={"payload": payload})
    if not isinstance(new_data, dict):
        raise TypeError("a repaired DynamoDB record must be a JSON object (it becomes the item's NewImage)")
    return record.without_failure().model_copy(update={"new_image": json_to_image(new_data)})


def _function_for(record: StreamRecord, override: str | None, default: str | None) -> str | None:
    return override or record.failure.function_arn or default


def _gather(plan: RunPlan, fetched: list[FetchedGroup]) -> dict[str, StreamRecord]:
    """Every record once, with the messages that account for it and the expired counts."""
    records: dict[str, StreamRecord] = {}
    for group in fetched:
        plan.get_records_calls += group.get_records_calls
        by_id = {r.record_id: r for r in group.records}
        for assignment in group.assignments:
            plan.message_records.setdefault(assignment.message_id, []).extend(assignment.record_ids)
            for rid in assignment.record_ids:
                records.setdefault(rid, by_id[rid])
            if assignment.expired:
                plan.expired.append(
                    ExpiredPointer(
                        message_id=assignment.message_id, pointer=assignment.pointer, count=assignment.expired
                    )
                )
    arrivals = [r.approximate_arrival for r in records.values() if r.approximate_arrival]
    plan.oldest_arrival = min(arrivals) if arrivals else None
    return records


def _note_rule(plan: RunPlan, rid: str, outcome: RuleOutcome, document: RuleDocument) -> None:
    if not outcome.rule:
        return
    fired = plan.rules_fired.setdefault(outcome.rule, RuleFired(outcome=outcome.outcome, reason=outcome.reason))
    fired.count += 1
    if len(fired.samples) < SAMPLES_PER_RULE:
        before = document["data"] if document["data"] is not None else document["text"]
        after = json_preview(outcome.data) if outcome.outcome is RuleVerdict.REPAIR else None
        fired.samples.append(RuleSample(record_id=rid, before=json_preview(before), after=after))


def _decide(rid: str, record: StreamRecord, rules: list[Rule], plan: RunPlan) -> tuple[PlanEntry, StreamRecord | None]:
    """The plan entry of one record, and the form it is redriven in (None: not redriven)."""
    try:
        document = rule_document(record)
    except InvalidRecord as error:
        entry = PlanEntry(
            record_id=rid,
            record_class=RecordClass.INVALID_RECORD,
            action=PlannedAction.HOLD,
            reason=f"the record cannot be read: {error}",
        )
        return entry, None
    outcome = apply_rules(rules, document)
    _note_rule(plan, rid, outcome, document)
    entry = PlanEntry(record_id=rid, record_class=RecordClass.TRANSIENT, action=PlannedAction.REDRIVE)
    entry.rule, entry.reason = outcome.rule, outcome.reason
    if outcome.outcome is RuleVerdict.DISCARD:
        entry.record_class, entry.action = RecordClass.POISON, PlannedAction.DISCARD
        return entry, None
    if outcome.outcome is RuleVerdict.RULE_ERROR:
        entry.record_class, entry.action = RecordClass.RULE_ERROR, PlannedAction.HOLD
        return entry, None
    if outcome.outcome is RuleVerdict.REPAIR:
        try:
            redriven = _redriven_form(record, outcome.data)
        except TypeError as error:
            entry.record_class, entry.action, entry.reason = RecordClass.RULE_ERROR, PlannedAction.HOLD, str(error)
            return entry, None
        entry.record_class, entry.repaired, entry.data = RecordClass.POISON, True, outcome.data
        return entry, redriven
    return entry, record.without_failure()


def consumer_batch_sizes(
    to_redrive: list[tuple[StreamRecord, str]],
    fetched: list[FetchedGroup],
    mappings: ConsumerMappings | None = None,
    function_override: str | None = None,
    default_function: str | None = None,
) -> dict[tuple[str, str], int]:
    """Per (consumer function, stream) of the records to redrive, the most records an invoke
    may carry: the ``BatchSize`` of the consumer's own event source mapping on that stream,
    or, when that cannot be read (no mapping, no permission, another account), the largest
    batch the mapping sent that failed (the pointers' ``batchSize``: one the consumer is known
    to take; smaller than the mapping's after a bisected batch). A pair with neither is not
    bounded."""
    pointed: dict[tuple[str, str], int] = {}
    for group in fetched:
        for assignment in group.assignments:
            pointer = assignment.pointer
            function = function_override or (pointer.failure.function_arn if pointer else None) or default_function
            if pointer is not None and function:
                key = (function, pointer.stream_arn)
                pointed[key] = max(pointed.get(key, 0), pointer.batch_size)
    limits: dict[tuple[str, str], int] = {}
    for key in sorted({(function, record.stream_arn) for record, function in to_redrive if function}):
        bound = (mappings.batch_size(*key) if mappings is not None else None) or pointed.get(key)
        if bound:
            limits[key] = bound
    return limits


def plan_records(
    fetched: list[FetchedGroup],
    rules: list[Rule],
    target: Target,
    batch_size: int,
    function_override: str | None = None,
    default_function: str | None = None,
    concurrency: int = 1,
    ordering: Ordering = Ordering.ORDERED,
    follow_consumer_batch: bool = False,
    mappings: ConsumerMappings | None = None,
) -> RunPlan:
    """Decide every fetched record and cut the ones to redrive into batches, lane by lane
    (``core/lanes.py``). With ``follow_consumer_batch`` (the batch size is the stack's
    default, not the input's) an invoke target's batches for a consumer hold at most what its
    own mapping sends (:func:`consumer_batch_sizes`, from ``mappings``)."""
    plan = RunPlan()
    to_redrive: list[tuple[StreamRecord, str]] = []
    invoke = Target(target) is Target.INVOKE
    for rid, record in _gather(plan, fetched).items():
        entry, redriven = _decide(rid, record, rules, plan)
        if redriven is not None and Target(target) is Target.STREAM and record.source is Source.DYNAMODB:
            entry.action, entry.reason, redriven = PlannedAction.HOLD, NO_DYNAMODB_STREAM_TARGET, None
        plan.records[rid] = entry
        if redriven is not None:
            function = _function_for(record, function_override, default_function) if invoke else None
            to_redrive.append((redriven, function or ""))
    follow = invoke and follow_consumer_batch
    limits = consumer_batch_sizes(to_redrive, fetched, mappings, function_override, default_function) if follow else {}
    plan.batches = cut_lane_batches(to_redrive, target, batch_size, concurrency, ordering, limits)
    for batch in plan.batches:
        for record in batch.records:
            plan.records[record.record_id].batch_id = batch.batch_id
    return plan
