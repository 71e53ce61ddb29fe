"""What Plan writes: every record's class and action, the batches, and a summary."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import Contract
from .messages import Pointer
from .records import StreamRecord
from .vocab import Ordering, PlannedAction, RecordClass, RuleVerdict, Source, Target


class PlanEntry(Contract):
    record_id: str
    record_class: RecordClass = Field(alias="class")
    action: PlannedAction
    rule: str | None = None
    reason: str | None = None
    repaired: bool = False
    data: Any = None  # the repaired data, for repaired records
    batch_id: str | None = None


class ExpiredPointer(Contract):
    message_id: str
    pointer: Pointer | None
    count: int


class RuleSample(Contract):
    record_id: str
    before: str
    after: str | None = None


class RuleFired(Contract):
    count: int = 0
    outcome: RuleVerdict
    reason: str | None = None
    samples: list[RuleSample] = Field(default_factory=list)


class PlanSummary(Contract):
    records: int
    expired: int
    by_class: dict[str, int]
    by_action: dict[str, int]
    batches: int
    rules: dict[str, RuleFired]
    largest_batch: int = 0  # the most records in one batch (batchSize, or the consumer's own bound)
    get_records_calls: int = 0
    oldest_arrival: str | None = None


class Batch(Contract):
    """``batches/<batchId>.json``: one redrive batch, one shard (and consumer) each."""

    batch_id: str
    lane: int
    target: Target
    function_arn: str | None = None
    source: Source
    stream_arn: str
    shard_id: str
    records: list[StreamRecord]


class RedriveSlice(Contract):
    """One item of a round manifest (``redrive/rounds/<r>.json``): a bounded run of one
    lane's batch ids, sent one after another by one child workflow."""

    lane: int
    batch_ids: list[str]


class PlanDocument(Contract):
    """``plan.json``."""

    records: dict[str, PlanEntry] = Field(default_factory=dict)
    expired: list[ExpiredPointer] = Field(default_factory=list)
    message_records: dict[str, list[str]] = Field(default_factory=dict)
    batches: list[str] = Field(default_factory=list)
    lanes: list[list[str]] = Field(default_factory=list)
    summary: PlanSummary


class PlanResult(Contract):
    """Plan's answer to the state machine: small counts and where the round manifests are,
    never the batches (the state and the history must not grow with the records)."""

    rounds: int
    rounds_prefix: str  # round r's manifest is ``<roundsPrefix><r>.json`` (RunPaths.redrive_round)
    batches: int
    lanes: int
    slice_batches: int
    ordering: Ordering
    records: int
    # Records in the batches: none means nothing would be redriven, and no approval is asked.
    to_redrive: int = 0
    expired: int
    by_action: dict[str, int]
    get_records_calls: int
