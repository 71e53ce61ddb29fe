"""The rule protocol: what a rule sees, what it may decide, and the errors around it.

A rule looks at one record (a RuleDocument) and either decides (keep, repair or
discard) or returns None to let the next rule look. The engine applies rules in order
and the first decision wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, TypedDict

from redrive.rules.json_values import JsonValue

Action = Literal["keep", "repair", "discard"]
ACTIONS: tuple[Action, ...] = ("keep", "repair", "discard")

Source = Literal["kinesis", "dynamodb"]


class FailureContext(TypedDict):
    """Why the consumer gave up on the batch, from the on-failure pointer message."""

    condition: str | None
    functionError: str | None
    approximateInvokeCount: int | None
    redriveAttempts: int  # earlier runs that redrove this record and saw it fail again


class RuleDocument(TypedDict):
    """The document every rule sees (JSONata rules as their input ``$``).

    ``data`` is the payload parsed as JSON (for DynamoDB the NewImage as plain JSON),
    or None when there is none or it is not JSON. ``text`` is the payload as UTF-8
    text, or None. ``eventName`` is None for Kinesis records.
    """

    data: JsonValue
    text: str | None
    partitionKey: str | None
    sequenceNumber: str
    shardId: str
    source: Source
    eventName: str | None
    failure: FailureContext


@dataclass(frozen=True)
class Decision:
    """What a rule decided about one record.

    ``data`` is the repaired data (the new payload) and only counts for "repair";
    None there means JSON null. ``reason`` is required for "discard", because every
    discarded record is archived with its reason. ``rule`` is the deciding rule's name;
    rules need not set it, the engine reports the name the rule was loaded under.
    """

    action: Action
    reason: str | None = None
    data: JsonValue = None
    rule: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; use one of {', '.join(ACTIONS)}")
        if self.action == "discard" and not self.reason:
            raise ValueError("a discard decision needs a reason; it is archived with the record")

    @classmethod
    def keep(cls, reason: str | None = None) -> Decision:
        return cls("keep", reason=reason)

    @classmethod
    def repair(cls, data: JsonValue, reason: str | None = None) -> Decision:
        return cls("repair", reason=reason, data=data)

    @classmethod
    def discard(cls, reason: str) -> Decision:
        return cls("discard", reason=reason)


class Rule(Protocol):
    """A loaded rule. ``decide`` returns a Decision, or None for "not mine, ask the next rule".

    ``decide`` may raise: the engine turns that into a ``rule-error`` outcome for the
    record (left unchanged) instead of failing the run.
    """

    @property
    def name(self) -> str: ...

    def decide(self, document: RuleDocument) -> Decision | None: ...


class RuleConfigError(Exception):
    """A rule list cannot be loaded; nothing has been applied to any record yet."""


class InvalidRule(RuleConfigError):
    """A rule spec is wrong; the message names the rule (index and name) and the field."""


class UnknownRule(RuleConfigError):
    """A Python rule name is registered by nothing (or ambiguously), or its rule module does not load."""


class RuleEvaluationError(Exception):
    """A rule failed on one record (e.g. ``when`` was not a boolean); the record becomes rule-error."""


class InvalidRecord(ValueError):
    """A fetched record cannot be turned into a RuleDocument (missing field, bad base64, bad image)."""
