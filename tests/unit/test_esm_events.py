"""The event source mapping's shapes, without AWS: mapping settings, invocation records,
partial batch responses, on-failure records and S3 object names."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from redrive_local.esm_events import (
    MappingConfig,
    ResponseContext,
    StreamRecord,
    dynamodb_record,
    iso_millis,
    iso_seconds,
    kinesis_record,
    on_failure_record,
    reported_failures,
    s3_object_key,
    s3_on_failure_record,
)

STREAM = "arn:aws:kinesis:us-east-2:123456789012:stream/mystream"
TABLE_STREAM = "arn:aws:dynamodb:us-east-2:123456789012:table/mytable/stream/2019-11-14T00:04:06.388"
ROLE = "arn:aws:iam::123456789012:role/lambda-role"


def kinesis(seq: str, arrival: float = 1545084650.987) -> StreamRecord:
    raw = {
        "SequenceNumber": seq,
        "ApproximateArrivalTimestamp": datetime.fromtimestamp(arrival, UTC),
        "Data": b"Hello, this is a test.",
        "PartitionKey": "1",
    }
    return kinesis_record(raw, "shardId-000000000006", STREAM, "us-east-2", ROLE)


def test_mapping_settings_default_as_the_lambda_api_documents() -> None:
    listed = {"UUID": "u", "FunctionArn": "arn:aws:lambda:us-east-2:1:function:f", "EventSourceArn": STREAM}
    config = MappingConfig.from_api(listed)
    assert (config.batch_size, config.maximum_retry_attempts, config.maximum_record_age) == (100, -1, -1)
    assert (config.bisect, config.report_item_failures, config.destination) == (False, False, "")
    assert (config.kind, config.region, config.starting_position) == ("kinesis", "us-east-2", "TRIM_HORIZON")
    config = MappingConfig.from_api(
        {
            **listed,
            "EventSourceArn": TABLE_STREAM,
            "BisectBatchOnFunctionError": True,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-2:1:dlq"}},
        }
    )
    assert (config.kind, config.bisect, config.report_item_failures) == ("dynamodb", True, True)
    assert config.destination == "arn:aws:sqs:us-east-2:1:dlq"


def test_kinesis_records_have_the_documented_shape() -> None:
    record = kinesis("49590338271490256608559692538361571095921575989136588898")
    assert record.event_record == {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "1",
            "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
            "data": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
            "approximateArrivalTimestamp": 1545084650.987,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": "shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": ROLE,
        "awsRegion": "us-east-2",
        "eventSourceARN": STREAM,
    }


def test_dynamodb_records_have_the_documented_shape() -> None:
    raw = {
        "eventID": "c4ca4238a0b923820dcc509a6f75849b",
        "eventName": "INSERT",
        "eventVersion": "1.0",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime.fromtimestamp(1428537600.75, UTC),
            "Keys": {"Id": {"N": "101"}},
            "NewImage": {"Message": {"S": "New item!"}, "Id": {"N": "101"}},
            "SequenceNumber": "4421584500000000017450439091",
            "SizeBytes": 26,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    record = dynamodb_record(raw, TABLE_STREAM, "us-east-2")
    assert record.event_record == {
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
        "eventSourceARN": TABLE_STREAM,
    }
    assert record.arrival == 1428537600.0


BATCH = [kinesis("10"), kinesis("11"), kinesis("12")]


@pytest.mark.parametrize("payload", [None, {}, {"batchItemFailures": None}, {"batchItemFailures": []}, "text"])
def test_empty_or_null_responses_are_complete_successes(payload: Any) -> None:
    assert reported_failures(payload, BATCH) == ("ok", -1)


def test_the_lowest_reported_sequence_number_is_the_checkpoint() -> None:
    failures = {"batchItemFailures": [{"itemIdentifier": "12"}, {"itemIdentifier": "11"}]}
    assert reported_failures(failures, BATCH) == ("partial", 1)


@pytest.mark.parametrize(
    "items",
    [
        [{"itemIdentifier": ""}],
        [{"itemIdentifier": None}],
        [{"foo": "11"}],
        [{"itemIdentifier": "99"}],
        [{"itemIdentifier": "11"}, {"itemIdentifier": ""}],
        ["11"],
    ],
)
def test_unusable_item_identifiers_fail_the_whole_batch(items: list[Any]) -> None:
    assert reported_failures({"batchItemFailures": items}, BATCH) == ("invalid", -1)
    assert reported_failures({"batchItemFailures": "11"}, BATCH) == ("invalid", -1)


def test_timestamps_are_iso_8601_utc() -> None:
    assert iso_millis(1573691886.021) == "2019-11-14T00:38:06.021Z"
    assert iso_seconds(1573690399.0) == "2019-11-14T00:13:19Z"


def test_on_failure_records_follow_the_documented_example() -> None:
    records = [kinesis("49601189658422359378836298521827638475320189012309704722", 1573691884.835)]
    records.append(kinesis("49601189658422359378836298522902373528957594348623495186", 1573691885.580))
    message = on_failure_record(
        kind="kinesis",
        request_id="c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
        function_arn="arn:aws:lambda:us-east-2:123456789012:function:myfunction",
        condition="RetryAttemptsExhausted",
        approximate_invoke_count=1,
        response=ResponseContext(200, "$LATEST", "Unhandled"),
        timestamp=1573691886.021,
        shard_id="shardId-000000000001",
        records=records,
        stream_arn=STREAM,
    )
    assert json.dumps(message) == json.dumps(
        {
            "requestContext": {
                "requestId": "c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
                "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:myfunction",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": 1,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": "2019-11-14T00:38:06.021Z",
            "KinesisBatchInfo": {
                "shardId": "shardId-000000000001",
                "startSequenceNumber": "49601189658422359378836298521827638475320189012309704722",
                "endSequenceNumber": "49601189658422359378836298522902373528957594348623495186",
                "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
                "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z",
                "batchSize": 2,
                "streamArn": STREAM,
            },
        }
    )  # same fields, same order
    s3 = s3_on_failure_record(message, records)
    assert list(s3) == [*message, "payload"]
    assert json.loads(s3["payload"]) == {"Records": [r.event_record for r in records]}


def test_record_age_exceeded_has_no_response_context() -> None:
    message = on_failure_record(
        kind="dynamodb",
        request_id="r",
        function_arn="f",
        condition="RecordAgeExceeded",
        approximate_invoke_count=1,
        response=None,
        timestamp=0.0,
        shard_id="shardId-00000001573689847184-864758bb",
        records=[StreamRecord("800000000003126276362", 1573690399.0, {})],
        stream_arn=TABLE_STREAM,
    )
    assert list(message) == ["requestContext", "version", "timestamp", "DDBStreamBatchInfo"]
    assert message["DDBStreamBatchInfo"]["approximateArrivalOfFirstRecord"] == "2019-11-14T00:13:19Z"


def test_s3_object_names_follow_the_documented_convention() -> None:
    key = s3_object_key("f89f8514-cdd9-4602-9e1f-01a5b77d449b", "shardId-000000000001", 1573691886.021, "r-uuid")
    assert (
        key
        == "aws/lambda/f89f8514-cdd9-4602-9e1f-01a5b77d449b/shardId-000000000001/2019/11/14/2019-11-14T00.38.06-r-uuid"
    )


@pytest.mark.parametrize("seq", ["", "12x", "²", "1" * 130])
def test_records_are_built_with_the_contracts_so_a_bad_sequence_number_is_refused(seq: str) -> None:
    # New with the contracts: what AWS would never send cannot be simulated by mistake.
    with pytest.raises(ValidationError):
        kinesis(seq)
    raw = {"dynamodb": {"ApproximateCreationDateTime": 0, "Keys": {}, "SequenceNumber": seq}}
    with pytest.raises(ValidationError):
        dynamodb_record(raw, TABLE_STREAM, "us-east-2")
