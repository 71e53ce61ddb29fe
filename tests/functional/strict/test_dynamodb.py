"""DynamoDB and DynamoDB Streams rules of the strict stack, each shown lenient (moto accepts)
and strict (AWS refuses)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from redrive_local.engine import LocalEngine
from redrive_local.inspect import trim_stream_records
from redrive_local.strict import lenient
from redrive_local.strict.clock import CLOCK
from redrive_local.strict.dynamodb import EMPTY_PAGES_BEFORE_RECORDS


class Table:
    def __init__(self, engine: LocalEngine) -> None:
        self.dynamodb = engine.client("dynamodb")
        self.streams = engine.client("dynamodbstreams")
        self.name = f"strict-{uuid.uuid4().hex[:8]}"
        created = self.dynamodb.create_table(
            TableName=self.name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        self.stream_arn = created["TableDescription"]["LatestStreamArn"]
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        self.shard_id = description["Shards"][0]["ShardId"]

    def put(self, key: str, value: str = "1") -> None:
        self.dynamodb.put_item(TableName=self.name, Item={"pk": {"S": key}, "v": {"S": value}})

    def iterator(self, kind: str = "TRIM_HORIZON", seq: str | None = None) -> str:
        args: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": self.shard_id, "ShardIteratorType": kind}
        if seq is not None:
            args["SequenceNumber"] = seq
        return str(self.streams.get_shard_iterator(**args)["ShardIterator"])

    def records(self, iterator: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        page = self.streams.get_records(ShardIterator=iterator or self.iterator(), Limit=limit)
        return list(page["Records"])


@pytest.mark.aws_rule("_dynamodb_unchanged_write_no_stream_record")
def test_a_write_that_changes_nothing_writes_no_stream_record(engine: LocalEngine) -> None:
    table = Table(engine)
    table.put("a")
    with lenient():
        table.put("a")
    table.put("a")
    table.dynamodb.update_item(
        TableName=table.name,
        Key={"pk": {"S": "a"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "1"}},
    )
    table.put("a", "2")
    assert [r["eventName"] for r in table.records()] == ["INSERT", "MODIFY", "MODIFY"]  # moto's, then a change


def test_moto_itself_refuses_an_item_over_400_kb(engine: LocalEngine) -> None:
    """No strict rule is needed: moto refuses items over 400 KB as AWS does."""
    table = Table(engine)
    with lenient(), pytest.raises(ClientError) as refused:
        table.put("big", "x" * 410_000)
    assert refused.value.response["Error"]["Code"] == "ValidationException"


@pytest.mark.aws_rule("_dynamodb_stream_iterators_expire")
def test_an_iterator_older_than_15_minutes_has_expired(engine: LocalEngine) -> None:
    table = Table(engine)
    table.put("a")
    iterator = table.iterator()
    CLOCK.advance(14 * 60)
    assert len(table.records(iterator)) == 1
    CLOCK.advance(61)
    with lenient():
        table.records(iterator)
    with pytest.raises(ClientError) as refused:
        table.records(iterator)
    assert refused.value.response["Error"]["Code"] == "ExpiredIteratorException"


@pytest.mark.aws_rule("_dynamodb_stream_trimmed_positions")
def test_a_trimmed_position_is_refused(engine: LocalEngine) -> None:
    table = Table(engine)
    for key in "abc":
        table.put(key)
    seqs = [r["dynamodb"]["SequenceNumber"] for r in table.records()]
    held = table.iterator("AT_SEQUENCE_NUMBER", seqs[0])
    trim_stream_records(table.stream_arn, [(table.shard_id, seqs[0]), (table.shard_id, seqs[1])])
    with lenient():
        table.iterator("AT_SEQUENCE_NUMBER", seqs[0])
    with pytest.raises(ClientError) as refused:
        table.iterator("AT_SEQUENCE_NUMBER", seqs[0])
    assert refused.value.response["Error"]["Code"] == "TrimmedDataAccessException"
    with pytest.raises(ClientError) as refused:
        table.records(held)  # got before the trim: its position is gone now
    assert refused.value.response["Error"]["Code"] == "TrimmedDataAccessException"
    assert [r["dynamodb"]["SequenceNumber"] for r in table.records()] == [seqs[2]]  # TRIM_HORIZON: what is held


@pytest.mark.aws_rule("_dynamodb_stream_get_records_limits")
def test_get_records_takes_at_most_1000_records_and_answers_at_most_1_mb(engine: LocalEngine) -> None:
    table = Table(engine)
    for n in range(4):
        table.put(f"k{n}", "x" * 300_000)
    with lenient():
        assert len(table.records(limit=5000)) == 4
    with pytest.raises(ClientError) as refused:
        table.records(limit=5000)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    page = table.streams.get_records(ShardIterator=table.iterator(), Limit=1000)
    assert len(page["Records"]) == 3  # 1.2 MB of images in 4 records: the fourth is on the next page
    rest = table.streams.get_records(ShardIterator=page["NextShardIterator"], Limit=1000)["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in rest] == ["k3"]


@pytest.mark.aws_rule("_dynamodb_stream_empty_pages_before_records")
def test_a_positioned_iterator_may_answer_empty_pages_before_its_records(engine: LocalEngine) -> None:
    table = Table(engine)
    table.put("a")
    seq = table.records()[0]["dynamodb"]["SequenceNumber"]
    with lenient():
        assert len(table.records(table.iterator("AT_SEQUENCE_NUMBER", seq))) == 1
    iterator = table.iterator("AT_SEQUENCE_NUMBER", seq)
    for _ in range(EMPTY_PAGES_BEFORE_RECORDS):
        page = table.streams.get_records(ShardIterator=iterator)
        assert page["Records"] == []
        iterator = page["NextShardIterator"]
    assert [r["dynamodb"]["SequenceNumber"] for r in table.records(iterator)] == [seq]
