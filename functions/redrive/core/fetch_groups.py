"""Which stream ranges to read: pointers grouped per stream and shard, ranges merged.

Overlapping or repeated pointers (a batch reported twice, bisected halves) are read once.
After the read, :func:`assign_records` tells, per pointer, which records the stream still
held and how many it no longer holds (expired: the pointer is kept in the report).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from dataclasses import dataclass

from ..contracts.fetch import FetchGroup, PointerAssignment, SequenceRange
from ..contracts.messages import GroupPointer, Pointer
from ..contracts.records import FailureContext, StreamRecord
from ..contracts.vocab import Source


def group_id(source: str, stream_arn: str, shard_id: str) -> str:
    digest = hashlib.sha256(f"{source}|{stream_arn}|{shard_id}".encode()).hexdigest()[:16]
    return f"{shard_id[-24:]}-{digest}"


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping ranges become one; disjoint ones stay apart (never read what no pointer names)."""
    return [(start, end) for start, end, _ in merge_bounded([(s, e, 0) for s, e in ranges])]


def merge_bounded(ranges: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Like :func:`merge_ranges`, each range with the most records it may hold (its
    pointer's batchSize); a merged range may hold at most the sum of its parts."""
    merged: list[tuple[int, int, int]] = []
    for start, end, limit in sorted(ranges):
        if merged and start <= merged[-1][1]:
            first, last, total = merged[-1]
            merged[-1] = (first, max(last, end), total + limit)
        else:
            merged.append((start, end, limit))
    return merged


def build_fetch_groups(pointers: list[GroupPointer]) -> list[FetchGroup]:
    """One group per (source, stream, shard), with its merged ranges and its pointers."""
    grouped: dict[tuple[Source, str, str], list[GroupPointer]] = {}
    for pointer in pointers:
        grouped.setdefault((pointer.source, pointer.stream_arn, pointer.shard_id), []).append(pointer)
    groups = []
    for (source, stream_arn, shard_id), members in sorted(grouped.items()):
        ranges = merge_bounded([(m.start, m.end, m.batch_size) for m in members])
        groups.append(
            FetchGroup(
                group_id=group_id(source, stream_arn, shard_id),
                source=source,
                stream_arn=stream_arn,
                shard_id=shard_id,
                ranges=[SequenceRange(start=str(s), end=str(e), limit=n) for s, e, n in ranges],
                pointers=members,
            )
        )
    return groups


@dataclass(frozen=True)
class ReadEntry:
    """What assignment needs of a record read back (its body is already in S3)."""

    record_id: str
    position: int


def assign_records(
    group: FetchGroup, records: list[StreamRecord]
) -> tuple[list[StreamRecord], list[PointerAssignment]]:
    """Per pointer: the fetched records inside its range and the count the stream lost.

    Each record also takes the failure context of the first pointer that names it, so it
    travels with the record (into a re-queued message, for instance). Returns the records
    with their failure context, and the assignments."""
    assignments = assign_positions(group, [ReadEntry(r.record_id, r.position) for r in records])
    return with_failure_context(records, assignments), assignments


def assign_positions(group: FetchGroup, entries: list[ReadEntry]) -> list[PointerAssignment]:
    """:func:`assign_records` on what a read kept of each record (id and position)."""
    in_order = sorted(entries, key=lambda e: e.position)
    positions = [e.position for e in in_order]
    out = []
    for pointer in group.pointers:
        # A pointer names at most its batchSize records: the first ones from its start.
        first = bisect_left(positions, pointer.start)
        ids = []
        for entry in in_order[first : first + pointer.batch_size]:
            if entry.position > pointer.end:
                break
            ids.append(entry.record_id)
        out.append(
            PointerAssignment(
                message_id=pointer.message_id,
                pointer=Pointer.model_validate(pointer.model_dump(exclude={"message_id"})),
                record_ids=ids,
                expired=max(0, pointer.batch_size - len(ids)),
            )
        )
    return out


def with_failure_context(records: list[StreamRecord], assignments: list[PointerAssignment]) -> list[StreamRecord]:
    """Each record with the failure context of the first pointer that names it."""
    failure_of: dict[str, FailureContext] = {}
    for assignment in assignments:
        if assignment.pointer is None:
            continue
        for record_id in assignment.record_ids:
            failure_of.setdefault(record_id, assignment.pointer.failure)
    return [
        r.model_copy(update={"failure": failure_of[r.record_id]}) if r.record_id in failure_of else r for r in records
    ]
