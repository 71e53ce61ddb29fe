"""ShardRangeReader against a fake Kinesis / DynamoDB Streams client: paging, stopping,
throttling, a trimmed start and a missing stream."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from redrive.adapters.streams import ShardRangeReader

KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
TABLE_STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000"
SHARD = "shardId-000000000000"
BASE = 49656632116218945776331460766277046186802519735914561554  # 56 digits


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
        assert kwargs["ShardIteratorType"] == "AT_SEQUENCE_NUMBER"
        assert start is not None
        if self.trimmed_below is not None and int(start) < self.trimmed_below:
            raise FakeClientError(self.trim_code)
        position = next((i for i, s in enumerate(self.sequence_numbers) if s >= int(start)), len(self.sequence_numbers))
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


def read(client: FakeShardClient, start: int, end: int, sleeps: list[float] | None = None, **options: Any) -> Any:
    reader = ShardRangeReader(client, client.source, sleep=(sleeps if sleeps is not None else []).append, **options)
    return reader.read_range(
        KINESIS_ARN if client.source == "kinesis" else TABLE_STREAM_ARN, SHARD, str(start), str(end)
    )


def seqs(result: Any) -> list[int]:
    return [int(r["sequenceNumber"]) for r in result.records]


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
        assert result.records[0]["source"] == "kinesis"
        assert result.records[0]["recordId"] == f"{SHARD}:{BASE + 4}"

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
        assert result.records[0]["source"] == "dynamodb"
        assert result.records[0]["newImage"] == {"pk": {"S": "k301"}}

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

    def test_raised_after_max_attempts(self) -> None:
        client = FakeShardClient("kinesis", [BASE], page_size=10)
        client.errors["get_records"] = [FakeClientError("ProvisionedThroughputExceededException") for _ in range(10)]
        sleeps: list[float] = []
        with pytest.raises(FakeClientError) as caught:
            read(client, BASE, BASE, sleeps=sleeps, max_attempts=4)
        assert caught.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
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

    def test_errors_without_a_response_are_raised(self) -> None:
        client = FakeShardClient("kinesis", [1, 2])
        client.errors["get_shard_iterator"] = [ConnectionError("endpoint unreachable")]
        with pytest.raises(ConnectionError):
            read(client, 1, 2)
