"""Fetch groups: pointers grouped per stream and shard, ranges merged, records assigned back."""

from __future__ import annotations

from typing import Any

from redrive.contracts.fetch import FetchGroup, PointerAssignment
from redrive.contracts.messages import GroupPointer, Pointer
from redrive.contracts.records import FailureContext, StreamRecord
from redrive.contracts.vocab import Source
from redrive.core.fetch_groups import assign_records, build_fetch_groups, group_id, merge_ranges

KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
OTHER_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/payments"
BASE = 49656632116218945776331460766277046186802519735914561554  # 56 digits
FAILURE = {"condition": "RetryAttemptsExhausted", "functionError": "Unhandled", "approximateInvokeCount": 2}


def pointer(
    start: int,
    end: int,
    message_id: str = "m1",
    *,
    shard: str = "shardId-000000000000",
    stream: str = KINESIS_ARN,
    source: str = "kinesis",
    size: int | None = None,
    failure: dict[str, Any] | None = None,
) -> GroupPointer:
    return GroupPointer(
        message_id=message_id,
        source=Source(source),
        stream_arn=stream,
        shard_id=shard,
        start_sequence_number=str(start),
        end_sequence_number=str(end),
        batch_size=size if size is not None else end - start + 1,
        failure=FailureContext.parse(failure if failure is not None else FAILURE),
    )


def fetched(seq: int, shard: str = "shardId-000000000000") -> StreamRecord:
    return StreamRecord(source=Source.KINESIS, stream_arn=KINESIS_ARN, shard_id=shard, sequence_number=str(seq))


class TestMergeRanges:
    def test_overlapping_ranges_become_one(self) -> None:
        assert merge_ranges([(1, 5), (4, 9)]) == [(1, 9)]

    def test_touching_end_and_start_merge(self) -> None:
        assert merge_ranges([(1, 5), (5, 9)]) == [(1, 9)]

    def test_contained_range_disappears(self) -> None:
        assert merge_ranges([(1, 10), (3, 4)]) == [(1, 10)]
        assert merge_ranges([(3, 4), (1, 10)]) == [(1, 10)]

    def test_duplicates_are_read_once(self) -> None:
        assert merge_ranges([(2, 3), (2, 3), (2, 3)]) == [(2, 3)]

    def test_disjoint_ranges_stay_apart(self) -> None:
        # Never read what no pointer names, not even a one-number gap.
        assert merge_ranges([(10, 12), (1, 3), (5, 8)]) == [(1, 3), (5, 8), (10, 12)]
        assert merge_ranges([(1, 3), (4, 6)]) == [(1, 3), (4, 6)]

    def test_chain_of_overlaps(self) -> None:
        assert merge_ranges([(1, 3), (7, 9), (2, 8)]) == [(1, 9)]

    def test_empty(self) -> None:
        assert merge_ranges([]) == []

    def test_56_digit_sequence_numbers_compare_as_integers(self) -> None:
        a = (BASE, BASE + 10)
        b = (BASE + 11, BASE + 20)  # adjacent but not overlapping: stays apart
        c = (BASE + 5, BASE + 12)  # bridges both
        assert merge_ranges([a, b]) == [a, b]
        assert merge_ranges([b, a, c]) == [(BASE, BASE + 20)]


