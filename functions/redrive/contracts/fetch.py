"""What Fetch reads and writes: shard groups to read, and the records they gave back."""

from __future__ import annotations

from pydantic import Field

from .base import Contract, SequenceNumber
from .messages import GroupPointer, Pointer
from .records import StreamRecord
from .vocab import Source


class SequenceRange(Contract):
    start: SequenceNumber
    end: SequenceNumber
    limit: int | None = None  # at most this many records: the batch sizes of its pointers


class FetchGroup(Contract):
    """One (source, stream, shard): its merged ranges and the pointers that named them."""

    group_id: str
    source: Source
    stream_arn: str
    shard_id: str
    ranges: list[SequenceRange]
    pointers: list[GroupPointer]


class PointerAssignment(Contract):
    """Which records a message accounts for, and how many the stream no longer holds."""

    message_id: str
    record_ids: list[str]
    expired: int = 0
    pointer: Pointer | None = None


class FetchedGroup(Contract):
    """``fetched/<groupId>.json``: records read back or carried inline by their messages.

    A read writes its records in ``chunks`` (keys of :class:`FetchedChunk` objects) as it
    goes; ``records`` then stays empty in S3 and :meth:`RunData.fetched_groups` fills it in."""

    group_id: str
    records: list[StreamRecord] = Field(default_factory=list)
    chunks: list[str] = Field(default_factory=list)
    assignments: list[PointerAssignment] = Field(default_factory=list)
    get_records_calls: int = 0
    throttled: int = 0
    iterators_renewed: int = 0


class FetchedChunk(Contract):
    """``fetched-chunks/<groupId>/<n>.json``: a part of a group's records, in read order."""

    records: list[StreamRecord]


class FetchResult(Contract):
    """Fetch's answer to the state machine (kept small: counts only)."""

    group_id: str
    records: int
    expired: int
    get_records_calls: int
    start_trimmed: bool
    stream_missing: bool
    throttled: int = 0
    iterators_renewed: int = 0
    chunks: int = 0
