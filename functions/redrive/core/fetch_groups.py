"""Which stream ranges to read: pointers grouped per stream and shard, ranges merged.

Overlapping or repeated pointers (a batch reported twice, bisected halves) are read once.
After the read, :func:`assign_records` tells, per pointer, which records the stream still
held and how many it no longer holds (expired: the pointer is kept in the report).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .messages import Pointer
from .records import seq_in_range


@dataclass(frozen=True)
class PointerRef:
    message_id: str
    pointer: Pointer


def group_id(source: str, stream_arn: str, shard_id: str) -> str:
    digest = hashlib.sha256(f"{source}|{stream_arn}|{shard_id}".encode()).hexdigest()[:16]
    return f"{shard_id[-24:]}-{digest}"


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping ranges become one; disjoint ones stay apart (never read what no pointer names)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def build_fetch_groups(refs: list[PointerRef]) -> list[dict[str, Any]]:
    """One group per (source, stream, shard), with its merged ranges and its pointers."""
    grouped: dict[tuple[str, str, str], list[PointerRef]] = {}
    for ref in refs:
        p = ref.pointer
        grouped.setdefault((p.source, p.stream_arn, p.shard_id), []).append(ref)
    groups = []
    for (source, stream_arn, shard_id), members in sorted(grouped.items()):
        ranges = merge_ranges([(int(m.pointer.start), int(m.pointer.end)) for m in members])
        groups.append(
            {
                "groupId": group_id(source, stream_arn, shard_id),
                "source": source,
                "streamArn": stream_arn,
                "shardId": shard_id,
                "ranges": [{"start": str(s), "end": str(e)} for s, e in ranges],
                "pointers": [{"messageId": m.message_id, **m.pointer.to_json()} for m in members],
            }
        )
    return groups


@dataclass
class PointerAssignment:
    message_id: str
    pointer: dict[str, Any]
    record_ids: list[str]
    expired: int

    def to_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "pointer": self.pointer,
            "recordIds": self.record_ids,
            "expired": self.expired,
        }


def assign_records(group: dict[str, Any], records: list[dict[str, Any]]) -> list[PointerAssignment]:
    """Per pointer: the fetched records inside its range and the count the stream lost.

    Each record also takes the failure context of the first pointer that names it, so it
    travels with the record (into a re-queued message, for instance)."""
    out = []
    for pointer in group["pointers"]:
        inside = [
            r
            for r in records
            if seq_in_range(r["sequenceNumber"], pointer["startSequenceNumber"], pointer["endSequenceNumber"])
        ]
        for record in inside:
            record.setdefault("failure", pointer.get("failure") or {})
        ids = [r["recordId"] for r in inside]
        out.append(
            PointerAssignment(
                message_id=pointer["messageId"],
                pointer=pointer,
                record_ids=ids,
                expired=max(0, int(pointer["batchSize"]) - len(ids)),
            )
        )
    return out
