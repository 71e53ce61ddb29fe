"""Fetch: one shard group's pointer ranges read back from the stream into S3.

The group's merged ranges are read in one walk of the shard (see the reader); the records
go to S3 in chunks as they arrive, so the function holds a chunk and an index (id and
position per record), never the shard. ``fetched/<groupId>.json`` then names the chunks and
tells, per pointer, which records the stream still held and how many it lost (expired).
"""

from __future__ import annotations

from ..contracts.fetch import FetchedChunk, FetchedGroup, FetchGroup, FetchResult, SequenceRange
from ..contracts.messages import GroupPointer
from ..contracts.records import StreamRecord
from .fetch_groups import ReadEntry, assign_positions, merge_bounded
from .ports import RangeReadResult, ShardReader
from .run_data import RunData

CHUNK_RECORDS = 500
"""Records per chunk object: with records up to 1 MiB each, a chunk stays far below the
function's memory, and 1M records make 2,000 objects."""


class ChunkWriter:
    """Records to S3 in chunks, each record once (a pointer read again adds nothing)."""

    def __init__(self, data: RunData, group_id: str, chunk_records: int = CHUNK_RECORDS) -> None:
        self.data = data
        self.group_id = group_id
        self.chunk_records = chunk_records
        self.keys: list[str] = []
        self.index: list[ReadEntry] = []
        self._seen: set[str] = set()
        self._buffer: list[StreamRecord] = []

    def add(self, records: list[StreamRecord]) -> None:
        for record in records:
            if record.record_id in self._seen:
                continue
            self._seen.add(record.record_id)
            self.index.append(ReadEntry(record.record_id, record.position))
            self._buffer.append(record)
            if len(self._buffer) >= self.chunk_records:
                self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        key = self.data.paths.fetched_chunk(self.group_id, len(self.keys) + 1)
        self.data.put(key, FetchedChunk(records=self._buffer))
        self.keys.append(key)
        self._buffer = []


def fetch_group(group_id: str, data: RunData, reader: ShardReader, chunk_records: int = CHUNK_RECORDS) -> FetchResult:
    """Read every merged range of the group, assign the records to their pointers, and
    write ``fetched/<groupId>.json``. Records the stream no longer holds count as expired."""
    group = data.group(group_id)
    writer = ChunkWriter(data, group.group_id, chunk_records)
    stream, shard = group.stream_arn, group.shard_id
    reads = [reader.read_ranges(stream, shard, [(p.start, p.end, p.limit) for p in group.ranges], sink=writer.add)]
    again = _pointers_past_a_cut_read(group, writer.index)
    if again:
        ranges = merge_bounded([(p.start, p.end, p.batch_size) for p in again])
        reads.append(reader.read_ranges(stream, shard, [(str(s), str(e), n) for s, e, n in ranges], sink=writer.add))
    writer.flush()
    assignments = assign_positions(group, writer.index)
    fetched = FetchedGroup(
        group_id=group.group_id,
        chunks=writer.keys,
        assignments=assignments,
        get_records_calls=sum(r.get_records_calls for r in reads),
        throttled=sum(r.throttled for r in reads),
        iterators_renewed=sum(r.iterators_renewed for r in reads),
    )
    data.put(data.paths.fetched_group(group.group_id), fetched)
    return FetchResult(
        group_id=group.group_id,
        records=len(writer.index),
        expired=sum(a.expired for a in assignments),
        get_records_calls=fetched.get_records_calls,
        start_trimmed=any(r.start_trimmed for r in reads),
        stream_missing=any(r.stream_missing for r in reads),
        throttled=fetched.throttled,
        iterators_renewed=fetched.iterators_renewed,
        chunks=len(writer.keys),
    )


def _pointers_past_a_cut_read(group: FetchGroup, read: list[ReadEntry]) -> list[GroupPointer]:
    """The pointers whose records the read of their merged range may not have reached.

    Bug fix: a merged range is read no further than the sum of its pointers' batch sizes,
    which covers each pointer only when its records are the first ones of the range. A
    pointer further in (beside a wide one, e.g. ``0..9...9`` with batchSize 1) may start
    past where that read was cut: its records, still in the stream, were counted as
    expired and its message finished without them. Such a pointer is read on its own
    (at most its batchSize records); a read that was not cut saw every record of the range."""
    out: list[GroupPointer] = []
    for part in group.ranges:
        inside = [e.position for e in read if _in(part, e.position)]
        if part.limit is None or len(inside) < part.limit:
            continue
        last = max(inside)
        for pointer in group.pointers:
            if not (int(part.start) <= pointer.start and pointer.end <= int(part.end)) or pointer.end <= last:
                continue
            named = sum(1 for position in inside if pointer.start <= position <= pointer.end)
            if named < pointer.batch_size:
                out.append(pointer)
    return out


def _in(part: SequenceRange, position: int) -> bool:
    return int(part.start) <= position <= int(part.end)


__all__ = ["CHUNK_RECORDS", "ChunkWriter", "RangeReadResult", "fetch_group"]
