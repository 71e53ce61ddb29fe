"""One record shape from GetRecords (Kinesis, DynamoDB Streams) and from invocation events."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from redrive.contracts.records import (
    FailureContext,
    StreamRecord,
    dynamodb_partition_key,
    from_dynamodb_get_records,
    from_invocation_event_record,
    from_kinesis_get_records,
    record_id,
    seq_in_range,
)
from redrive.contracts.stream_events import event_record
from redrive.contracts.vocab import Source

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


def present(record: StreamRecord) -> set[str]:
    """The JSON fields a record carries (set, not None), its failure context aside."""
    assert record.failure == FailureContext()
    return {name for name, value in record.to_json().items() if value is not None and name != "failure"}


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
        assert present(record) == KINESIS_FIELDS
        assert record == StreamRecord(
            source=Source.KINESIS,
            stream_arn=KINESIS_ARN,
            shard_id=SHARD,
            sequence_number=SEQ,
            partition_key="customer-1",
            approximate_arrival=ARRIVAL.isoformat(),
            payload=base64.b64encode(b'{"id":"o-1","amount":10}').decode(),
        )
        assert record.record_id == f"{SHARD}:{SEQ}"
        assert record.to_json()["recordId"] == f"{SHARD}:{SEQ}"
        assert record.position == int(SEQ)

    def test_binary_data_survives(self) -> None:
        raw = bytes(range(256))
        record = from_kinesis_get_records({"SequenceNumber": SEQ, "Data": raw}, KINESIS_ARN, SHARD)
        assert base64.b64decode(record.payload or "") == raw
        assert record.partition_key is None
        assert record.approximate_arrival is None

    def test_str_data_is_encoded(self) -> None:
        record = from_kinesis_get_records({"SequenceNumber": SEQ, "Data": "héllo"}, KINESIS_ARN, SHARD)
        assert base64.b64decode(record.payload or "").decode() == "héllo"

    def test_epoch_arrival_is_iso(self) -> None:
        epoch = ARRIVAL.timestamp()
        record = from_kinesis_get_records(
            {"SequenceNumber": SEQ, "Data": b"x", "ApproximateArrivalTimestamp": epoch}, KINESIS_ARN, SHARD
        )
        assert record.approximate_arrival is not None
        assert datetime.fromisoformat(record.approximate_arrival).timestamp() == pytest.approx(epoch)

    def test_integer_sequence_number_is_kept_as_decimal_text(self) -> None:
        record = from_kinesis_get_records({"SequenceNumber": int(SEQ), "Data": b"x"}, KINESIS_ARN, SHARD)
        assert record.sequence_number == SEQ

    @pytest.mark.parametrize("seq", ["49656x", "", "1.5", "²", "1" * 130])
    def test_a_sequence_number_that_is_not_decimal_digits_is_refused(self, seq: str) -> None:
        # New with the contracts: a record's sequence number is 1 to 129 ASCII digits.
        with pytest.raises(ValidationError):
            from_kinesis_get_records({"SequenceNumber": seq, "Data": b"x"}, KINESIS_ARN, SHARD)


class TestDynamoDbGetRecords:
    def test_shape(self) -> None:
        record = from_dynamodb_get_records(dynamodb_stream_item(), TABLE_STREAM_ARN, DDB_SHARD)
        assert present(record) == DYNAMODB_FIELDS
        assert record.record_id == f"{DDB_SHARD}:3100000000011507839291"
        assert record.source == Source.DYNAMODB
        assert record.stream_arn == TABLE_STREAM_ARN
        assert record.event_name == "MODIFY"
        assert record.keys == KEYS
        assert record.new_image == NEW_IMAGE
        assert record.old_image == OLD_IMAGE
        assert record.stream_view_type == "NEW_AND_OLD_IMAGES"
        assert record.approximate_arrival == ARRIVAL.isoformat()
        assert record.payload is None

    def test_the_redrive_event_keeps_the_streams_event_id_and_size(self) -> None:
        item = dynamodb_stream_item()
        record = from_dynamodb_get_records(item, TABLE_STREAM_ARN, "shard-1")
        assert (record.event_id, record.size_bytes) == ("c81e728d", 59)
        rebuilt = event_record(record, "us-east-1")
        assert rebuilt["eventID"] == "c81e728d"
        assert rebuilt["dynamodb"]["SizeBytes"] == 59
        assert rebuilt["dynamodb"]["OldImage"] == item["dynamodb"]["OldImage"]

    def test_partition_key_is_the_keys_compact_and_sorted(self) -> None:
        record = from_dynamodb_get_records(
            dynamodb_stream_item(Keys={"sk": {"N": "7"}, "pk": {"S": "order#1"}}), TABLE_STREAM_ARN, DDB_SHARD
        )
        assert record.partition_key == '{"pk":{"S":"order#1"},"sk":{"N":"7"}}'
        assert dynamodb_partition_key({"b": {"S": "2"}, "a": {"S": "1"}}) == '{"a":{"S":"1"},"b":{"S":"2"}}'

    def test_remove_event_has_no_new_image(self) -> None:
        item = dynamodb_stream_item(NewImage=None)
        item["eventName"] = "REMOVE"
        record = from_dynamodb_get_records(item, TABLE_STREAM_ARN, DDB_SHARD)
        assert record.new_image is None
        assert record.old_image == OLD_IMAGE
        assert record.event_name == "REMOVE"
        assert "newImage" not in present(record)


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
        assert present(record) == KINESIS_FIELDS
        assert record.payload == "eyJpZCI6MX0="
        assert record.stream_arn == KINESIS_ARN
        assert record.record_id == record_id(SHARD, SEQ)
        assert record.partition_key == "customer-1"
        assert record.approximate_arrival is not None
        assert datetime.fromisoformat(record.approximate_arrival).timestamp() == pytest.approx(1545084650.987)

    def test_stream_arn_falls_back_to_the_pointer(self) -> None:
        item = {"kinesis": {"sequenceNumber": SEQ, "data": ""}}
        assert from_invocation_event_record(item, KINESIS_ARN, SHARD).stream_arn == KINESIS_ARN

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
        # No OldImage in a NEW_IMAGE stream: the field is left unset.
        assert present(record) == DYNAMODB_FIELDS - {"oldImage"}
        assert record.source == Source.DYNAMODB
        assert record.stream_arn == TABLE_STREAM_ARN
        assert record.record_id == f"{DDB_SHARD}:111"
        assert record.new_image == NEW_IMAGE
        assert record.old_image is None
        assert record.stream_view_type == "NEW_IMAGE"
        assert record.partition_key == dynamodb_partition_key(KEYS)
        assert record.approximate_arrival is not None
        assert datetime.fromisoformat(record.approximate_arrival).timestamp() == 1763781731

    def test_same_record_same_id_from_either_path(self) -> None:
        from_stream = from_dynamodb_get_records(dynamodb_stream_item(), TABLE_STREAM_ARN, DDB_SHARD)
        event_item = dynamodb_stream_item(ApproximateCreationDateTime=int(ARRIVAL.timestamp()))
        event_item["eventSourceARN"] = TABLE_STREAM_ARN
        from_event = from_invocation_event_record(event_item, TABLE_STREAM_ARN, DDB_SHARD)
        assert from_event.record_id == from_stream.record_id
        assert from_event.partition_key == from_stream.partition_key
        assert from_event.new_image == from_stream.new_image


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


class TestStreamRecordModel:
    def record(self) -> StreamRecord:
        return from_kinesis_get_records({"SequenceNumber": SEQ, "Data": b"x"}, KINESIS_ARN, SHARD)

    def test_json_round_trip_keeps_the_record_and_its_id(self) -> None:
        record = self.record().model_copy(update={"failure": FailureContext(condition="RecordAgeExceeded")})
        data = record.to_json()
        assert data["recordId"] == f"{SHARD}:{SEQ}"
        assert data["failure"]["condition"] == "RecordAgeExceeded"
        assert StreamRecord.parse(data) == record

    def test_the_record_id_is_computed_never_read(self) -> None:
        # A stored recordId that disagrees with shard and sequence number is ignored.
        data = {**self.record().to_json(), "recordId": "somewhere-else:1"}
        assert StreamRecord.parse(data).record_id == f"{SHARD}:{SEQ}"

    def test_without_failure_clears_only_the_failure(self) -> None:
        failed = self.record().model_copy(update={"failure": FailureContext(function_arn="arn:f", redrive_attempts=2)})
        cleared = failed.without_failure()
        assert cleared.failure == FailureContext()
        assert cleared.model_dump(exclude={"failure"}) == failed.model_dump(exclude={"failure"})
        assert failed.failure.redrive_attempts == 2  # the original is left alone

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(3, 3), ("3", 3), ("three", None), (True, None), (1.5, None), ("²", None), (None, None)],
    )
    def test_an_invoke_count_that_is_not_an_integer_is_dropped(self, value: Any, expected: int | None) -> None:
        assert FailureContext.parse({"approximateInvokeCount": value}).approximate_invoke_count == expected
