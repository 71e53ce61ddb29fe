"""classify_message: every kind a DLQ body can be, and why the rest are unrecognised."""

from __future__ import annotations

import json
from typing import Any

import pytest

from redrive.core.messages import REDRIVE_MARKER, Pointer, classify_message, failure_context

KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
TABLE_STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer"
SEQ_START = "49656632116218945776331460766277046186802519735914561554"
SEQ_END = "49656632116218945776331460766277046186802519735914561999"


def batch_info(**overrides: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "shardId": "shardId-000000000001",
        "startSequenceNumber": SEQ_START,
        "endSequenceNumber": SEQ_END,
        "approximateArrivalOfFirstRecord": "2026-11-22T03:12:38.850Z",
        "approximateArrivalOfLastRecord": "2026-11-22T03:12:39.850Z",
        "batchSize": 3,
        "streamArn": KINESIS_ARN,
    }
    info.update(overrides)
    return {k: v for k, v in info.items() if v is not None}


def on_failure(info_key: str = "KinesisBatchInfo", **info_overrides: Any) -> dict[str, Any]:
    return {
        "requestContext": {
            "requestId": "3f1c7a52",
            "functionArn": FUNCTION_ARN,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 3,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-11-22T03:12:41.207Z",
        info_key: batch_info(**info_overrides),
    }


def kinesis_event_record(seq: str) -> dict[str, Any]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "customer-1",
            "sequenceNumber": seq,
            "data": "eyJpZCI6MX0=",
            "approximateArrivalTimestamp": 1763781158.85,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000001:{seq}",
        "eventName": "aws:kinesis:record",
        "awsRegion": "us-east-1",
        "eventSourceARN": KINESIS_ARN,
    }


class TestPointers:
    def test_kinesis_batch_info_is_a_kinesis_pointer(self) -> None:
        classified = classify_message(json.dumps(on_failure()))
        assert classified.kind == "kinesis-pointer"
        assert classified.reason == ""
        assert classified.pointer == Pointer(
            source="kinesis",
            stream_arn=KINESIS_ARN,
            shard_id="shardId-000000000001",
            start=SEQ_START,
            end=SEQ_END,
            batch_size=3,
            failure={
                "condition": "RetryAttemptsExhausted",
                "functionError": "Unhandled",
                "approximateInvokeCount": 3,
                "functionArn": FUNCTION_ARN,
            },
        )
        assert classified.payload_records == []
        assert classified.redrive_record is None

    def test_ddb_stream_batch_info_is_a_dynamodb_pointer(self) -> None:
        body = on_failure(
            "DDBStreamBatchInfo", streamArn=TABLE_STREAM_ARN, startSequenceNumber="310", endSequenceNumber="314"
        )
        classified = classify_message(json.dumps(body))
        assert classified.kind == "dynamodb-pointer"
        assert classified.pointer is not None
        assert classified.pointer.source == "dynamodb"
        assert (classified.pointer.start, classified.pointer.end) == ("310", "314")
        assert classified.pointer.stream_arn == TABLE_STREAM_ARN

    def test_equal_start_and_end_is_a_one_record_range(self) -> None:
        classified = classify_message(json.dumps(on_failure(endSequenceNumber=SEQ_START, batchSize=1)))
        assert classified.kind == "kinesis-pointer"

    def test_start_and_end_compare_as_integers_not_strings(self) -> None:
        # "9" > "10" as strings; as numbers the range is fine.
        classified = classify_message(json.dumps(on_failure(startSequenceNumber="9", endSequenceNumber="10")))
        assert classified.kind == "kinesis-pointer"

    def test_pointer_round_trips_through_json(self) -> None:
        classified = classify_message(json.dumps(on_failure()))
        assert classified.pointer is not None
        assert Pointer.from_json(json.loads(json.dumps(classified.pointer.to_json()))) == classified.pointer


