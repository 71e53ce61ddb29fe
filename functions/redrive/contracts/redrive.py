"""What one redrive batch did."""

from __future__ import annotations

from pydantic import Field

from .base import Contract


class BatchResult(Contract):
    """``results/<batchId>.json``; ``failed`` maps record id to the reason it failed."""

    batch_id: str
    started_at: float
    sent_at: float
    finished_at: float
    records: int
    sent: bool
    slot_start: float | None = None  # the start of the pacing slot the run's limiter gave it
    failed: dict[str, str] = Field(default_factory=dict)


class RedriveBatchOutput(Contract):
    """What the child workflow acts on: ``waitSeconds`` > 0 means wait that long (a Wait
    state) and call again with ``slotStart``; otherwise the batch is done."""

    batch_id: str
    repeated: bool
    failed: int
    fenced: bool = False  # the run was closed: nothing was sent
    wait_seconds: int = 0
    slot_start: float | None = None


class SlotGrant(Contract):
    """The slot a batch was given (``$.slot`` in the child: the previous call's answer, or
    ``{}`` before the first call, when no slot is reserved yet)."""

    slot_start: float | None = None


class BatchError(Contract):
    """``redrive/errors/<batchId>.json``: why a batch's send raised (its child then fails,
    and the Distributed Map says only that a child failed)."""

    batch_id: str
    error: str
