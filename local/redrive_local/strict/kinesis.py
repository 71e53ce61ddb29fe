"""Kinesis Data Streams as strict as AWS where moto accepts more.

moto numbers a shard's records 1, 2, 3..., accepts a PutRecord of any size, never throttles
GetRecords and never expires an iterator. AWS's numbers are 56-digit, increasing but not
consecutive; a record is at most 1 MiB (data and partition key); a shard serves GetRecords at
most 5 times a second and 2 MiB a second (ProvisionedThroughputExceededException); an
iterator expires 5 minutes after it was returned (ExpiredIteratorException). moto already
refuses a PutRecords call over 500 records, 5 MiB or with a record over 1 MiB.
"""

from __future__ import annotations

import base64
import threading
from collections import deque
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.kinesis.models import KinesisBackend, Shard
from moto.kinesis.responses import KinesisResponse
from moto.kinesis.utils import decompose_shard_iterator

from .clock import CLOCK, LIVE_CONSUMER_AGENT
from .registry import aws_rule
from .switch import enabled

RECORD_MAX_BYTES = 1024 * 1024
GET_RECORDS_CALLS_PER_SECOND = 5
GET_RECORDS_BYTES_PER_SECOND = 2 * 1024 * 1024
ITERATOR_LIFETIME_SECONDS = 300

SEQUENCE_BASE = 49_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000
"""The first sequence number of shard 0, 56 digits as AWS's are; each shard starts higher."""
SEQUENCE_STEP = 2**64 + 7
"""Between consecutive records of a shard: AWS's numbers increase but are not consecutive."""

_lock = threading.Lock()


def _from_live_consumer(response: Any) -> bool:
    return LIVE_CONSUMER_AGENT in str(response.headers.get("User-Agent", ""))


@aws_rule(
    "Kinesis sequence numbers are the 56-digit (up to 128) numbers AWS assigns, increasing within a shard "
    "and not consecutive"
)
def _kinesis_sequence_numbers_have_aws_length() -> None:
    """moto numbers a shard's records from 1 by 1; code that treats them as small or
    consecutive would pass locally and break on AWS."""
    original = Shard.put_record

    def put_record(self: Shard, partition_key: str, data: str, explicit_hash_key: str) -> str:
        if not enabled():
            return original(self, partition_key, data, explicit_hash_key)
        from moto.kinesis.models import Record

        with _lock:
            base = SEQUENCE_BASE + (self._shard_id + 1) * 10**50
            last = self.get_max_sequence_number() if self.records else 0
            sequence_number = max(base, last + SEQUENCE_STEP)
            self.records[sequence_number] = Record(partition_key, data, sequence_number, explicit_hash_key)
        return str(sequence_number)

    Shard.put_record = put_record  # type: ignore[method-assign]


@aws_rule(
    "Kinesis PutRecord: the data blob (before base64 encoding) plus the partition key may be at most 1 MiB "
    "(ValidationException)"
)
def _kinesis_record_size() -> None:
    """moto's PutRecord stores a record of any size (its PutRecords checks the limit)."""
    original = KinesisBackend.put_record

    def put_record(
        self: KinesisBackend,
        stream_arn: str,
        stream_name: str,
        partition_key: str,
        explicit_hash_key: str,
        data: str,
    ) -> Any:
        if enabled():
            size = len(base64.b64decode(data or "")) + len((partition_key or "").encode())
            if size > RECORD_MAX_BYTES:
                raise JsonRESTError(
                    "ValidationException",
                    f"1 validation error detected: the record's data and partition key are {size} bytes, "
                    f"over the {RECORD_MAX_BYTES} bytes (1 MiB) a Kinesis record may hold",
                )
        return original(self, stream_arn, stream_name, partition_key, explicit_hash_key, data)

    KinesisBackend.put_record = put_record  # type: ignore[method-assign]


class _ShardMeter:
    """One shard's GetRecords calls in the last second and its read allowance in bytes."""

    def __init__(self, now: float) -> None:
        self.calls: deque[float] = deque()
        self.byte_tokens = float(GET_RECORDS_BYTES_PER_SECOND)
        self.refilled_at = now

    def admit(self, now: float) -> str | None:
        """Why a call now is refused, or None (and the call is counted)."""
        while self.calls and self.calls[0] <= now - 1.0:
            self.calls.popleft()
        elapsed = max(0.0, now - self.refilled_at)
        self.byte_tokens = min(
            float(GET_RECORDS_BYTES_PER_SECOND), self.byte_tokens + elapsed * GET_RECORDS_BYTES_PER_SECOND
        )
        self.refilled_at = now
        if len(self.calls) >= GET_RECORDS_CALLS_PER_SECOND:
            return f"Rate exceeded for shard: more than {GET_RECORDS_CALLS_PER_SECOND} GetRecords calls per second"
        if self.byte_tokens <= 0:
            return "Rate exceeded for shard: more than 2 MiB per second read by GetRecords"
        self.calls.append(now)
        return None

    def charge(self, size: int) -> None:
        self.byte_tokens -= size