class TestS3Destination:
    def payload(self) -> dict[str, Any]:
        return {"Records": [kinesis_event_record(SEQ_START), kinesis_event_record(SEQ_END)]}

    def test_payload_as_a_json_string(self) -> None:
        body = {**on_failure(), "payload": json.dumps(self.payload())}
        classified = classify_message(json.dumps(body))
        assert classified.kind == "s3-destination"
        assert classified.pointer is not None and classified.pointer.source == "kinesis"
        assert [r["kinesis"]["sequenceNumber"] for r in classified.payload_records] == [SEQ_START, SEQ_END]

    def test_payload_as_an_object(self) -> None:
        body = {**on_failure(), "payload": self.payload()}
        classified = classify_message(json.dumps(body))
        assert classified.kind == "s3-destination"
        assert len(classified.payload_records) == 2

    def test_non_object_entries_of_records_are_skipped(self) -> None:
        body = {**on_failure(), "payload": {"Records": [kinesis_event_record(SEQ_START), "junk", 3]}}
        classified = classify_message(json.dumps(body))
        assert classified.kind == "s3-destination"
        assert len(classified.payload_records) == 1

    @pytest.mark.parametrize(
        "payload",
        [
            pytest.param({"NotRecords": []}, id="object-without-Records"),
            pytest.param({"Records": "x"}, id="Records-not-a-list"),
            pytest.param("not json {", id="string-not-json"),
            pytest.param(json.dumps([1, 2]), id="string-json-array"),
            pytest.param(None, id="null"),
            pytest.param(42, id="number"),
        ],
    )
    def test_payload_without_records_is_unrecognised(self, payload: Any) -> None:
        body = {**on_failure(), "payload": payload}
        classified = classify_message(json.dumps(body))
        assert classified.kind == "unrecognised"
        assert classified.reason == "payload is not a stream event with Records"
        assert classified.pointer is None


class TestRedriveRecord:
    def test_inline_record(self) -> None:
        marker = {"version": "1", "kind": "record", "recordId": "shardId-1:5", "record": {"source": "kinesis"}}
        classified = classify_message(json.dumps({REDRIVE_MARKER: marker}))
        assert classified.kind == "redrive-record"
        assert classified.redrive_record == marker
        assert classified.pointer is None

    def test_record_by_reference(self) -> None:
        marker = {"kind": "record", "record": None, "recordRef": {"bucket": "b", "key": "runs/r/records/x.json"}}
        classified = classify_message(json.dumps({REDRIVE_MARKER: marker}))
        assert classified.kind == "redrive-record"
        assert classified.redrive_record == marker

    @pytest.mark.parametrize(
        "marker",
        [
            pytest.param({"kind": "batch", "record": {"source": "kinesis"}}, id="unknown-kind"),
            pytest.param({"record": {"source": "kinesis"}}, id="no-kind"),
            pytest.param({"kind": "record"}, id="neither-record-nor-ref"),
            pytest.param({"kind": "record", "record": "text"}, id="record-not-an-object"),
        ],
    )
    def test_unknown_stream_redrive_messages_are_unrecognised(self, marker: dict[str, Any]) -> None:
        classified = classify_message(json.dumps({REDRIVE_MARKER: marker}))
        assert classified.kind == "unrecognised"
        assert classified.reason == f"{REDRIVE_MARKER} message of an unknown kind"


