"""The workflow's vocabularies, each defined once.

A record's fate is told in four words, each with its own enum: what a DLQ message is
(:class:`MessageKind`), what a record is (:class:`RecordClass`), what the plan does with
it (:class:`PlannedAction`) and what finally happened to it (:class:`Outcome`). The
rule engine's verdict (:class:`RuleVerdict`) feeds the plan. Values are the strings
that appear in S3 artefacts, reports and the state.
"""

from __future__ import annotations

from enum import StrEnum


class Source(StrEnum):
    KINESIS = "kinesis"
    DYNAMODB = "dynamodb"


class Target(StrEnum):
    INVOKE = "invoke"
    STREAM = "stream"
    QUEUE = "queue"


class Ordering(StrEnum):
    """How the redrive spreads records over its concurrency."""

    ORDERED = "ordered"  # each partition key's records in order, keys spread over the lanes
    UNORDERED = "unordered"  # batches spread evenly, no order kept: the fastest redrive


class MessageKind(StrEnum):
    """What a DLQ message is, recognised from its body alone (see core/messages.py)."""

    KINESIS_POINTER = "kinesis-pointer"
    DYNAMODB_POINTER = "dynamodb-pointer"
    S3_DESTINATION = "s3-destination"
    REDRIVE_RECORD = "redrive-record"
    UNRECOGNISED = "unrecognised"

    @property
    def is_pointer(self) -> bool:
        """Its records are read back from the stream."""
        return self in (MessageKind.KINESIS_POINTER, MessageKind.DYNAMODB_POINTER)

    @property
    def carries_records(self) -> bool:
        """Its records travel with it (no stream read)."""
        return self in (MessageKind.S3_DESTINATION, MessageKind.REDRIVE_RECORD)

    @property
    def counts_as_pointer(self) -> bool:
        """An on-failure record of the event source mapping (with or without payload)."""
        return self.is_pointer or self is MessageKind.S3_DESTINATION


class RecordClass(StrEnum):
    TRANSIENT = "transient"  # no rule decided: redriven as it is
    POISON = "poison"  # a rule repaired or discarded it
    RULE_ERROR = "rule-error"  # a rule raised: held back unchanged
    INVALID_RECORD = "invalid-record"  # the record cannot be read
    EXPIRED = "expired"  # the stream no longer holds it


class PlannedAction(StrEnum):
    REDRIVE = "redrive"
    DISCARD = "discard"
    HOLD = "hold"  # neither redriven nor discarded: goes back to the DLQ


class Outcome(StrEnum):
    REDRIVEN = "redriven"
    DISCARDED = "discarded"
    EXPIRED = "expired"
    FAILED = "failed"  # back in the DLQ as a self-contained message
    PLANNED = "planned"  # dry run or rejected: nothing was done


class RuleVerdict(StrEnum):
    """The rule engine's answer for one record."""

    REDRIVE = "redrive"
    REPAIR = "repair"
    DISCARD = "discard"
    RULE_ERROR = "rule-error"


class FinalizeMode(StrEnum):
    COMPLETE = "complete"  # after the redrive
    DRY_RUN = "dry-run"
    REJECTED = "rejected"  # rejected or timed out approval
    RELEASE = "release"  # the run failed or was aborted


class Trigger(StrEnum):
    MANUAL = "manual"
    ALARM = "alarm"
    OBJECT_CREATED = "object-created"  # an S3 on-failure destination wrote an object
    SCHEDULE = "schedule"
