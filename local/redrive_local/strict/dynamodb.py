"""DynamoDB and DynamoDB Streams as strict as AWS where moto accepts more.

moto writes a MODIFY stream record for a write that changes nothing, never trims a stream
(TrimmedDataAccessException), never expires an iterator, answers GetRecords with any number
of records of any size, and gives records from the first call of a positioned iterator.
AWS writes no record for an unchanged item, refuses positions older than the trim point,
expires iterators after 15 minutes, returns at most 1,000 records or 1 MB a call, and may
answer several empty pages before an iterator reaches the shard's records. moto already
refuses items over 400 KB (ValidationException).

Retention is simulated by ``redrive_local.inspect.trim_stream_records`` (the shard's
``trimmed`` sequence numbers, see ``workarounds.streams``); here the oldest record still held
is the trim point.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models.table import StreamShard
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

from .clock import CLOCK
from .registry import aws_rule
from .switch import enabled

ITERATOR_LIFETIME_SECONDS = 15 * 60
GET_RECORDS_MAX_RECORDS = 1000
GET_RECORDS_MAX_BYTES = 1024 * 1024
EMPTY_PAGES_BEFORE_RECORDS = 4
"""Empty pages a freshly positioned iterator answers before the shard's records (AWS: "it
might take multiple calls to get to a portion of the shard that contains stream records").
More than the 3 empty pages after which the reader used to give up."""

_lock = threading.Lock()


def oldest_retained(shard: StreamShard) -> int:
    """The trim point: the sequence number of the oldest record the shard still holds (the
    next one to be written when it holds none)."""
    trimmed: set[int] = getattr(shard, "trimmed", set())
    for item in shard.items:
        seq = int(item.record["dynamodb"]["SequenceNumber"])
        if seq not in trimmed:
            return seq
    return shard.starting_sequence_number + len(shard.items)


def _trimmed_error() -> JsonRESTError:
    return JsonRESTError(
        "TrimmedDataAccessException",
        "The operation attempted to read past the oldest stream record in a shard (trimmed after 24 hours)",
    )


@aws_rule("DynamoDB Streams: a PutItem or UpdateItem that does not change any data in an item writes no stream record")
def _dynamodb_unchanged_write_no_stream_record() -> None:
    """moto's stream shard adds a MODIFY record for every write, equal images included."""
    original = StreamShard.add

    def add(self: StreamShard, old: Any, new: Any) -> None:
        if enabled() and old is not None and new is not None and old.to_json() == new.to_json():
            return
        original(self, old, new)

    StreamShard.add = add  # type: ignore[method-assign]


@aws_rule(
    "DynamoDB Streams GetRecords: Limit at most 1,000 (ValidationException), and a call returns at most 1 MB of records"
)
def _dynamodb_stream_get_records_limits() -> None:
    """moto accepts any Limit and returns that many records whatever their size."""
    original = DynamoDBStreamsBackend.get_records

    def get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> Any:
        if not enabled():
            return original(self, iterator_arn, limit)
        if int(limit) > GET_RECORDS_MAX_RECORDS:
            raise JsonRESTError(
                "ValidationException",
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: "
                f"Member must have value less than or equal to {GET_RECORDS_MAX_RECORDS}",
            )
        iterator = self.shard_iterators[iterator_arn]
        page = original(self, iterator_arn, limit)
        kept: list[dict[str, Any]] = []
        size = 0
        for record in page["Records"]:
            size += len(json.dumps(record["dynamodb"], default=str))
            if kept and size > GET_RECORDS_MAX_BYTES:
                break
            kept.append(record)
        if len(kept) < len(page["Records"]):
            last = int(kept[-1]["dynamodb"]["SequenceNumber"])
            following = ShardIterator(self, iterator.stream_shard, "AFTER_SEQUENCE_NUMBER", last)
            self.shard_iterators[following.arn] = following
            page = {"NextShardIterator": following.arn, "Records": kept}
        return page

    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]


