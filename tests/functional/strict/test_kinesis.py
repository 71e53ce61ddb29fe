"""Kinesis rules of the strict stack, each shown lenient (moto accepts) and strict (AWS refuses)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from redrive_local.engine import LocalEngine
from redrive_local.strict import lenient
from redrive_local.strict.clock import CLOCK


def _stream(engine: LocalEngine, shards: int = 1) -> tuple[Any, str]:
    kinesis = engine.client("kinesis")
    name = f"strict-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    return kinesis, name


def _iterator(kinesis: Any, name: str, **position: str) -> str:
    position = position or {"ShardIteratorType": "TRIM_HORIZON"}
    return str(kinesis.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000", **position)["ShardIterator"])


@pytest.mark.aws_rule("_kinesis_sequence_numbers_have_aws_length")
def test_sequence_numbers_are_56_digits_and_not_consecutive(engine: LocalEngine) -> None:
    kinesis, name = _stream(engine)
    with lenient():
        small = kinesis.put_record(StreamName=name, Data=b"a", PartitionKey="k")["SequenceNumber"]
    assert small == "1"
    kinesis, name = _stream(engine)
    first, second = (kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k")["SequenceNumber"] for _ in "ab")
    assert len(first) == len(second) == 56
    assert int(second) > int(first) + 1
    at_second = _iterator(kinesis, name, ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=second)
    assert [r["SequenceNumber"] for r in kinesis.get_records(ShardIterator=at_second)["Records"]] == [second]


@pytest.mark.aws_rule("_kinesis_record_size")
def test_a_record_over_1_mib_is_refused(engine: LocalEngine) -> None:
    kinesis, name = _stream(engine)
    data = b"x" * (1024 * 1024)  # with the partition key: 1 MiB + 1 byte
    with lenient():
        kinesis.put_record(StreamName=name, Data=data, PartitionKey="k")
    with pytest.raises(ClientError) as refused:
        kinesis.put_record(StreamName=name, Data=data, PartitionKey="k")
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "1 MiB" in refused.value.response["Error"]["Message"]
    kinesis.put_record(StreamName=name, Data=data[:-1], PartitionKey="k")  # exactly 1 MiB is fine


def test_moto_itself_refuses_put_records_over_the_limits(engine: LocalEngine) -> None:
    """No strict rule is needed here: moto refuses what AWS refuses (500 records, 5 MiB, 1 MiB each)."""
    kinesis, name = _stream(engine)
    with lenient():
        for records in (
            [{"Data": b"x", "PartitionKey": "k"}] * 501,
            [{"Data": b"x" * (1024 * 1024 + 1), "PartitionKey": "k"}],
            [{"Data": b"x" * (1024 * 1000), "PartitionKey": "k"}] * 6,
        ):
            with pytest.raises(ClientError):
                kinesis.put_records(StreamName=name, Records=records)


@pytest.mark.aws_rule("_kinesis_get_records_throughput")
def test_a_sixth_get_records_in_one_second_is_throttled(engine: LocalEngine) -> None:
    kinesis, name = _stream(engine)
    kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k")
    iterator = _iterator(kinesis, name)
    with CLOCK.frozen():
        with lenient():
            for _ in range(8):
                kinesis.get_records(ShardIterator=iterator)
        for _ in range(5):
            kinesis.get_records(ShardIterator=iterator)
        with pytest.raises(ClientError) as refused:
            kinesis.get_records(ShardIterator=iterator)
        assert refused.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
        CLOCK.advance(1.01)
        kinesis.get_records(ShardIterator=iterator)  # a second later the shard serves again


@pytest.mark.aws_rule("_kinesis_get_records_throughput")
def test_reading_more_than_2_mib_a_second_is_throttled(engine: LocalEngine) -> None:
    kinesis, name = _stream(engine)
    for _ in range(3):
        kinesis.put_record(StreamName=name, Data=b"x" * (1024 * 1024 - 1), PartitionKey="k")
    iterator = _iterator(kinesis, name)
    with CLOCK.frozen():
        assert len(kinesis.get_records(ShardIterator=iterator)["Records"]) == 3  # 3 MiB: over the second's 2
        with pytest.raises(ClientError) as refused:
            kinesis.get_records(ShardIterator=iterator, Limit=1)
        assert refused.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
        with lenient():
            kinesis.get_records(ShardIterator=iterator, Limit=1)
        CLOCK.advance(0.6)  # 1.2 MiB more allowance: what was overdrawn (1 MiB) is paid back
        kinesis.get_records(ShardIterator=iterator, Limit=1)


@pytest.mark.aws_rule("_kinesis_iterators_expire")
def test_an_iterator_older_than_5_minutes_has_expired(engine: LocalEngine) -> None:
    kinesis, name = _stream(engine)
    kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k")
    iterator = _iterator(kinesis, name)
    following = kinesis.get_records(ShardIterator=iterator)["NextShardIterator"]
    CLOCK.advance(301)
    with lenient():
        kinesis.get_records(ShardIterator=iterator)
    for old in (iterator, following):
        with pytest.raises(ClientError) as refused:
            kinesis.get_records(ShardIterator=old)
        assert refused.value.response["Error"]["Code"] == "ExpiredIteratorException"
    assert len(kinesis.get_records(ShardIterator=_iterator(kinesis, name))["Records"]) == 1


@pytest.mark.aws_rule("_kinesis_get_records_page_limits")
def test_get_records_takes_at_most_10000_and_answers_at_most_10_mib(engine: LocalEngine) -> None:
    kinesis, name = _stream(engine)
    for _ in range(11):
        kinesis.put_record(StreamName=name, Data=b"x" * (1024 * 1024 - 8), PartitionKey="k")
    iterator = _iterator(kinesis, name)
    with CLOCK.frozen(), lenient():
        assert len(kinesis.get_records(ShardIterator=iterator)["Records"]) == 11
        kinesis.get_records(ShardIterator=iterator, Limit=20_000)
    CLOCK.advance(10)  # the reads above count against the shard's 2 MiB a second
    with pytest.raises(ClientError) as refused:
        kinesis.get_records(ShardIterator=iterator, Limit=20_000)
    assert refused.value.response["Error"]["Code"] == "InvalidArgumentException"
    page = kinesis.get_records(ShardIterator=iterator)
    assert len(page["Records"]) == 10  # 10 MiB
    CLOCK.advance(10)
    rest = kinesis.get_records(ShardIterator=page["NextShardIterator"])["Records"]
    assert len(rest) == 1 and int(rest[0]["SequenceNumber"]) > int(page["Records"][-1]["SequenceNumber"])