class TestBuildFetchGroups:
    def test_one_group_per_source_stream_and_shard(self) -> None:
        refs = [
            pointer(BASE, BASE + 2, "m1"),
            pointer(BASE + 1, BASE + 5, "m2"),
            pointer(BASE, BASE + 2, "m3", shard="shardId-000000000001"),
            pointer(BASE, BASE + 2, "m4", stream=OTHER_ARN),
            pointer(BASE + 100, BASE + 101, "m5"),
        ]
        groups = build_fetch_groups(refs)
        keys = [(g.source, g.stream_arn, g.shard_id) for g in groups]
        assert len(groups) == 3
        assert len(set(keys)) == 3
        first = next(g for g in groups if g.stream_arn == KINESIS_ARN and g.shard_id == "shardId-000000000000")
        assert [(r.start, r.end) for r in first.ranges] == [
            (str(BASE), str(BASE + 5)),
            (str(BASE + 100), str(BASE + 101)),
        ]
        assert [p.message_id for p in first.pointers] == ["m1", "m2", "m5"]
        assert first.pointers[0].failure == FailureContext.parse(FAILURE)
        assert first.pointers[0].start_sequence_number == str(BASE)
        data = first.to_json()  # as groups/<groupId>.json holds it
        assert data["ranges"][0] == {"start": str(BASE), "end": str(BASE + 5), "limit": data["ranges"][0]["limit"]}
        assert data["pointers"][0]["messageId"] == "m1"
        assert data["pointers"][0]["failure"]["functionError"] == "Unhandled"
        assert FetchGroup.parse(data) == first

    def test_same_shard_id_on_two_sources_is_two_groups(self) -> None:
        refs = [
            pointer(1, 2, "m1"),
            pointer(1, 2, "m2", source="dynamodb", stream="arn:aws:dynamodb:us-east-1:1:table/t/stream/x"),
        ]
        assert len(build_fetch_groups(refs)) == 2

    def test_group_ids_are_stable_and_distinct(self) -> None:
        refs = [pointer(1, 2, "m1"), pointer(1, 2, "m2", stream=OTHER_ARN)]
        first = [g.group_id for g in build_fetch_groups(refs)]
        again = [g.group_id for g in build_fetch_groups(list(reversed(refs)))]
        assert first == again
        assert len(set(first)) == 2
        assert group_id("kinesis", KINESIS_ARN, "shardId-000000000000") == group_id(
            "kinesis", KINESIS_ARN, "shardId-000000000000"
        )

    def test_group_id_is_a_safe_s3_key_part(self) -> None:
        long_shard = "shardId-00000001763781236915-4b0a9c2e"
        gid = group_id(
            "dynamodb", "arn:aws:dynamodb:us-east-1:1:table/orders/stream/2026-11-01T00:00:00.000", long_shard
        )
        assert gid.startswith(long_shard[-24:] + "-")
        assert "/" not in gid and ":" not in gid

    def test_ranges_of_different_digit_lengths_merge_as_numbers(self) -> None:
        # As strings "999" > "1000"; as numbers the two pointers overlap.
        [group] = build_fetch_groups([pointer(999, 1000, "m1"), pointer(1000, 1001, "m2")])
        assert [(r.start, r.end) for r in group.ranges] == [("999", "1001")]

    def test_no_pointers_no_groups(self) -> None:
        assert build_fetch_groups([]) == []


