"""What an event source mapping does with a batch after one invocation, as a pure function.

The emulator (``esm.py``) invokes, then asks :func:`next_action` what follows and applies
it to its shard bookkeeping. The rules, from the AWS Lambda Developer Guide:

- A success checkpoints the batch.
- A ReportBatchItemFailures response naming a record after the first checkpoints before
  it and retries from it, as a new batch (its retry count starts again).
- A failed Invoke call (throttling and the like) is retried without counting against
  ``MaximumRetryAttempts``.
- With ``BisectBatchOnFunctionError`` a failed batch of more than one record is split in
  two, first half first; splitting does not use the retry quota. A partial response is
  not bisected: the records before the reported one already succeeded.
- Otherwise the batch is retried until ``MaximumRetryAttempts`` (-1: no limit), then given up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

Outcome = Literal["ok", "partial", "function-error", "invalid-response", "invoke-error"]


class RetrySettings(Protocol):
    """The mapping settings the policy reads (``esm_events.MappingConfig`` has them)."""

    @property
    def bisect(self) -> bool: ...

    @property
    def maximum_retry_attempts(self) -> int: ...


class ActionKind(StrEnum):
    CHECKPOINT = "checkpoint"
    CHECKPOINT_PARTIAL = "checkpoint-partial"
    RETRY_UNCOUNTED = "retry-uncounted"
    BISECT = "bisect"
    RETRY = "retry"
    GIVE_UP = "give-up"


@dataclass(frozen=True)
class Action:
    """The next step for a batch.

    ``at``: for CHECKPOINT_PARTIAL the index of the first record to retry, for BISECT the
    size of the first half. ``retries``: for RETRY the batch's retries with this one."""

    kind: ActionKind
    at: int = 0
    retries: int = 0

    def describe(self, sequence_numbers: Sequence[str]) -> str:
        """The action as the emulator's step log shows it, for the batch's records."""
        if self.kind is ActionKind.CHECKPOINT_PARTIAL:
            rest = len(sequence_numbers) - self.at
            return f"checkpoint before {sequence_numbers[self.at]}, retry the {rest} records from it"
        if self.kind is ActionKind.RETRY_UNCOUNTED:
            return "retry (invoke failed; not counted against MaximumRetryAttempts)"
        if self.kind is ActionKind.BISECT:
            return f"bisect into {self.at} + {len(sequence_numbers) - self.at}"
        if self.kind is ActionKind.RETRY:
            return f"retry {self.retries}"
        if self.kind is ActionKind.GIVE_UP:
            return "give up: RetryAttemptsExhausted"
        return "checkpoint"


def next_action(outcome: Outcome, first_failed: int, batch_len: int, retries: int, mapping: RetrySettings) -> Action:
    """What the mapping does after invoking a batch of ``batch_len`` records that has been
    retried ``retries`` times; ``first_failed`` is the index of the lowest reported item
    failure (-1 when there is none)."""
    if outcome == "ok":
        return Action(ActionKind.CHECKPOINT)
    if outcome == "partial" and first_failed > 0:
        return Action(ActionKind.CHECKPOINT_PARTIAL, at=first_failed)
    if outcome == "invoke-error":
        return Action(ActionKind.RETRY_UNCOUNTED)
    if mapping.bisect and batch_len > 1 and outcome != "partial":
        return Action(ActionKind.BISECT, at=(batch_len + 1) // 2)
    if mapping.maximum_retry_attempts < 0 or retries < mapping.maximum_retry_attempts:
        return Action(ActionKind.RETRY, retries=retries + 1)
    return Action(ActionKind.GIVE_UP)
