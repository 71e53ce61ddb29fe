"""ShardRangeReader against a fake Kinesis / DynamoDB Streams client: paging, stopping,
throttling, a trimmed start and a missing stream."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from redrive.adapters.streams import RangeRead, ShardRangeReader
from redrive.contracts.records import StreamRecord
from redrive.contracts.vocab import Source
from redrive.errors import ShardReadThrottled, aws_error_code

KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
TABLE_STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000"
SHARD = "shardId-000000000000"
BASE = 49656632116218945776331460766277046186802519735914561554  # 56 digits


class FakeClock:
    """Time that passes only when told to: a second per call by default, so the pacer never waits."""

    def __init__(self, step: float = 1.0) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class FakeClientError(Exception):
    """Shaped like botocore's ClientError: the code is in ``response["Error"]["Code"]``."""

    def __init__(self, code: str) -> None:
        super().__init__(f"An error occurred ({code})")
        self.response = {"Error": {"Code": code, "Message": "fake"}}


class FakeShardClient:
    """One shard holding ``sequence_numbers`` (in order); GetRecords pages of ``page_size``.

    ``trimmed_below``: AT_SEQUENCE_NUMBER for a smaller number fails as trimmed.
    ``empty_pages_before``: pages returned empty (MillisBehindLatest > 0) before each data page.
    ``errors``: exceptions raised by the next calls of a method, in order."""

    def __init__(
        self,
        source: str,
        sequence_numbers: list[int],
        *,
        page_size: int = 3,
        open_shard: bool = True,
        trimmed_below: int | None = None,
        trim_code: str = "TrimmedDataAccessException",
        empty_pages_before: int = 0,
    ) -> None:
        self.source = source
        self.sequence_numbers = sequence_numbers
        self.page_size = page_size
        self.open_shard = open_shard
        self.trimmed_below = trimmed_below
        self.trim_code = trim_code
        self.empty_pages_before = empty_pages_before
        self.errors: dict[str, list[Exception]] = {"get_shard_iterator": [], "get_records": []}
        self.iterator_calls: list[dict[str, Any]] = []
        self.records_calls: list[str] = []
        self.empty_served: dict[int, int] = {}

    def _raise_scripted(self, method: str) -> None:
        if self.errors[method]:
            raise self.errors[method].pop(0)

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        self.iterator_calls.append(kwargs)
        self._raise_scripted("get_shard_iterator")
        if self.source == "kinesis":
            assert kwargs["StreamARN"] == KINESIS_ARN
            start = kwargs.get("StartingSequenceNumber")
        else:
            assert kwargs["StreamArn"] == TABLE_STREAM_ARN
            start = kwargs.get("SequenceNumber")
        assert kwargs["ShardId"] == SHARD
        if kwargs["ShardIteratorType"] == "TRIM_HORIZON":
            assert start is None
            return {"ShardIterator": "it-0"}
        assert kwargs["ShardIteratorType"] in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")
        assert start is not None
        if self.trimmed_below is not None and int(start) < self.trimmed_below:
            raise FakeClientError(self.trim_code)
        first = int(start) + (kwargs["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER")
        position = next((i for i, s in enumerate(self.sequence_numbers) if s >= first), len(self.sequence_numbers))
        return {"ShardIterator": f"it-{position}"}

    def _item(self, seq: int) -> dict[str, Any]:
        if self.source == "kinesis":
            return {
                "SequenceNumber": str(seq),
                "ApproximateArrivalTimestamp": datetime(2026, 11, 22, tzinfo=UTC),
                "Data": f"record {seq}".encode(),
                "PartitionKey": "pk",
            }
        return {
            "eventID": str(seq),
            "eventName": "INSERT",
            "dynamodb": {
                "ApproximateCreationDateTime": datetime(2026, 11, 22, tzinfo=UTC),
                "Keys": {"pk": {"S": f"k{seq}"}},
                "NewImage": {"pk": {"S": f"k{seq}"}},
                "SequenceNumber": str(seq),
                "StreamViewType": "NEW_IMAGE",
            },
        }

    def get_records(self, *, ShardIterator: str, Limit: int) -> dict[str, Any]:
        self.records_calls.append(ShardIterator)
        self._raise_scripted("get_records")
        position = int(ShardIterator.removeprefix("it-"))
        if self.empty_served.get(position, 0) < self.empty_pages_before and position < len(self.sequence_numbers):
            self.empty_served[position] = self.empty_served.get(position, 0) + 1
            return self._page([], position, behind=60_000)
        size = min(self.page_size, Limit)
        items = self.sequence_numbers[position : position + size]
        return self._page(
            items, position + len(items), behind=0 if position + size >= len(self.sequence_numbers) else 1
        )

    def _page(self, items: list[int], next_position: int, behind: int) -> dict[str, Any]:
        page: dict[str, Any] = {"Records": [self._item(s) for s in items]}
        at_end = next_position >= len(self.sequence_numbers)
        if not (at_end and not self.open_shard):
            page["NextShardIterator"] = f"it-{next_position}"
        if self.source == "kinesis":
            page["MillisBehindLatest"] = 0 if at_end and not items else behind
        return page


def read(client: FakeShardClient, start: int, end: int, sleeps: list[float] | None = None, **options: Any) -> RangeRead:
    options.setdefault("clock", FakeClock())
    reader = ShardRangeReader(client, client.source, sleep=(sleeps if sleeps is not None else []).append, **options)
    return reader.read_range(
        KINESIS_ARN if client.source == "kinesis" else TABLE_STREAM_ARN, SHARD, str(start), str(end)
    )


def seqs(result: RangeRead) -> list[int]:
    return [r.position for r in result.records]


class TestPaging:
    def test_kinesis_reads_pages_until_past_the_end(self) -> None:
        shard = [BASE + i for i in range(0, 40, 2)]
        client = FakeShardClient("kinesis", shard, page_size=3)
        result = read(client, BASE + 4, BASE + 16)
        assert seqs(result) == [BASE + i for i in range(4, 17, 2)]
        assert client.iterator_calls == [
            {
                "StreamARN": KINESIS_ARN,
                "ShardId": SHARD,
                "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                "StartingSequenceNumber": str(BASE + 4),
            }
        ]
        # Pages from BASE+4: [4,6,8] [10,12,14] [16,18,..] -> the third holds a record past the end.
        assert result.get_records_calls == 3 == len(client.records_calls)
        assert (result.start_trimmed, result.stream_missing, result.throttled) == (False, False, 0)
        assert result.records[0].source == Source.KINESIS
        assert result.records[0].record_id == f"{SHARD}:{BASE + 4}"
        assert all(isinstance(r, StreamRecord) for r in result.records)

    def test_page_limit_is_passed(self) -> None:
        client = FakeShardClient("kinesis", [BASE + i for i in range(10)], page_size=100)
        result = read(client, BASE, BASE + 9, page_limit=4)
        assert seqs(result) == [BASE + i for i in range(10)]
        assert result.get_records_calls >= 3

    def test_stops_on_an_empty_page_at_the_tip(self) -> None:
        client = FakeShardClient("kinesis", [BASE + i for i in range(5)], page_size=5)
        result = read(client, BASE + 2, BASE + 100)
        assert seqs(result) == [BASE + 2, BASE + 3, BASE + 4]
        # One page with the records, then one empty page with MillisBehindLatest 0.
        assert result.get_records_calls == 2

    def test_a_closed_shard_ends_the_read(self) -> None:
        client = FakeShardClient("kinesis", [BASE + i for i in range(4)], page_size=10, open_shard=False)
        result = read(client, BASE, BASE + 100)
        assert seqs(result) == [BASE + i for i in range(4)]
        assert result.get_records_calls == 1

    def test_dynamodb_uses_its_own_parameter_names_and_record_shape(self) -> None:
        client = FakeShardClient("dynamodb", [300 + i for i in range(6)], page_size=2)
        result = read(client, 301, 303)
        assert seqs(result) == [301, 302, 303]
        assert client.iterator_calls[0] == {
            "StreamArn": TABLE_STREAM_ARN,
            "ShardId": SHARD,
            "ShardIteratorType": "AT_SEQUENCE_NUMBER",
            "SequenceNumber": "301",
        }
        assert result.records[0].source == Source.DYNAMODB
        assert result.records[0].new_image == {"pk": {"S": "k301"}}

    def test_dynamodb_open_shard_stops_after_the_empty_page_limit(self) -> None:
        # DynamoDB Streams has no MillisBehindLatest: consecutive empty pages end the read.
        client = FakeShardClient("dynamodb", [300, 301], page_size=5)
        result = read(client, 300, 999, max_empty_pages=3)
        assert seqs(result) == [300, 301]
        assert result.get_records_calls == 1 + 3

    def test_kinesis_empty_pages_behind_the_tip_do_not_end_the_read(self) -> None:
        client = FakeShardClient("kinesis", [BASE + i for i in range(4)], page_size=10, empty_pages_before=5)
        result = read(client, BASE, BASE + 3, max_empty_pages=3)
        assert seqs(result) == [BASE + i for i in range(4)]


class TestThrottling:
    def test_throttled_calls_are_retried_with_growing_backoff(self) -> None:
        client = FakeShardClient("kinesis", [BASE + i for i in range(3)], page_size=10)
        client.errors["get_records"] = [
            FakeClientError("ProvisionedThroughputExceededException"),
            FakeClientError("LimitExceededException"),
            FakeClientError("ThrottlingException"),
        ]
        client.errors["get_shard_iterator"] = [FakeClientError("LimitExceededException")]
        sleeps: list[float] = []
        result = read(client, BASE, BASE + 2, sleeps=sleeps)
        assert seqs(result) == [BASE, BASE + 1, BASE + 2]
        assert result.throttled == 4
        assert len(sleeps) == 4
        # Attempt n waits between half and all of min(5, 0.1 * 2**n) seconds.
        iterator_sleep, *records_sleeps = sleeps
        assert 0.05 <= iterator_sleep <= 0.1
        for attempt, seconds in enumerate(records_sleeps):
            assert 0.1 * 2**attempt / 2 <= seconds <= 0.1 * 2**attempt

    def test_backoff_is_capped(self) -> None:
        client = FakeShardClient("kinesis", [BASE], page_size=10)
        client.errors["get_records"] = [FakeClientError("ProvisionedThroughputExceededException") for _ in range(9)]
        sleeps: list[float] = []
        read(client, BASE, BASE, sleeps=sleeps, max_attempts=10)
        assert len(sleeps) == 9
        assert max(sleeps) <= 5.0

    def test_a_named_error_after_max_attempts(self) -> None:
        client = FakeShardClient("kinesis", [BASE], page_size=10)
        client.errors["get_records"] = [FakeClientError("ProvisionedThroughputExceededException") for _ in range(10)]
        sleeps: list[float] = []
        with pytest.raises(ShardReadThrottled, match="ProvisionedThroughputExceededException") as caught:
            read(client, BASE, BASE, sleeps=sleeps, max_attempts=4)
        assert aws_error_code(caught.value.__cause__) == "ProvisionedThroughputExceededException"
        assert len(client.records_calls) == 4
        assert len(sleeps) == 3

    def test_other_errors_are_not_retried(self) -> None:
        client = FakeShardClient("kinesis", [BASE], page_size=10)
        client.errors["get_records"] = [FakeClientError("AccessDeniedException")]
        sleeps: list[float] = []
        with pytest.raises(FakeClientError):
            read(client, BASE, BASE, sleeps=sleeps)
        assert sleeps == []
        assert len(client.records_calls) == 1


class TestTrimmedAndMissing:
    @pytest.mark.parametrize("code", ["TrimmedDataAccessException", "InvalidArgumentException"])
    def test_trimmed_start_falls_back_to_trim_horizon(self, code: str) -> None:
        shard = [BASE + i for i in range(5, 12)]  # BASE..BASE+4 were trimmed
        client = FakeShardClient("kinesis", shard, page_size=3, trimmed_below=BASE + 5, trim_code=code)
        result = read(client, BASE + 2, BASE + 7)
        assert result.start_trimmed is True
        assert seqs(result) == [BASE + 5, BASE + 6, BASE + 7]
        assert [c["ShardIteratorType"] for c in client.iterator_calls] == ["AT_SEQUENCE_NUMBER", "TRIM_HORIZON"]
        assert "StartingSequenceNumber" not in client.iterator_calls[1]

    def test_range_entirely_trimmed_reads_nothing_of_it(self) -> None:
        client = FakeShardClient("dynamodb", [500, 501, 502], page_size=3, trimmed_below=500)
        result = read(client, 100, 200)
        assert result.start_trimmed is True
        assert result.records == []

    @pytest.mark.parametrize("source", ["kinesis", "dynamodb"])
    def test_missing_stream(self, source: str) -> None:
        client = FakeShardClient(source, [1, 2])
        client.errors["get_shard_iterator"] = [FakeClientError("ResourceNotFoundException")]
        result = read(client, 1, 2)
        assert result.stream_missing is True
        assert result.records == []
        assert client.records_calls == []

    def test_other_iterator_errors_are_raised(self) -> None:
        client = FakeShardClient("kinesis", [1, 2])
        client.errors["get_shard_iterator"] = [FakeClientError("AccessDeniedException")]
        with pytest.raises(FakeClientError):
            read(client, 1, 2)

    @pytest.mark.parametrize("source", ["kinesis", "dynamodb"])
    def test_access_denied_on_a_stream_the_stack_does_not_watch_is_unreadable(self, source: str) -> None:
        """IAM grants the stack's own stream only: another stream's pointer reads nothing."""
        client = FakeShardClient(source, [1, 2])
        client.errors["get_shard_iterator"] = [FakeClientError("AccessDeniedException")]
        result = read(client, 1, 2, watched_stream_arn="arn:aws:kinesis:us-east-1:123456789012:stream/the-stacks")
        assert result.stream_missing is True and result.records == []

    def test_access_denied_on_the_watched_stream_is_raised(self) -> None:
        client = FakeShardClient("kinesis", [1, 2])
        client.errors["get_shard_iterator"] = [FakeClientError("AccessDeniedException")]
        with pytest.raises(FakeClientError):
            read(client, 1, 2, watched_stream_arn=KINESIS_ARN)

    def test_errors_without_a_response_are_raised(self) -> None:
        client = FakeShardClient("kinesis", [1, 2])
        client.errors["get_shard_iterator"] = [ConnectionError("endpoint unreachable")]
        with pytest.raises(ConnectionError):
            read(client, 1, 2)


def test_an_empty_page_does_not_change_the_record_limit() -> None:
    """The read's record limit and the empty-page allowance are two things: after an empty
    page (Kinesis answers some behind the tip) the read still takes up to ``limit`` records."""
    from redrive.adapters.streams import ShardRangeReader

    class Pages:
        def __init__(self) -> None:
            self.pages = [
                {"Records": [], "NextShardIterator": "i1", "MillisBehindLatest": 5},
                {"Records": [_item(seq) for seq in (10, 11, 12, 13, 14)], "NextShardIterator": "i2"},
            ]

        def get_shard_iterator(self, **_: object) -> dict[str, str]:
            return {"ShardIterator": "i0"}

        def get_records(self, **_: object) -> dict[str, object]:
            return self.pages.pop(0) if self.pages else {"Records": [], "NextShardIterator": None}

    read = ShardRangeReader(Pages(), "kinesis", max_empty_pages=3).read_range(
        "arn:aws:kinesis:r:1:stream/s", "sh", "10", "99", 4
    )
    assert [r.sequence_number for r in read.records] == ["10", "11", "12", "13"]


def _item(seq: int) -> dict[str, object]:
    return {"SequenceNumber": str(seq), "PartitionKey": "k", "Data": b"{}", "ApproximateArrivalTimestamp": 1.0}


class ScriptedClient(FakeShardClient):
    """A FakeShardClient whose GetRecords call number ``n`` (from 1) raises ``fail_at[n]``."""

    def __init__(self, *args: Any, fail_at: dict[int, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fail_at = fail_at

    def get_records(self, *, ShardIterator: str, Limit: int) -> dict[str, Any]:
        code = self.fail_at.get(len(self.records_calls) + 1)
        if code:
            self.records_calls.append(ShardIterator)
            raise FakeClientError(code)
        return super().get_records(ShardIterator=ShardIterator, Limit=Limit)


class TestReadingToTheEnd:
    def test_dynamodb_empty_pages_before_the_records_do_not_end_the_read(self) -> None:
        """AWS: reaching records may take several calls. Four empty pages (the strict stack's
        number) ended the read after three, and the records were falsely expired."""
        shard = [300 + i for i in range(4)]
        client = FakeShardClient("dynamodb", shard, page_size=10, empty_pages_before=4)
        assert seqs(read(client, 300, 303)) == shard
        old_behaviour = FakeShardClient("dynamodb", shard, page_size=10, empty_pages_before=4)
        assert seqs(read(old_behaviour, 300, 303, max_empty_pages=3)) == []

    def test_the_read_stops_at_the_end_record_without_another_call(self) -> None:
        client = FakeShardClient("dynamodb", [300 + i for i in range(6)], page_size=3)
        result = read(client, 300, 302)
        assert seqs(result) == [300, 301, 302]
        assert result.get_records_calls == 1

    def test_a_closed_dynamodb_shard_ends_with_no_next_iterator(self) -> None:
        client = FakeShardClient("dynamodb", [300, 301], page_size=1, open_shard=False)
        result = read(client, 300, 999)
        assert seqs(result) == [300, 301]
        assert result.get_records_calls == 2

    @pytest.mark.parametrize("source", ["kinesis", "dynamodb"])
    def test_an_expired_iterator_is_acquired_again_after_the_last_record(self, source: str) -> None:
        shard = [BASE + i for i in range(9)] if source == "kinesis" else [300 + i for i in range(9)]
        client = ScriptedClient(source, shard, page_size=3, fail_at={2: "ExpiredIteratorException"})
        result = read(client, shard[0], shard[-1])
        assert seqs(result) == shard  # each once
        assert result.iterators_renewed == 1
        renewed = client.iterator_calls[1]
        assert renewed["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER"
        assert renewed.get("StartingSequenceNumber", renewed.get("SequenceNumber")) == str(shard[2])

    def test_an_iterator_expired_before_any_record_starts_again_at_the_range(self) -> None:
        client = ScriptedClient("dynamodb", [300, 301], page_size=3, fail_at={1: "ExpiredIteratorException"})
        result = read(client, 300, 301)
        assert seqs(result) == [300, 301]
        assert [c["ShardIteratorType"] for c in client.iterator_calls] == ["AT_SEQUENCE_NUMBER"] * 2

    def test_a_position_trimmed_while_reading_goes_on_from_trim_horizon(self) -> None:
        """TrimmedDataAccessException from GetRecords: what was trimmed is missing (the caller
        counts it expired); the rest of the range is still read, and the run does not fail."""

        class TrimmedMeanwhile(FakeShardClient):
            def get_records(self, *, ShardIterator: str, Limit: int) -> dict[str, Any]:
                if len(self.records_calls) == 1:  # the second call: retention took 300..303 meanwhile
                    self.records_calls.append(ShardIterator)
                    self.sequence_numbers, self.trimmed_below = [304, 305], 304
                    raise FakeClientError("TrimmedDataAccessException")
                return super().get_records(ShardIterator=ShardIterator, Limit=Limit)

        client = TrimmedMeanwhile("dynamodb", [300 + i for i in range(6)], page_size=2)
        result = read(client, 300, 305)
        assert seqs(result) == [300, 301, 304, 305]
        assert result.start_trimmed is True
        assert [c["ShardIteratorType"] for c in client.iterator_calls] == [
            "AT_SEQUENCE_NUMBER",
            "AFTER_SEQUENCE_NUMBER",
            "TRIM_HORIZON",
        ]


class TestPaceAndBudget:
    def test_get_records_is_paced_per_shard(self) -> None:
        """At most ``calls_per_second`` GetRecords a second: the rest of the shard's 5 is the
        live consumer's. Time passes only in the reader's sleeps here."""
        now = [0.0]
        calls: list[float] = []

        class Timed(FakeShardClient):
            def get_records(self, *, ShardIterator: str, Limit: int) -> dict[str, Any]:
                calls.append(now[0])
                return super().get_records(ShardIterator=ShardIterator, Limit=Limit)

        def sleep(seconds: float) -> None:
            now[0] += seconds

        client = Timed("kinesis", [BASE + i for i in range(10)], page_size=1)
        reader = ShardRangeReader(client, "kinesis", calls_per_second=2, sleep=sleep, clock=lambda: now[0])
        result = reader.read_range(KINESIS_ARN, SHARD, str(BASE), str(BASE + 9))
        assert len(result.records) == 10
        assert len(calls) == 10
        assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(calls[::2])), calls
        assert now[0] >= 4.0

    def test_throttles_past_the_budget_end_in_a_named_error(self) -> None:
        client = FakeShardClient("kinesis", [BASE], page_size=10)
        client.errors["get_records"] = [FakeClientError("ProvisionedThroughputExceededException") for _ in range(30)]
        sleeps: list[float] = []
        with pytest.raises(ShardReadThrottled, match="throttle budget of 2 s"):
            read(client, BASE, BASE, sleeps=sleeps, throttle_budget_seconds=2)
        assert sum(sleeps) <= 2.0
        assert len(sleeps) >= 3, "several retries fit in the budget"

    def test_the_default_budget_outlasts_a_few_seconds_of_throttling(self) -> None:
        client = FakeShardClient("kinesis", [BASE], page_size=10)
        client.errors["get_records"] = [FakeClientError("ProvisionedThroughputExceededException") for _ in range(8)]
        sleeps: list[float] = []
        assert seqs(read(client, BASE, BASE, sleeps=sleeps)) == [BASE]
        assert sum(sleeps) > 5.0


class TestOneWalk:
    def test_ranges_that_follow_each_other_are_read_in_one_walk(self) -> None:
        shard = [BASE + i for i in range(10)]
        client = FakeShardClient("kinesis", shard, page_size=3)
        reader = ShardRangeReader(client, "kinesis", sleep=lambda s: None, clock=FakeClock())
        ranges = [(str(BASE), str(BASE + 3), None), (str(BASE + 4), str(BASE + 7), None)]
        result = reader.read_ranges(KINESIS_ARN, SHARD, ranges)
        assert seqs(result) == shard[:8]
        assert len(client.iterator_calls) == 1
        assert [(t.records, t.last) for t in result.ranges] == [(4, BASE + 3), (4, BASE + 7)]

    def test_a_gap_of_records_no_range_names_is_jumped(self) -> None:
        shard = [BASE + i for i in range(40)]
        client = FakeShardClient("kinesis", shard, page_size=3)
        reader = ShardRangeReader(client, "kinesis", sleep=lambda s: None, clock=FakeClock())
        ranges = [(str(BASE), str(BASE + 1), None), (str(BASE + 30), str(BASE + 31), None)]
        result = reader.read_ranges(KINESIS_ARN, SHARD, ranges)
        assert seqs(result) == [BASE, BASE + 1, BASE + 30, BASE + 31]
        assert [c.get("StartingSequenceNumber") for c in client.iterator_calls] == [str(BASE), str(BASE + 30)]
        assert result.get_records_calls == 2

    def test_a_range_cut_at_its_limit_lets_the_walk_go_on_to_the_next(self) -> None:
        shard = [BASE + i for i in range(10)]
        client = FakeShardClient("kinesis", shard, page_size=10)
        reader = ShardRangeReader(client, "kinesis", sleep=lambda s: None, clock=FakeClock())
        ranges = [(str(BASE), str(BASE + 5), 2), (str(BASE + 6), str(BASE + 9), None)]
        result = reader.read_ranges(KINESIS_ARN, SHARD, ranges)
        assert seqs(result) == [BASE, BASE + 1, BASE + 6, BASE + 7, BASE + 8, BASE + 9]

    def test_records_go_to_the_sink_page_by_page(self) -> None:
        client = FakeShardClient("kinesis", [BASE + i for i in range(7)], page_size=3)
        pages: list[list[int]] = []
        reader = ShardRangeReader(client, "kinesis", sleep=lambda s: None, clock=FakeClock())
        result = reader.read_range(
            KINESIS_ARN, SHARD, str(BASE), str(BASE + 6), sink=lambda got: pages.append([r.position for r in got])
        )
        assert result.records == []
        assert pages == [[BASE, BASE + 1, BASE + 2], [BASE + 3, BASE + 4, BASE + 5], [BASE + 6]]