class TestAssignRecords:
    def group(self, *pointers: GroupPointer) -> FetchGroup:
        groups = build_fetch_groups(list(pointers))
        assert len(groups) == 1
        return groups[0]

    def assign(self, group: FetchGroup, records: list[StreamRecord]) -> list[PointerAssignment]:
        with_failure, assignments = assign_records(group, records)
        assert [r.record_id for r in with_failure] == [r.record_id for r in records]
        return assignments

    def test_every_record_found(self) -> None:
        group = self.group(pointer(BASE, BASE + 2, "m1", size=3))
        records = [fetched(BASE), fetched(BASE + 1), fetched(BASE + 2)]
        [assignment] = self.assign(group, records)
        assert assignment.message_id == "m1"
        assert assignment.record_ids == [r.record_id for r in records]
        assert assignment.expired == 0
        assert assignment.to_json()["pointer"]["startSequenceNumber"] == str(BASE)

    def test_the_assignment_keeps_the_pointer_without_its_message_id(self) -> None:
        named = pointer(BASE, BASE + 2, "m1", size=3)
        [assignment] = self.assign(self.group(named), [fetched(BASE)])
        assert type(assignment.pointer) is Pointer
        assert assignment.pointer == Pointer.parse(named.model_dump(exclude={"message_id"}))
        assert "messageId" not in assignment.to_json()["pointer"]
        assert PointerAssignment.parse(assignment.to_json()) == assignment

    def test_missing_records_are_counted_expired(self) -> None:
        group = self.group(pointer(BASE, BASE + 9, "m1", size=4))
        [assignment] = self.assign(group, [fetched(BASE + 9)])
        assert assignment.record_ids == [f"shardId-000000000000:{BASE + 9}"]
        assert assignment.expired == 3

    def test_nothing_left_in_the_stream(self) -> None:
        group = self.group(pointer(BASE, BASE + 9, "m1", size=4))
        [assignment] = self.assign(group, [])
        assert (assignment.record_ids, assignment.expired) == ([], 4)

    def test_records_outside_a_pointer_range_are_not_its_own(self) -> None:
        group = self.group(pointer(BASE, BASE + 1, "m1", size=2), pointer(BASE + 5, BASE + 6, "m2", size=2))
        records = [fetched(BASE), fetched(BASE + 1), fetched(BASE + 5), fetched(BASE + 6)]
        first, second = self.assign(group, records)
        assert first.record_ids == [f"shardId-000000000000:{BASE}", f"shardId-000000000000:{BASE + 1}"]
        assert second.record_ids == [f"shardId-000000000000:{BASE + 5}", f"shardId-000000000000:{BASE + 6}"]
        assert first.expired == second.expired == 0

    def test_overlapping_pointers_each_get_the_shared_record(self) -> None:
        group = self.group(pointer(BASE, BASE + 2, "m1", size=3), pointer(BASE + 2, BASE + 3, "m2", size=2))
        records = [fetched(BASE + s) for s in range(4)]
        first, second = self.assign(group, records)
        shared = f"shardId-000000000000:{BASE + 2}"
        assert shared in first.record_ids and shared in second.record_ids

    def test_failure_of_the_first_naming_pointer_is_attached(self) -> None:
        other = {"condition": "RecordAgeExceeded", "functionError": None, "approximateInvokeCount": 1}
        group = self.group(
            pointer(BASE, BASE + 1, "m1", size=2), pointer(BASE + 1, BASE + 2, "m2", size=2, failure=other)
        )
        records = [fetched(BASE + s) for s in range(4)]
        with_failure, _ = assign_records(group, records)
        # The records come back with their failure context (models are not changed in place).
        assert with_failure[0].failure == FailureContext.parse(FAILURE)
        assert with_failure[1].failure == FailureContext.parse(FAILURE)  # named by both: the first pointer wins
        assert with_failure[2].failure == FailureContext.parse(other)
        assert with_failure[3].failure == FailureContext()  # named by no pointer: left as it was
        assert all(r.failure == FailureContext() for r in records)

    def test_a_pointer_names_at_most_its_batch_size_and_expired_is_never_negative(self) -> None:
        """A range wider than its batchSize (a malformed pointer: start 0, end sixty 9s) is
        not a licence to redrive the whole shard: its first batchSize records count."""
        group = self.group(pointer(BASE, BASE + 3, "m1", size=2))
        records = [fetched(BASE + s) for s in range(4)]
        [assignment] = self.assign(group, records)
        assert assignment.record_ids == [records[0].record_id, records[1].record_id]
        assert assignment.expired == 0

    def test_merged_ranges_read_at_most_the_batch_sizes_of_their_pointers(self) -> None:
        [group] = build_fetch_groups(
            [pointer(BASE, BASE + 10**6, "m1", size=3), pointer(BASE + 1, BASE + 2, "m2", size=2)]
        )
        assert [(r.start, r.end, r.limit) for r in group.ranges] == [(str(BASE), str(BASE + 10**6), 5)]
