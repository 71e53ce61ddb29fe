"""One record shape from GetRecords (Kinesis, DynamoDB Streams) and from invocation events."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from redrive.core.records import (
    dynamodb_partition_key,
    from_dynamodb_get_records,
    from_invocation_event_record,
    from_kinesis_get_records,
    record_id,
    seq_in_range,
)

KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
TABLE_STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000"
SHARD = "shardId-000000000001"
DDB_SHARD = "shardId-00000001763781236915-4b0a9c2e"
SEQ = "49656632116218945776331460766277046186802519735914561554"
ARRIVAL = datetime(2026, 11, 22, 3, 12, 38, 850000, tzinfo=UTC)
KEYS = {"pk": {"S": "order#1"}, "sk": {"N": "7"}}
NEW_IMAGE = {"pk": {"S": "order#1"}, "sk": {"N": "7"}, "amount": {"S": "12.50"}}
OLD_IMAGE = {"pk": {"S": "order#1"}, "sk": {"N": "7"}, "amount": {"N": "12"}}

KINESIS_FIELDS = {
    "recordId",
    "source",
    "streamArn",
    "shardId",
    "sequenceNumber",
    "partitionKey",
    "approximateArrival",
    "payload",
}
DYNAMODB_FIELDS = {
    "recordId",
    "source",
    "streamArn",
    "shardId",
    "sequenceNumber",
    "partitionKey",
    "approximateArrival",
    "eventName",
    "eventId",
    "sizeBytes",
    "keys",
    "newImage",
    "oldImage",
    "streamViewType",
}


def dynamodb_stream_item(**dynamodb: Any) -> dict[str, Any]:
    body = {
        "ApproximateCreationDateTime": ARRIVAL,
        "Keys": KEYS,
        "NewImage": NEW_IMAGE,
        "OldImage": OLD_IMAGE,
        "SequenceNumber": "3100000000011507839291",
        "SizeBytes": 59,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    body.update(dynamodb)
    return {
        "eventID": "c81e728d",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {k: v for k, v in body.items() if v is not None},
    }


class TestKinesisGetRecords:
    def test_bytes_data_becomes_base64_payload(self) -> None:
        item = {
            "SequenceNumber": SEQ,
            "ApproximateArrivalTimestamp": ARRIVAL,
            "Data": b'{"id":"o-1","amount":10}',
            "PartitionKey": "customer-1",
        }
        record = from_kinesis_get_records(item, KINESIS_ARN, SHARD)
        assert set(record) == KINESIS_FIELDS
        assert record == {
            "recordId": f"{SHARD}:{SEQ}",
            "source": "kinesis",
            "streamArn": KINESIS_ARN,
            "shardId": SHARD,
            "sequenceNumber": SEQ,
            "partitionKey": "customer-1",
            "approximateArrival": ARRIVAL.isoformat(),
            "payload": base64.b64encode(b'{"id":"o-1","amount":10}').decode(),
        }

    def test_binary_data_survives(self) -> None:
        raw = bytes(range(256))
        record = from_kinesis_get_records({"SequenceNumber": SEQ, "Data": raw}, KINESIS_ARN, SHARD)
        assert base64.b64decode(record["payload"]) == raw
        assert record["partitionKey"] is None
        assert record["approximateArrival"] is None

    def test_str_data_is_encoded(self) -> None:
        record = from_kinesis_get_records({"SequenceNumber": SEQ, "Data": "héllo"}, KINESIS_ARN, SHARD)
        assert base64.b64decode(record["payload"]).decode() == "héllo"

    def test_epoch_arrival_is_iso(self) -> None:
        epoch = ARRIVAL.timestamp()
        record = from_kinesis_get_records(
            {"SequenceNumber": SEQ, "Data": b"x", "ApproximateArrivalTimestamp": epoch}, KINESIS_ARN, SHARD
        )
        assert datetime.fromisoformat(record["approximateArrival"]).timestamp() == pytest.approx(epoch)


class TestDynamoDbGetRecords:
    def test_shape(self) -> None:
        record = from_dynamodb_get_records(dynamodb_stream_item(), TABLE_STREAM_ARN, DDB_SHARD)
        assert set(record) == DYNAMODB_FIELDS
        assert record["recordId"] == f"{DDB_SHARD}:3100000000011507839291"
        assert record["source"] == "dynamodb"
        assert record["eventName"] == "MODIFY"
        assert record["keys"] == KEYS
        assert record["newImage"] == NEW_IMAGE
        assert record["oldImage"] == OLD_IMAGE
        assert record["streamViewType"] == "NEW_AND_OLD_IMAGES"
        assert record["approximateArrival"] == ARRIVAL.isoformat()

    def test_the_redrive_event_keeps_the_streams_event_id_and_size(self) -> None:
        from redrive.core.stream_events import event_record

        item = dynamodb_stream_item()
        record = from_dynamodb_get_records(item, TABLE_STREAM_ARN, "shard-1")
        assert (record["eventId"], record["sizeBytes"]) == ("c81e728d", 59)
        rebuilt = event_record(record, "us-east-1")
        assert rebuilt["eventID"] == "c81e728d"
        assert rebuilt["dynamodb"]["SizeBytes"] == 59
        assert rebuilt["dynamodb"]["OldImage"] == item["dynamodb"]["OldImage"]

    def test_partition_key_is_the_keys_compact_and_sorted(self) -> None:
        record = from_dynamodb_get_records(
            dynamodb_stream_item(Keys={"sk": {"N": "7"}, "pk": {"S": "order#1"}}), TABLE_STREAM_ARN, DDB_SHARD
        )
        assert record["partitionKey"] == '{"pk":{"S":"order#1"},"sk":{"N":"7"}}'
        assert dynamodb_partition_key({"b": {"S": "2"}, "a": {"S": "1"}}) == '{"a":{"S":"1"},"b":{"S":"2"}}'

    def test_remove_event_has_no_new_image(self) -> None:
        item = dynamodb_stream_item(NewImage=None)
        item["eventName"] = "REMOVE"
        record = from_dynamodb_get_records(item, TABLE_STREAM_ARN, DDB_SHARD)
        assert record["newImage"] is None
        assert record["oldImage"] == OLD_IMAGE
        assert record["eventName"] == "REMOVE"


class TestInvocationEventRecords:
    def test_kinesis_event_record_keeps_its_base64_data(self) -> None:
        item = {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": "customer-1",
                "sequenceNumber": SEQ,
                "data": "eyJpZCI6MX0=",
                "approximateArrivalTimestamp": 1545084650.987,
            },
            "eventSource": "aws:kinesis",
            "eventID": f"{SHARD}:{SEQ}",
            "eventSourceARN": KINESIS_ARN,
        }
        record = from_invocation_event_record(item, "arn:unused", SHARD)
        assert set(record) == KINESIS_FIELDS
        assert record["payload"] == "eyJpZCI6MX0="
        assert record["streamArn"] == KINESIS_ARN
        assert record["recordId"] == record_id(SHARD, SEQ)
        assert record["partitionKey"] == "customer-1"
        assert datetime.fromisoformat(record["approximateArrival"]).timestamp() == pytest.approx(1545084650.987)

    def test_stream_arn_falls_back_to_the_pointer(self) -> None:
        item = {"kinesis": {"sequenceNumber": SEQ, "data": ""}}
        assert from_invocation_event_record(item, KINESIS_ARN, SHARD)["streamArn"] == KINESIS_ARN

    def test_dynamodb_event_record(self) -> None:
        item = {
            "eventID": "1",
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1763781731,
                "Keys": KEYS,
                "NewImage": NEW_IMAGE,
                "SequenceNumber": "111",
                "SizeBytes": 26,
                "StreamViewType": "NEW_IMAGE",
            },
            "eventSourceARN": TABLE_STREAM_ARN,
        }
        record = from_invocation_event_record(item, "arn:unused", DDB_SHARD)
        assert set(record) == DYNAMODB_FIELDS
        assert record["recordId"] == f"{DDB_SHARD}:111"
        assert record["newImage"] == NEW_IMAGE
        assert record["oldImage"] is None
        assert record["streamViewType"] == "NEW_IMAGE"
        assert record["partitionKey"] == dynamodb_partition_key(KEYS)
        assert datetime.fromisoformat(record["approximateArrival"]).timestamp() == 1763781731

    def test_same_record_same_id_from_either_path(self) -> None:
        from_stream = from_dynamodb_get_records(dynamodb_stream_item(), TABLE_STREAM_ARN, DDB_SHARD)
        event_item = dynamodb_stream_item(ApproximateCreationDateTime=int(ARRIVAL.timestamp()))
        event_item["eventSourceARN"] = TABLE_STREAM_ARN
        from_event = from_invocation_event_record(event_item, TABLE_STREAM_ARN, DDB_SHARD)
        assert from_event["recordId"] == from_stream["recordId"]
        assert from_event["partitionKey"] == from_stream["partitionKey"]
        assert from_event["newImage"] == from_stream["newImage"]


class TestSeqInRange:
    def test_bounds_are_inclusive(self) -> None:
        assert seq_in_range("5", "5", "9")
        assert seq_in_range("9", "5", "9")
        assert not seq_in_range("4", "5", "9")
        assert not seq_in_range("10", "5", "9")

    def test_56_digit_numbers_differing_in_the_last_digit(self) -> None:
        low = "49656632116218945776331460766277046186802519735914561554"
        high = "49656632116218945776331460766277046186802519735914561556"
        assert seq_in_range("49656632116218945776331460766277046186802519735914561555", low, high)
        assert not seq_in_range("49656632116218945776331460766277046186802519735914561557", low, high)
        assert not seq_in_range("49656632116218945776331460766277046186802519735914561553", low, high)

    def test_numbers_of_different_lengths(self) -> None:
        # A string comparison would put "100" before "99".
        assert seq_in_range("100", "99", "101")
        assert not seq_in_range("1000", "99", "101")
