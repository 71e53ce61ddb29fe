"""The stream workarounds (``workarounds/streams.py``), pinned."""

from __future__ import annotations

import uuid

import pytest

from redrive_local.engine import ACCOUNT, REGION, LocalEngine
from redrive_local.inspect import trim_stream_records
from redrive_local.strict import lenient

from .moto_probes import (
    dynamodb_stream,
    moto_source,
    saved,
    stream_records,
)


@pytest.mark.pins("_dynamodb_stream_shards_can_lose_records")
def test_dynamodb_stream_shards_can_lose_records(engine: LocalEngine) -> None:
    """``_dynamodb_stream_shards_can_lose_records``: moto's DynamoDB Streams never trims and
    ``StreamShard.get`` finds records by list position (``self.items[start:end]``), so a
    record cannot be removed; a trimmed sequence number is skipped by reads instead, the
    later records keeping theirs."""
    assert "self.items[start:end]" in moto_source("moto.dynamodb.models.table", "StreamShard.get")
    table, stream_arn = dynamodb_stream(engine)
    for key in ("a", "b", "c", "d"):
        engine.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": key}})
    records = stream_records(engine, stream_arn)
    sequence = {r["dynamodb"]["Keys"]["pk"]["S"]: r["dynamodb"]["SequenceNumber"] for r in records}
    shard = engine.client("dynamodbstreams").describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]

    trim_stream_records(stream_arn, [(shard["ShardId"], sequence["b"])])

    after = stream_records(engine, stream_arn)
    assert [(r["dynamodb"]["Keys"]["pk"]["S"], r["dynamodb"]["SequenceNumber"]) for r in after] == [
        (k, sequence[k]) for k in ("a", "c", "d")
    ]
    with lenient():  # strict, a trimmed position is refused (strict.dynamodb) and the first pages are empty
        at_trimmed = stream_records(
            engine, stream_arn, ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=sequence["b"]
        )
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in at_trimmed] == ["c", "d"]
    # Paging one record at a time walks over the gap.
    streams = engine.client("dynamodbstreams")
    it = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    iterator, keys = it["ShardIterator"], []
    for _ in range(5):
        page = streams.get_records(ShardIterator=iterator, Limit=1)
        keys += [r["dynamodb"]["Keys"]["pk"]["S"] for r in page["Records"]]
        iterator = page["NextShardIterator"]
    assert keys == ["a", "c", "d"]


@pytest.mark.pins("_kinesis_iterators_from_stream_arn")
def test_kinesis_iterators_from_stream_arn(engine: LocalEngine) -> None:
    """``_kinesis_iterators_from_stream_arn``: moto's GetShardIterator with ``StreamARN`` and
    no ``StreamName`` encodes the stream name None in the iterator, and the next GetRecords
    answers ResourceNotFoundException; with the name filled in from the ARN it reads."""
    from moto.kinesis.models import KinesisBackend, kinesis_backends

    kinesis = engine.client("kinesis")
    name = f"wa-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    for n in range(2):
        kinesis.put_record(StreamName=name, Data=f"r{n}".encode(), PartitionKey="k")

    shipped = saved(KinesisBackend.get_shard_iterator)
    broken = shipped(kinesis_backends[ACCOUNT][REGION], arn, None, "shardId-000000000000", "TRIM_HORIZON", None, None)
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException, match="None"):
        kinesis.get_records(ShardIterator=broken)

    iterator = kinesis.get_shard_iterator(
        StreamARN=arn, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]] == [b"r0", b"r1"]