class TestUnrecognised:
    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            pytest.param("not json", "body is not JSON", id="not-json"),
            pytest.param("", "body is not JSON", id="empty"),
            pytest.param("[1, 2]", "body is not a JSON object", id="array"),
            pytest.param('"a string"', "body is not a JSON object", id="string"),
            pytest.param("null", "body is not a JSON object", id="null"),
            pytest.param('{"note": "hello"}', "no KinesisBatchInfo or DDBStreamBatchInfo object", id="plain-object"),
            pytest.param(
                '{"KinesisBatchInfo": "x"}', "no KinesisBatchInfo or DDBStreamBatchInfo object", id="info-not-object"
            ),
        ],
    )
    def test_bodies_that_are_no_pointer(self, body: str, reason: str) -> None:
        classified = classify_message(body)
        assert (classified.kind, classified.reason) == ("unrecognised", reason)
        assert classified.pointer is None

    def test_both_batch_infos_is_ambiguous(self) -> None:
        body = on_failure()
        body["DDBStreamBatchInfo"] = batch_info(streamArn=TABLE_STREAM_ARN)
        classified = classify_message(json.dumps(body))
        assert classified.kind == "unrecognised"
        assert "KinesisBatchInfo" in classified.reason

    @pytest.mark.parametrize(
        "missing", ["shardId", "startSequenceNumber", "endSequenceNumber", "batchSize", "streamArn"]
    )
    def test_missing_field_is_named(self, missing: str) -> None:
        body = on_failure()
        del body["KinesisBatchInfo"][missing]
        classified = classify_message(json.dumps(body))
        assert classified.kind == "unrecognised"
        assert classified.reason == f"KinesisBatchInfo lacks {missing}"

    def test_empty_string_field_counts_as_missing(self) -> None:
        classified = classify_message(json.dumps(on_failure("DDBStreamBatchInfo", shardId="", streamArn="")))
        assert classified.kind == "unrecognised"
        assert classified.reason == "DDBStreamBatchInfo lacks shardId, streamArn"

    @pytest.mark.parametrize(
        "overrides",
        [
            pytest.param({"startSequenceNumber": "49656x"}, id="start-not-digits"),
            pytest.param({"endSequenceNumber": "1.5"}, id="end-decimal"),
            pytest.param({"startSequenceNumber": {"n": 1}}, id="start-object"),
            pytest.param({"batchSize": "three"}, id="batch-size-text"),
        ],
    )
    def test_non_integer_sequence_numbers(self, overrides: dict[str, Any]) -> None:
        classified = classify_message(json.dumps(on_failure(**overrides)))
        assert classified.kind == "unrecognised"
        assert "not an integer" in classified.reason

    def test_start_after_end_is_an_empty_range(self) -> None:
        classified = classify_message(json.dumps(on_failure(startSequenceNumber=SEQ_END, endSequenceNumber=SEQ_START)))
        assert classified.kind == "unrecognised"
        assert classified.reason == "KinesisBatchInfo has an empty range"

    def test_long_numbers_are_not_compared_as_floats(self) -> None:
        # Differ only in the last digit: a float comparison would call them equal.
        start = "49656632116218945776331460766277046186802519735914561555"
        end = "49656632116218945776331460766277046186802519735914561554"
        classified = classify_message(json.dumps(on_failure(startSequenceNumber=start, endSequenceNumber=end)))
        assert classified.kind == "unrecognised"

    def test_zero_batch_size_is_an_empty_range(self) -> None:
        classified = classify_message(json.dumps(on_failure(batchSize=0)))
        assert classified.kind == "unrecognised"
        assert classified.reason == "KinesisBatchInfo has an empty range"


class TestFailureContext:
    def test_fields_from_request_and_response_context(self) -> None:
        assert failure_context(on_failure()) == {
            "condition": "RetryAttemptsExhausted",
            "functionError": "Unhandled",
            "approximateInvokeCount": 3,
            "functionArn": FUNCTION_ARN,
        }

    def test_record_age_exceeded_has_no_response_context(self) -> None:
        body = {"requestContext": {"condition": "RecordAgeExceeded", "approximateInvokeCount": 1}}
        assert failure_context(body) == {
            "condition": "RecordAgeExceeded",
            "functionError": None,
            "approximateInvokeCount": 1,
            "functionArn": None,
        }

    def test_null_contexts_give_all_none(self) -> None:
        context = failure_context({"requestContext": None, "responseContext": None})
        assert set(context) == {"condition", "functionError", "approximateInvokeCount", "functionArn"}
        assert all(value is None for value in context.values())
