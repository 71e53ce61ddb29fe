"""Read a sequence range of one shard back from Kinesis or DynamoDB Streams.

GetShardIterator AT_SEQUENCE_NUMBER at the range start, then GetRecords page by page
until a record is past the range end, the shard ends, or the reader reaches the tip.
Throttling is retried with exponential backoff. When the start is no longer in the
stream (trimmed), the read starts at TRIM_HORIZON and keeps what is left of the range;
the caller counts what is missing as expired.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.records import from_dynamodb_get_records, from_kinesis_get_records

THROTTLING = {"ProvisionedThroughputExceededException", "LimitExceededException", "ThrottlingException"}
TRIMMED = {"TrimmedDataAccessException", "InvalidArgumentException"}
GONE = {"ResourceNotFoundException", "ExpiredIteratorException"}


@dataclass
class RangeRead:
    records: list[dict[str, Any]] = field(default_factory=list)
    get_records_calls: int = 0
    throttled: int = 0
    start_trimmed: bool = False
    stream_missing: bool = False


def _code(error: Exception) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


class ShardRangeReader:
    """Reads ``[start, end]`` of one shard; ``source`` picks the API (kinesis | dynamodb)."""

    def __init__(
        self,
        client: Any,
        source: str,
        page_limit: int = 1000,
        max_empty_pages: int = 3,
        max_empty_pages_behind: int = 100,
        max_attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.source = source
        self.page_limit = page_limit
        self.max_empty_pages = max_empty_pages
        self.max_empty_pages_behind = max_empty_pages_behind
        self.max_attempts = max_attempts
        self.sleep = sleep

    def _call(self, read: RangeRead, fn: Callable[..., Any], **kwargs: Any) -> Any:
        for attempt in range(self.max_attempts):
            try:
                return fn(**kwargs)
            except Exception as error:
                if _code(error) not in THROTTLING or attempt == self.max_attempts - 1:
                    raise
                read.throttled += 1
                self.sleep(min(5.0, 0.1 * 2**attempt) * (0.5 + random.random() / 2))
        raise AssertionError("unreachable")

    def _iterator(self, read: RangeRead, stream_arn: str, shard_id: str, start: str | None) -> Any:
        if self.source == "kinesis":
            kwargs: dict[str, Any] = {"StreamARN": stream_arn, "ShardId": shard_id}
            if start is None:
                kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            else:
                kwargs.update(ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=start)
        else:
            kwargs = {"StreamArn": stream_arn, "ShardId": shard_id}
            if start is None:
                kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            else:
                kwargs.update(ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=start)
        return self._call(read, self.client.get_shard_iterator, **kwargs)["ShardIterator"]

    def _normalise(self, item: dict[str, Any], stream_arn: str, shard_id: str) -> dict[str, Any]:
        if self.source == "kinesis":
            return from_kinesis_get_records(item, stream_arn, shard_id)
        return from_dynamodb_get_records(item, stream_arn, shard_id)

    def read_range(self, stream_arn: str, shard_id: str, start: str, end: str) -> RangeRead:
        read = RangeRead()
        try:
            iterator = self._iterator(read, stream_arn, shard_id, start)
        except Exception as error:
            if _code(error) in GONE:
                read.stream_missing = True
                return read
            if _code(error) not in TRIMMED:
                raise
            read.start_trimmed = True
            iterator = self._iterator(read, stream_arn, shard_id, None)
        low, high = int(start), int(end)
        empty_pages = 0
        while iterator:
            page = self._call(read, self.client.get_records, ShardIterator=iterator, Limit=self.page_limit)
            read.get_records_calls += 1
            items = page.get("Records", [])
            for item in items:
                record = self._normalise(item, stream_arn, shard_id)
                seq = int(record["sequenceNumber"])
                if seq > high:
                    return read
                if seq >= low:
                    read.records.append(record)
            if items:
                empty_pages = 0
            else:
                empty_pages += 1
                behind = page.get("MillisBehindLatest")
                if behind == 0:
                    return read  # Kinesis: at the tip, nothing more to come
                # Kinesis may answer several empty pages before a shard's next records
                # (MillisBehindLatest > 0); DynamoDB Streams says nothing of the tip.
                limit = self.max_empty_pages_behind if behind else self.max_empty_pages
                if empty_pages >= limit:
                    return read
            iterator = page.get("NextShardIterator")
        return read