@aws_rule(
    "DynamoDB Streams GetRecords: if no stream records are in the portion of the shard the iterator points to, "
    "it returns an empty list; it might take multiple calls to reach the records"
)
def _dynamodb_stream_empty_pages_before_records() -> None:
    """moto returns a positioned iterator's records on its first call. Here an iterator got
    AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER answers a few empty pages first, each with
    a NextShardIterator at the same place, as AWS may."""
    original_iterator = DynamoDBStreamsBackend.get_shard_iterator
    original_get_records = DynamoDBStreamsBackend.get_records

    def get_shard_iterator(
        self: DynamoDBStreamsBackend,
        arn: str,
        shard_id: str,
        shard_iterator_type: str,
        sequence_number: Any = None,
    ) -> ShardIterator:
        iterator = original_iterator(self, arn, shard_id, shard_iterator_type, sequence_number)
        if enabled() and shard_iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            iterator.empty_pages_left = EMPTY_PAGES_BEFORE_RECORDS  # type: ignore[attr-defined]
        return iterator

    def get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> Any:
        iterator = self.shard_iterators.get(iterator_arn)
        left = getattr(iterator, "empty_pages_left", 0)
        if iterator is None or not left or not enabled():
            return original_get_records(self, iterator_arn, limit)
        with _lock:
            following = ShardIterator(self, iterator.stream_shard, "AT_SEQUENCE_NUMBER", iterator.sequence_number)
            following.empty_pages_left = left - 1  # type: ignore[attr-defined]
            self.shard_iterators[following.arn] = following
        return {"NextShardIterator": following.arn, "Records": []}

    DynamoDBStreamsBackend.get_shard_iterator = get_shard_iterator  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]


# Rules wrap in the order they are defined: the trim and expiry checks come last, so they
# are asked first (an expired or trimmed iterator fails before it answers an empty page).


@aws_rule(
    "DynamoDB Streams: a shard iterator expires 15 minutes after it is returned; GetRecords with an older one "
    "fails (ExpiredIteratorException)"
)
def _dynamodb_stream_iterators_expire() -> None:
    """moto keeps every iterator it ever returned, usable forever."""
    original_init = ShardIterator.__init__
    original_get_records = DynamoDBStreamsBackend.get_records

    def init(self: ShardIterator, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.issued_at = CLOCK.now()  # type: ignore[attr-defined]

    def get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> Any:
        iterator = self.shard_iterators.get(iterator_arn)
        issued = getattr(iterator, "issued_at", None)
        if enabled() and issued is not None and CLOCK.now() - issued > ITERATOR_LIFETIME_SECONDS:
            raise JsonRESTError(
                "ExpiredIteratorException",
                f"Iterator expired: it was returned more than {ITERATOR_LIFETIME_SECONDS} s ago",
            )
        return original_get_records(self, iterator_arn, limit)

    ShardIterator.__init__ = init  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]


@aws_rule(
    "DynamoDB Streams: GetShardIterator with a sequence number older than the trim point, or GetRecords with an "
    "iterator whose position has since been trimmed, fails (TrimmedDataAccessException); TRIM_HORIZON starts at "
    "the oldest record still held"
)
def _dynamodb_stream_trimmed_positions() -> None:
    """moto has no retention: a trimmed position (simulated) is read as if nothing happened."""
    original_iterator = DynamoDBStreamsBackend.get_shard_iterator
    original_get_records = DynamoDBStreamsBackend.get_records

    def get_shard_iterator(
        self: DynamoDBStreamsBackend,
        arn: str,
        shard_id: str,
        shard_iterator_type: str,
        sequence_number: Any = None,
    ) -> ShardIterator:
        iterator = original_iterator(self, arn, shard_id, shard_iterator_type, sequence_number)
        if not enabled():
            return iterator
        horizon = oldest_retained(iterator.stream_shard)
        if shard_iterator_type == "TRIM_HORIZON":
            iterator.sequence_number = max(iterator.sequence_number, horizon)
        elif shard_iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER") and (
            int(iterator.sequence_number) < horizon
        ):
            self.shard_iterators.pop(iterator.arn, None)
            raise _trimmed_error()
        return iterator

    def get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> Any:
        iterator = self.shard_iterators.get(iterator_arn)
        if (
            enabled()
            and iterator is not None
            and int(iterator.sequence_number) < oldest_retained(iterator.stream_shard)
        ):
            raise _trimmed_error()
        return original_get_records(self, iterator_arn, limit)

    DynamoDBStreamsBackend.get_shard_iterator = get_shard_iterator  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]
