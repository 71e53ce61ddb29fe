"""The event the invoke target rebuilds, and how the consumer's partial batch answer is read.

Field sets follow the example events of the AWS Lambda Developer Guide ("Using Lambda with
Kinesis", "Using Lambda with DynamoDB")."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from redrive.contracts.records import StreamRecord, from_invocation_event_record
from redrive.contracts.stream_events import event_record, failed_item_ids, invocation_event

KINESIS_ARN = "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"
TABLE_STREAM_ARN = "arn:aws:dynamodb:us-east-2:123456789012:table/my-table/stream/2024-06-10T19:26:16.525"
SHARD = "shardId-000000000006"
SEQ = "49590338271490256608559692538361571095921575989136588898"

KINESIS_TOP_LEVEL = {
    "kinesis",
    "eventSource",
    "eventVersion",
    "eventID",
    "eventName",
    "invokeIdentityArn",
    "awsRegion",
    "eventSourceARN",
}
KINESIS_INNER = {"kinesisSchemaVersion", "partitionKey", "sequenceNumber", "data", "approximateArrivalTimestamp"}
DYNAMODB_TOP_LEVEL = {"eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb", "eventSourceARN"}


def kinesis_record(**overrides: Any) -> StreamRecord:
    record = {
        "source": "kinesis",
        "streamArn": KINESIS_ARN,
        "shardId": SHARD,
        "sequenceNumber": SEQ,
        "partitionKey": "1",
        "approximateArrival": "2018-12-17T22:10:50.987000+00:00",
        "payload": base64.b64encode(b"Hello, this is a test.").decode(),
    }
    record.update(overrides)
    return StreamRecord.parse(record)


def dynamodb_record(**overrides: Any) -> StreamRecord:
    record = {
        "source": "dynamodb",
        "streamArn": TABLE_STREAM_ARN,
        "shardId": "shardId-00000001-abc",
        "sequenceNumber": "111",
        "partitionKey": '{"Id":{"N":"101"}}',
        "approximateArrival": "2024-06-10T19:26:16+00:00",
        "eventName": "MODIFY",
        "keys": {"Id": {"N": "101"}},
        "newImage": {"Message": {"S": "This item has changed"}, "Id": {"N": "101"}},
        "oldImage": {"Message": {"S": "New item!"}, "Id": {"N": "101"}},
        "streamViewType": "NEW_AND_OLD_IMAGES",
    }
    record.update(overrides)
    return StreamRecord.parse(record)


class TestKinesisEventRecord:
    def test_fields_as_the_documented_example(self) -> None:
        entry = event_record(kinesis_record(), "us-east-2")
        assert set(entry) == KINESIS_TOP_LEVEL
        assert set(entry["kinesis"]) == KINESIS_INNER
        assert entry["kinesis"] == {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "1",
            "sequenceNumber": SEQ,
            "data": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
            "approximateArrivalTimestamp": 1545084650.987,
        }
        assert entry["eventSource"] == "aws:kinesis"
        assert entry["eventVersion"] == "1.0"
        assert entry["eventName"] == "aws:kinesis:record"
        assert entry["eventID"] == f"{SHARD}:{SEQ}"
        assert entry["awsRegion"] == "us-east-2"
        assert entry["eventSourceARN"] == KINESIS_ARN

    def test_round_trip_from_an_invocation_event(self) -> None:
        original = {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": "customer-9",
                "sequenceNumber": SEQ,
                "data": "eyJhIjoxfQ==",
                "approximateArrivalTimestamp": 1763781158.85,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{SHARD}:{SEQ}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "",
            "awsRegion": "us-east-2",
            "eventSourceARN": KINESIS_ARN,
        }
        rebuilt = event_record(from_invocation_event_record(original, KINESIS_ARN, SHARD), "us-east-2")
        assert rebuilt == original

    def test_missing_arrival_is_zero(self) -> None:
        entry = event_record(kinesis_record(approximateArrival=None), "us-east-1")
        assert entry["kinesis"]["approximateArrivalTimestamp"] == 0.0

    def test_the_failure_context_and_record_id_stay_out_of_the_event(self) -> None:
        record = kinesis_record(failure={"condition": "RetryAttemptsExhausted", "functionArn": "arn:f"})
        entry = event_record(record, "us-east-2")
        assert entry == event_record(record.without_failure(), "us-east-2")
        assert "failure" not in json.dumps(entry) and "recordId" not in json.dumps(entry)

    def test_invoke_identity_arn_is_kept(self) -> None:
        role = "arn:aws:iam::123456789012:role/lambda-role"
        assert event_record(kinesis_record(invokeIdentityArn=role), "x")["invokeIdentityArn"] == role


class TestDynamoDbEventRecord:
    def test_fields_as_the_documented_example(self) -> None:
        entry = event_record(dynamodb_record(), "us-east-2")
        assert set(entry) == DYNAMODB_TOP_LEVEL
        assert entry["eventSource"] == "aws:dynamodb"
        assert entry["eventName"] == "MODIFY"
        assert entry["awsRegion"] == "us-east-2"
        assert entry["eventSourceARN"] == TABLE_STREAM_ARN
        ddb = entry["dynamodb"]
        assert set(ddb) == {
            "ApproximateCreationDateTime",
            "Keys",
            "NewImage",
            "OldImage",
            "SequenceNumber",
            "SizeBytes",
            "StreamViewType",
        }
        assert ddb["Keys"] == {"Id": {"N": "101"}}
        assert ddb["NewImage"] == {"Message": {"S": "This item has changed"}, "Id": {"N": "101"}}
        assert ddb["OldImage"] == {"Message": {"S": "New item!"}, "Id": {"N": "101"}}
        assert ddb["SequenceNumber"] == "111"
        assert ddb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert ddb["ApproximateCreationDateTime"] == 1718047576
        assert isinstance(ddb["SizeBytes"], int) and ddb["SizeBytes"] > 0

    def test_absent_images_are_left_out(self) -> None:
        entry = event_record(dynamodb_record(eventName="REMOVE", newImage=None, streamViewType="KEYS_ONLY"), "x")
        assert "NewImage" not in entry["dynamodb"]
        assert entry["dynamodb"]["StreamViewType"] == "KEYS_ONLY"
        assert entry["eventName"] == "REMOVE"
        entry = event_record(dynamodb_record(oldImage=None), "x")
        assert "OldImage" not in entry["dynamodb"]

    def test_round_trip_from_an_invocation_event(self) -> None:
        original = {
            "eventID": "c4ca4238a0b923820dcc509a6f75849b",
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-2",
            "dynamodb": {
                "ApproximateCreationDateTime": 1428537600,
                "Keys": {"Id": {"N": "101"}},
                "NewImage": {"Message": {"S": "New item!"}, "Id": {"N": "101"}},
                "SequenceNumber": "4421584500000000017450439091",
                "SizeBytes": 26,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
            "eventSourceARN": TABLE_STREAM_ARN,
        }
        rebuilt = event_record(from_invocation_event_record(original, "arn:unused", "shardId-1"), "us-east-2")
        assert rebuilt == original

    def test_event_id_is_kept_when_known(self) -> None:
        assert event_record(dynamodb_record(eventId="c4ca4238"), "x")["eventID"] == "c4ca4238"
        assert event_record(dynamodb_record(), "x")["eventID"] == "111"

    def test_invocation_event_wraps_records_in_order(self) -> None:
        event = invocation_event([kinesis_record(), kinesis_record(sequenceNumber="2")], "us-east-1")
        assert list(event) == ["Records"]
        assert [r["kinesis"]["sequenceNumber"] for r in event["Records"]] == [SEQ, "2"]


class TestFailedItemIds:
    RECORDS = [
        kinesis_record(sequenceNumber="1"),
        kinesis_record(sequenceNumber="2"),
        kinesis_record(sequenceNumber="3"),
    ]

    @pytest.mark.parametrize(
        "response",
        [
            pytest.param(None, id="null-response"),
            pytest.param({}, id="no-key"),
            pytest.param({"batchItemFailures": None}, id="null-list"),
            pytest.param({"batchItemFailures": []}, id="empty-list"),
            pytest.param("OK", id="non-object-response"),
        ],
    )
    def test_success(self, response: Any) -> None:
        assert failed_item_ids(response, self.RECORDS) == set()

    def test_listed_ids_fail(self) -> None:
        response = {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "3"}]}
        assert failed_item_ids(response, self.RECORDS) == {"2", "3"}

    @pytest.mark.parametrize(
        "failures",
        [
            pytest.param([{"itemIdentifier": "99"}], id="unknown-identifier"),
            pytest.param([{"itemIdentifier": "1"}, {"itemIdentifier": "99"}], id="one-unknown"),
            pytest.param([{"itemIdentifier": ""}], id="empty-identifier"),
            pytest.param([{"itemIdentifier": None}], id="null-identifier"),
            pytest.param([{}], id="no-identifier"),
            pytest.param(["2"], id="entry-not-an-object"),
            pytest.param("2", id="list-not-a-list"),
        ],
    )
    def test_whole_batch_fails(self, failures: Any) -> None:
        assert failed_item_ids({"batchItemFailures": failures}, self.RECORDS) is None
