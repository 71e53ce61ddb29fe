"""The run's ledger: where every DLQ message of a run is, whatever fails and whenever.

- The **lease** (:class:`RunLease`, one item in the state table) says whether the run may
  still act on the world. Collect registers each stored page of messages in it before
  deleting them from the DLQ, and Redrive records each batch in flight in it before sending.
  Both are conditional on the lease being open, so once a run is closed (it ended, was
  aborted, or is being settled), a Lambda still running for it can neither delete from the
  DLQ nor send to a target: it is fenced.
- A message is **held** by the run once its page is registered (and SQS confirmed its
  delete). Held messages are in the run's S3 pages only.
- **Settling** closes the lease, computes once what goes back (the :class:`Disposition`,
  stored in S3 before anything is sent), sends it in chunks, each chunk marked sent in S3
  after SQS accepted it, then writes the report and frees the DLQ lock. A settle that is
  retried, or run again by the reconciler, resumes where the last one stopped: nothing is
  lost and at most one chunk is sent twice.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from .base import Contract
from .vocab import FinalizeMode


class LeaseStatus(StrEnum):
    OPEN = "open"  # the run may delete from the DLQ and send to the target
    CLOSED = "closed"  # fenced: being settled, or settled
    SETTLED = "settled"  # every held message is back in the DLQ or finished


class RunLease(Contract):
    run_id: str
    execution_arn: str
    queue_arn: str  # what the run locks: the DLQ's ARN, or its S3 source's (RunConfig.lock_key)
    dlq_url: str
    bucket: str
    status: LeaseStatus = LeaseStatus.OPEN
    pages: int = 0  # Collect's pages registered (held), numbered 1..pages
    in_flight: dict[str, float] = Field(default_factory=dict)  # batch id -> when it was claimed
    opened_at: float = 0.0
    closed_at: float | None = None
    invocations: int = 0  # the run's own Lambda invocations that recorded their duration
    billed_ms: int = 0
    megabyte_ms: int = 0


class Send(Contract):
    """One message to put back: a held message as it was, or a record on its own."""

    message_id: str | None = None  # a held message, sent back as it was
    record_id: str | None = None  # a record, sent back self-contained
    reason: str | None = None


class Disposition(Contract):
    """``disposition.json``: what goes back to the DLQ, fixed once per run."""

    mode: FinalizeMode
    sends: list[Send] = Field(default_factory=list)
    chunk_size: int = 50

    def chunks(self) -> list[list[Send]]:
        return [self.sends[i : i + self.chunk_size] for i in range(0, len(self.sends), self.chunk_size)]
