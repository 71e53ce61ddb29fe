"""Fetch on fakes: a group's records written to S3 in chunks as the read goes, read back whole."""

from __future__ import annotations

from typing import Any

from redrive.contracts.fetch import FetchedChunk, FetchedGroup
from redrive.contracts.paths import RunPaths
from redrive.contracts.records import StreamRecord
from redrive.core.fetch import fetch_group
from redrive.core.fetch_groups import build_fetch_groups
from redrive.core.run_data import RunData
from tests.fakes import FakeShardReader, MemoryStore
from tests.unit.test_core_fetch_groups import BASE, KINESIS_ARN, fetched, pointer

SHARD = "shardId-000000000000"


class CountingReader(FakeShardReader):
    """Remembers the largest page it handed over and how many walks it made."""

    def __init__(self, records: list[StreamRecord], page: int) -> None:
        super().__init__(records)
        self.page = page
        self.walks: list[list[Any]] = []

    def read_ranges(self, stream_arn: str, shard_id: str, ranges: list[Any], sink: Any = None) -> Any:
        self.walks.append(ranges)
        pages: list[list[StreamRecord]] = []
        read = super().read_ranges(stream_arn, shard_id, ranges, sink=pages.append)
        for got in pages:
            for start in range(0, len(got), self.page):
                sink(got[start : start + self.page])
        return read


def run_data_with(pointers: list[Any]) -> tuple[RunData, str]:
    data = RunData(MemoryStore(), RunPaths("run-1"))
    (group,) = build_fetch_groups(pointers)
    data.put(data.paths.group(group.group_id), group)
    return data, group.group_id


def test_records_are_written_in_chunks_and_read_back_whole_with_their_failure() -> None:
    shard = [fetched(BASE + i) for i in range(23)]
    data, gid = run_data_with([pointer(BASE, BASE + 9, "m1"), pointer(BASE + 10, BASE + 24, "m2")])
    reader = CountingReader(shard, page=4)
    result = fetch_group(gid, data, reader, chunk_records=5)
    assert (result.records, result.expired, result.chunks) == (23, 2, 5)
    assert len(reader.walks) == 1, "the merged ranges are one read"
    stored = data.get(data.paths.fetched_group(gid), FetchedGroup)
    assert stored.records == [], "fetched/<groupId>.json names the chunks and holds no records"
    assert stored.chunks == [data.paths.fetched_chunk(gid, n) for n in range(1, 6)]
    assert all(key.startswith("runs/run-1/fetched-chunks/") for key in stored.chunks)
    assert [len(data.get(key, FetchedChunk).records) for key in stored.chunks] == [5, 5, 5, 5, 3]
    (group,) = data.fetched_groups()
    assert [r.position for r in group.records] == [BASE + i for i in range(23)]
    assert all(r.failure.condition == "RetryAttemptsExhausted" for r in group.records)
    assert {a.message_id: len(a.record_ids) for a in group.assignments} == {"m1": 10, "m2": 13}


def test_a_record_read_twice_is_stored_once() -> None:
    """A pointer past a cut read is read again on its own: what both reads saw is kept once."""
    wide = pointer(BASE, BASE + 99, "wide", size=2)
    inner = pointer(BASE + 3, BASE + 60, "inner", size=3)
    shard = [fetched(BASE + i) for i in (0, 1, 2, 3, 50, 51)]
    data, gid = run_data_with([wide, inner])
    reader = CountingReader(shard, page=10)
    result = fetch_group(gid, data, reader, chunk_records=100)
    assert len(reader.walks) == 2
    (group,) = data.fetched_groups()
    assert sorted(r.position for r in group.records) == [BASE + i for i in (0, 1, 2, 3, 50, 51)]
    assert {a.message_id: a.expired for a in group.assignments} == {"wide": 0, "inner": 0}
    assert result.records == 6


def test_nothing_read_writes_no_chunk() -> None:
    data, gid = run_data_with([pointer(BASE, BASE + 4, "m1")])
    result = fetch_group(gid, data, CountingReader([], page=1))
    assert (result.records, result.expired, result.chunks) == (0, 5, 0)
    (group,) = data.fetched_groups()
    assert group.records == [] and group.assignments[0].expired == 5
    assert KINESIS_ARN in group.assignments[0].pointer.stream_arn  # type: ignore[union-attr]