_meters: dict[tuple[str, str], _ShardMeter] = {}
_issued: dict[str, float] = {}


def _remember(iterator: str) -> None:
    """When ``iterator`` was (last) returned: moto's iterators are positions, so one returned
    again for the same position is as new."""
    if not enabled():
        return
    now = CLOCK.now()
    with _lock:
        _issued[iterator] = now
        if len(_issued) > 100_000:  # the oldest half has long expired
            for key in list(_issued)[:50_000]:
                del _issued[key]


def _expired(iterator: str) -> bool:
    with _lock:
        issued = _issued.get(iterator)
    return issued is not None and CLOCK.now() - issued > ITERATOR_LIFETIME_SECONDS


@aws_rule(
    "Kinesis GetRecords: each shard supports up to 5 calls per second and 2 MiB per second of reads "
    "(ProvisionedThroughputExceededException)"
)
def _kinesis_get_records_throughput() -> None:
    """moto answers every GetRecords at once, however many per second and however large."""
    original = KinesisResponse.get_records

    def get_records(self: KinesisResponse) -> Any:
        if not enabled() or _from_live_consumer(self):
            return original(self)
        parts = decompose_shard_iterator(self._get_param("ShardIterator"))
        key = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
        now = CLOCK.now()
        with _lock:
            meter = _meters.setdefault(key, _ShardMeter(now))
            refused = meter.admit(now)
        if refused:
            raise JsonRESTError("ProvisionedThroughputExceededException", refused)
        result = original(self)
        size = sum(len(r.get("Data") or b"") + len((r.get("PartitionKey") or "").encode()) for r in _records_of(result))
        with _lock:
            meter.charge(size)
        return result

    KinesisResponse.get_records = get_records  # type: ignore[method-assign]


def _records_of(result: Any) -> list[dict[str, Any]]:
    body = getattr(result, "result", None)
    if isinstance(body, dict):
        return [r if isinstance(r, dict) else {} for r in body.get("Records", [])]
    return []


@aws_rule(
    "Kinesis: a shard iterator expires 5 minutes after it is returned; GetRecords with an older one fails "
    "(ExpiredIteratorException)"
)
def _kinesis_iterators_expire() -> None:
    """moto's iterators are positions in base64 and never expire."""
    original_get_iterator = KinesisResponse.get_shard_iterator
    original_get_records = KinesisResponse.get_records

    def get_shard_iterator(self: KinesisResponse) -> Any:
        result = original_get_iterator(self)
        body = getattr(result, "result", None)
        if isinstance(body, dict) and body.get("ShardIterator"):
            _remember(body["ShardIterator"])
        return result

    def get_records(self: KinesisResponse) -> Any:
        iterator = self._get_param("ShardIterator")
        if enabled() and _expired(iterator):
            raise JsonRESTError(
                "ExpiredIteratorException",
                f"Iterator expired: it was returned more than {ITERATOR_LIFETIME_SECONDS} s ago",
            )
        result = original_get_records(self)
        body = getattr(result, "result", None)
        if isinstance(body, dict) and body.get("NextShardIterator"):
            _remember(body["NextShardIterator"])
        return result

    KinesisResponse.get_shard_iterator = get_shard_iterator  # type: ignore[method-assign]
    KinesisResponse.get_records = get_records  # type: ignore[method-assign]


GET_RECORDS_MAX_RECORDS = 10_000
GET_RECORDS_MAX_BYTES = 10 * 1024 * 1024


@aws_rule(
    "Kinesis GetRecords: Limit is at most 10,000 (InvalidArgumentException); a call returns at most 10,000 "
    "records and 10 MiB, the rest on the next call"
)
def _kinesis_get_records_page_limits() -> None:
    """moto takes any Limit, and without one returns every record after the iterator."""
    from moto.kinesis.exceptions import InvalidArgumentError
    from moto.kinesis.utils import compose_shard_iterator

    original = KinesisBackend.get_records

    def get_records(self: KinesisBackend, stream_arn: str | None, shard_iterator: str, limit: int | None) -> Any:
        if not enabled():
            return original(self, stream_arn, shard_iterator, limit)
        if limit is not None and int(limit) > GET_RECORDS_MAX_RECORDS:
            raise InvalidArgumentError(
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: "
                f"Member must have value less than or equal to {GET_RECORDS_MAX_RECORDS}"
            )
        next_iterator, records, behind = original(self, stream_arn, shard_iterator, limit or GET_RECORDS_MAX_RECORDS)
        kept: list[Any] = []
        size = 0
        for record in records:
            size += len(base64.b64decode(record.data)) + len(record.partition_key.encode())
            if kept and size > GET_RECORDS_MAX_BYTES:
                break
            kept.append(record)
        if len(kept) < len(records):
            stream_name, shard_id, _ = decompose_shard_iterator(shard_iterator)
            stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
            next_iterator = compose_shard_iterator(stream_name, stream.get_shard(shard_id), kept[-1].sequence_number)
        return next_iterator, kept, behind

    KinesisBackend.get_records = get_records  # type: ignore[method-assign]
