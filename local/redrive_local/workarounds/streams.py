"""Streams: simulated retention for DynamoDB Streams, Kinesis iterators by stream ARN."""

from __future__ import annotations

from typing import Any

from .registry import workaround


@workaround
def _dynamodb_stream_shards_can_lose_records() -> None:
    """moto's DynamoDB Streams never trims, and its ``StreamShard.get`` finds a record by
    its position in a list (sequence number minus the first one), so a record cannot be
    removed without shifting every later one. A rehearsal simulates retention instead by
    naming sequence numbers in ``shard.trimmed``; reads skip them, as they skip records
    past the 24-hour retention on AWS.
    """
    from moto.dynamodb.models.table import StreamShard

    def get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
        trimmed: set[int] = getattr(self, "trimmed", set())
        position = max(0, start - self.starting_sequence_number)
        found: list[dict[str, Any]] = []
        for item in self.items[position:]:
            if len(found) >= quantity:
                break
            if int(item.record["dynamodb"]["SequenceNumber"]) in trimmed:
                continue
            found.append(item.to_json())
        return found

    StreamShard.get = get  # type: ignore[method-assign]


@workaround
def _kinesis_iterators_from_stream_arn() -> None:
    """moto's GetShardIterator called with ``StreamARN`` (and no ``StreamName``) encodes
    the stream name ``None`` into the iterator, so the next GetRecords answers
    ResourceNotFoundException ("Stream None ... not found"). AWS accepts either; the
    stream's name is filled in from the ARN before moto builds the iterator.
    """
    from moto.kinesis.models import KinesisBackend

    original = KinesisBackend.get_shard_iterator

    def get_shard_iterator(self: Any, stream_arn: Any, stream_name: Any, *args: Any, **kwargs: Any) -> Any:
        if stream_name is None and stream_arn:
            stream_name = self.describe_stream(stream_arn=stream_arn, stream_name=None).stream_name
        return original(self, stream_arn, stream_name, *args, **kwargs)

    KinesisBackend.get_shard_iterator = get_shard_iterator  # type: ignore[method-assign]
