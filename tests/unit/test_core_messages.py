"""classify_message: every kind a DLQ body can be, and why the rest are unrecognised."""

from __future__ import annotations

import json
from typing import Any

import pytest

from redrive.contracts.base import compact_json
from redrive.contracts.messages import RecordReference, RedriveMarker
from redrive.contracts.records import FailureContext, StreamRecord
from redrive.contracts.vocab import MessageKind, Source
from redrive.core.messages import MAX_BODY_DEPTH, REDRIVE_MARKER, Pointer, classify_message, failure_context

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


FAILURE = FailureContext(
    condition="RetryAttemptsExhausted",
    function_error="Unhandled",
    approximate_invoke_count=3,
    function_arn=FUNCTION_ARN,
)
RECORD = {
    "source": "kinesis",
    "streamArn": KINESIS_ARN,
    "shardId": "shardId-000000000001",
    "sequenceNumber": "5",
    "payload": "eyJpZCI6MX0=",
}


def unrecognised(body: Any) -> str:
    """Classify ``body`` (JSON-encoded unless it is text): it must be unrecognised, with a reason."""
    classified = classify_message(body if isinstance(body, str) else json.dumps(body))
    assert classified.kind == MessageKind.UNRECOGNISED
    assert classified.pointer is None and classified.marker is None and classified.payload_records == []
    assert classified.reason
    return classified.reason


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
        assert classified.kind == MessageKind.KINESIS_POINTER == "kinesis-pointer"
        assert classified.kind.is_pointer
        assert classified.reason == ""
        assert classified.pointer == Pointer(
            source=Source.KINESIS,
            stream_arn=KINESIS_ARN,
            shard_id="shardId-000000000001",
            start_sequence_number=SEQ_START,
            end_sequence_number=SEQ_END,
            batch_size=3,
            failure=FAILURE,
        )
        assert classified.payload_records == []
        assert classified.marker is None

    def test_ddb_stream_batch_info_is_a_dynamodb_pointer(self) -> None:
        body = on_failure(
            "DDBStreamBatchInfo", streamArn=TABLE_STREAM_ARN, startSequenceNumber="310", endSequenceNumber="314"
        )
        classified = classify_message(json.dumps(body))
        assert classified.kind == "dynamodb-pointer"
        assert classified.pointer is not None
        assert classified.pointer.source == "dynamodb"
        pointer = classified.pointer
        assert (pointer.start_sequence_number, pointer.end_sequence_number) == ("310", "314")
        assert (pointer.start, pointer.end) == (310, 314)
        assert classified.pointer.stream_arn == TABLE_STREAM_ARN

    def test_equal_start_and_end_is_a_one_record_range(self) -> None:
        classified = classify_message(json.dumps(on_failure(endSequenceNumber=SEQ_START, batchSize=1)))
        assert classified.kind == "kinesis-pointer"

    def test_start_and_end_compare_as_integers_not_strings(self) -> None:
        # "9" > "10" as strings; as numbers the range is fine.
        classified = classify_message(json.dumps(on_failure(startSequenceNumber="9", endSequenceNumber="10")))
        assert classified.kind == "kinesis-pointer"

    def test_129_digit_sequence_numbers_are_accepted(self) -> None:
        longest = "9" * 129
        classified = classify_message(json.dumps(on_failure(startSequenceNumber=longest, endSequenceNumber=longest)))
        assert classified.kind == "kinesis-pointer"
        assert classified.pointer is not None and classified.pointer.end == int(longest)

    def test_pointer_round_trips_through_json(self) -> None:
        classified = classify_message(json.dumps(on_failure()))
        assert classified.pointer is not None
        data = json.loads(json.dumps(classified.pointer.to_json()))
        assert data["startSequenceNumber"] == SEQ_START and data["failure"]["functionArn"] == FUNCTION_ARN
        assert Pointer.parse(data) == classified.pointer

    def test_extra_batch_info_fields_are_ignored(self) -> None:
        classified = classify_message(json.dumps(on_failure(somethingNew="x")))
        assert classified.kind == "kinesis-pointer"


class TestS3Destination:
    def payload(self) -> dict[str, Any]:
        return {"Records": [kinesis_event_record(SEQ_START), kinesis_event_record(SEQ_END)]}

    def test_payload_as_a_json_string(self) -> None:
        body = {**on_failure(), "payload": json.dumps(self.payload())}
        classified = classify_message(json.dumps(body))
        assert classified.kind == "s3-destination"
        assert classified.kind.carries_records and classified.kind.counts_as_pointer
        assert classified.pointer is not None and classified.pointer.source == "kinesis"
        assert [r.sequence_number for r in classified.payload_records] == [SEQ_START, SEQ_END]
        for record in classified.payload_records:
            assert isinstance(record, StreamRecord)
            assert (record.source, record.stream_arn, record.shard_id) == (
                Source.KINESIS,
                KINESIS_ARN,
                "shardId-000000000001",
            )
            assert record.payload == "eyJpZCI6MX0="
            assert record.failure == classified.pointer.failure == FAILURE  # the pointer's context travels

    def test_payload_as_an_object(self) -> None:
        body = {**on_failure(), "payload": self.payload()}
        classified = classify_message(json.dumps(body))
        assert classified.kind == "s3-destination"
        assert len(classified.payload_records) == 2

    def test_dynamodb_payload(self) -> None:
        item = {
            "eventID": "1",
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "dynamodb": {"Keys": {"pk": {"S": "a"}}, "NewImage": {"pk": {"S": "a"}}, "SequenceNumber": "311"},
            "eventSourceARN": TABLE_STREAM_ARN,
        }
        info = {"streamArn": TABLE_STREAM_ARN, "startSequenceNumber": "311", "endSequenceNumber": "311"}
        body = {**on_failure("DDBStreamBatchInfo", **info, batchSize=1), "payload": json.dumps({"Records": [item]})}
        classified = classify_message(json.dumps(body))
        assert classified.kind == "s3-destination"
        [record] = classified.payload_records
        assert (record.source, record.record_id, record.new_image) == (
            Source.DYNAMODB,
            "shardId-000000000001:311",
            {"pk": {"S": "a"}},
        )

    def test_non_object_entries_of_records_make_it_unrecognised(self) -> None:
        # Changed with the contracts: junk among the Records is no longer skipped (its
        # records were silently dropped); the whole message is kept as unrecognised.
        body = {**on_failure(), "payload": {"Records": [kinesis_event_record(SEQ_START), "junk", 3]}}
        assert unrecognised(body) == "payload Records[1] is not an object"

    @pytest.mark.parametrize(
        "entry",
        [
            pytest.param({"kinesis": {"sequenceNumber": "x²", "data": ""}}, id="kinesis-bad-sequence-number"),
            pytest.param({"kinesis": {"data": ""}}, id="kinesis-no-sequence-number"),
            pytest.param({"kinesis": "text"}, id="kinesis-not-an-object"),
            pytest.param({"dynamodb": {"Keys": {}}}, id="dynamodb-no-sequence-number"),
            pytest.param({"dynamodb": "text"}, id="dynamodb-not-an-object"),
            pytest.param({"kinesis": {"sequenceNumber": "1", "data": ""}, "eventSourceARN": 7}, id="arn-not-text"),
        ],
    )
    def test_an_unreadable_record_makes_it_unrecognised(self, entry: dict[str, Any]) -> None:
        body = {**on_failure(), "payload": {"Records": [kinesis_event_record(SEQ_START), entry]}}
        assert unrecognised(body)

    @pytest.mark.parametrize(
        ("payload", "reason"),
        [
            pytest.param({"NotRecords": []}, "payload is not a stream event with Records", id="object-without-Records"),
            pytest.param({"Records": "x"}, "payload is not a stream event with Records", id="Records-not-a-list"),
            # Changed with the contracts: a payload string that is not JSON says so.
            pytest.param("not json {", "payload is not JSON", id="string-not-json"),
            pytest.param(json.dumps([1, 2]), "payload is not a stream event with Records", id="string-json-array"),
            pytest.param(None, "payload is not a stream event with Records", id="null"),
            pytest.param(42, "payload is not a stream event with Records", id="number"),
            pytest.param({"Records": []}, "payload has no Records", id="empty-Records"),
        ],
    )
    def test_payload_without_records_is_unrecognised(self, payload: Any, reason: str) -> None:
        body = {**on_failure(), "payload": payload}
        assert unrecognised(body) == reason

    def test_an_invalid_pointer_with_a_payload_is_unrecognised(self) -> None:
        body = {**on_failure(startSequenceNumber="x"), "payload": self.payload()}
        assert unrecognised(body).startswith("KinesisBatchInfo is not a valid pointer")

    def test_every_record_it_accepts_can_be_stored(self) -> None:
        image: dict[str, Any] = {"S": "leaf"}
        for _ in range(150):  # ~300 levels inside the payload string; the body itself is shallow
            image = {"M": {"child": image}}
        item = {
            "eventName": "INSERT",
            "dynamodb": {"Keys": {"pk": {"S": "a"}}, "NewImage": {"doc": image}, "SequenceNumber": "311"},
            "eventSourceARN": TABLE_STREAM_ARN,
        }
        info = {"streamArn": TABLE_STREAM_ARN, "startSequenceNumber": "311", "endSequenceNumber": "311"}
        body = {**on_failure("DDBStreamBatchInfo", **info, batchSize=1), "payload": json.dumps({"Records": [item]})}
        classified = classify_message(json.dumps(body))
        if classified.kind == MessageKind.UNRECOGNISED:
            assert classified.reason
        else:
            for record in classified.payload_records:
                json.dumps(record.to_json())  # what Collect writes to fetched/inline-<messageId>.json


class TestRedriveRecord:
    def test_inline_record(self) -> None:
        marker = {"version": "1", "kind": "record", "recordId": "shardId-000000000001:5", "record": RECORD}
        classified = classify_message(json.dumps({REDRIVE_MARKER: marker}))
        assert classified.kind == "redrive-record"
        assert classified.kind.carries_records and not classified.kind.counts_as_pointer
        assert classified.marker == RedriveMarker.parse(marker)
        assert classified.marker.record == StreamRecord.parse(RECORD)
        assert classified.marker.record_ref is None
        assert classified.pointer is None
        assert classified.payload_records == []

    def test_record_by_reference(self) -> None:
        marker = {"kind": "record", "record": None, "recordRef": {"bucket": "b", "key": "runs/r/records/x.json"}}
        classified = classify_message(json.dumps({REDRIVE_MARKER: marker}))
        assert classified.kind == "redrive-record"
        assert classified.marker is not None
        assert classified.marker.record is None
        assert classified.marker.record_ref == RecordReference(bucket="b", key="runs/r/records/x.json")

    def test_failure_context_and_attempts_travel_with_the_marker(self) -> None:
        marker = {
            "kind": "record",
            "runId": "run-1",
            "reason": "consumer failed again",
            "failure": {"condition": "RetryAttemptsExhausted", "redriveAttempts": 2},
            "record": RECORD,
        }
        classified = classify_message(json.dumps({REDRIVE_MARKER: marker}))
        assert classified.marker is not None
        assert classified.marker.failure == FailureContext(condition="RetryAttemptsExhausted", redrive_attempts=2)
        assert (classified.marker.run_id, classified.marker.reason) == ("run-1", "consumer failed again")

    def test_a_marker_this_workflow_writes_is_recognised(self) -> None:
        # The body Finalize's requeue_body writes for a record that failed again.
        record = StreamRecord.parse(RECORD)
        marker = RedriveMarker(kind="record", record_id=record.record_id, run_id="run-1", reason="r", record=record)
        classified = classify_message(compact_json({REDRIVE_MARKER: marker.to_json()}))
        assert classified.kind == "redrive-record"
        assert classified.marker == marker

    def test_a_requeued_dynamodb_record_with_a_deeply_nested_item_is_recognised(self) -> None:
        image: dict[str, Any] = {"S": "leaf"}
        for _ in range(31):  # doc + 31 nested maps: 32 levels, the most DynamoDB allows
            image = {"M": {"child": image}}
        record = StreamRecord(
            source=Source.DYNAMODB,
            stream_arn=TABLE_STREAM_ARN,
            shard_id="shardId-000000000001",
            sequence_number="311",
            keys={"pk": {"S": "a"}},
            new_image={"pk": {"S": "a"}, "doc": image},
        )
        marker = RedriveMarker(kind="record", record_id=record.record_id, record=record)
        classified = classify_message(compact_json({REDRIVE_MARKER: marker.to_json()}))
        assert classified.kind == "redrive-record", classified.reason

    @pytest.mark.parametrize(
        "marker",
        [
            pytest.param({"kind": "batch", "record": RECORD}, id="unknown-kind"),
            pytest.param({"record": RECORD}, id="no-kind"),
            pytest.param({"kind": "record"}, id="neither-record-nor-ref"),
            pytest.param({"kind": "record", "record": "text"}, id="record-not-an-object"),
            # New with the contracts: the marker must validate.
            pytest.param(
                {"kind": "record", "record": RECORD, "recordRef": {"bucket": "b", "key": "k"}}, id="record-and-ref"
            ),
            pytest.param({"kind": "record", "record": {"source": "kinesis"}}, id="record-incomplete"),
            pytest.param({"kind": "record", "record": {**RECORD, "sequenceNumber": "²"}}, id="record-bad-seq"),
            pytest.param({"kind": "record", "recordRef": {"bucket": "b"}}, id="ref-without-key"),
            pytest.param({"kind": "record", "recordRef": {"bucket": "b", "key": 7}}, id="ref-key-not-text"),
            pytest.param({"kind": "record", "record": RECORD, "recordId": {"shard": "s"}}, id="record-id-object"),
            pytest.param({"kind": "record", "record": RECORD, "failure": "boom"}, id="failure-not-an-object"),
            pytest.param({"kind": "record", "record": RECORD, "failure": ["x"]}, id="failure-a-list"),
            pytest.param(
                {"kind": "record", "record": RECORD, "failure": {"redriveAttempts": -1}}, id="negative-attempts"
            ),
            pytest.param("record", id="marker-text"),
            pytest.param(None, id="marker-null"),
            pytest.param([RECORD], id="marker-list"),
        ],
    )
    def test_invalid_stream_redrive_messages_are_unrecognised(self, marker: Any) -> None:
        reason = unrecognised({REDRIVE_MARKER: marker})
        assert reason.startswith(f"{REDRIVE_MARKER} message is not valid: ")

    def test_an_invalid_marker_is_unrecognised_even_beside_a_pointer(self) -> None:
        # Changed with the contracts: the marker key alone makes it a redrive message;
        # before, a marker that was not an object let the pointer through.
        reason = unrecognised({**on_failure(), REDRIVE_MARKER: None})
        assert reason.startswith(f"{REDRIVE_MARKER} message is not valid")


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
        assert unrecognised(body) == reason

    def test_both_batch_infos_is_ambiguous(self) -> None:
        body = on_failure()
        body["DDBStreamBatchInfo"] = batch_info(streamArn=TABLE_STREAM_ARN)
        assert "KinesisBatchInfo" in unrecognised(body)

    @pytest.mark.parametrize(
        "missing", ["shardId", "startSequenceNumber", "endSequenceNumber", "batchSize", "streamArn"]
    )
    def test_missing_field_is_named(self, missing: str) -> None:
        body = on_failure()
        del body["KinesisBatchInfo"][missing]
        # Changed with the contracts: the reason is the validation error, naming the field.
        assert unrecognised(body) == f"KinesisBatchInfo is not a valid pointer: {missing}: Field required"

    def test_empty_string_field_counts_as_missing(self) -> None:
        reason = unrecognised(on_failure("DDBStreamBatchInfo", shardId="", streamArn=""))
        assert reason.startswith("DDBStreamBatchInfo is not a valid pointer: ")
        assert "shardId" in reason and "streamArn" in reason

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            pytest.param({"startSequenceNumber": "49656x"}, "startSequenceNumber", id="start-not-digits"),
            pytest.param({"endSequenceNumber": "1.5"}, "endSequenceNumber", id="end-decimal"),
            pytest.param({"startSequenceNumber": {"n": 1}}, "startSequenceNumber", id="start-object"),
            pytest.param({"startSequenceNumber": 5}, "startSequenceNumber", id="start-a-json-number"),
            pytest.param({"startSequenceNumber": "-5"}, "startSequenceNumber", id="start-negative"),
            pytest.param({"startSequenceNumber": " 5"}, "startSequenceNumber", id="start-leading-space"),
            pytest.param({"startSequenceNumber": "5\n"}, "startSequenceNumber", id="start-trailing-newline"),
            pytest.param({"startSequenceNumber": "5_0"}, "startSequenceNumber", id="start-underscore"),
            pytest.param({"batchSize": "three"}, "batchSize", id="batch-size-text"),
            pytest.param({"batchSize": "3"}, "batchSize", id="batch-size-digits-as-text"),
            pytest.param({"batchSize": 3.0}, "batchSize", id="batch-size-float"),
            pytest.param({"batchSize": True}, "batchSize", id="batch-size-boolean"),
        ],
    )
    def test_non_integer_sequence_numbers(self, overrides: dict[str, Any], field: str) -> None:
        # Changed with the contracts: the reason names the field that is not an integer.
        reason = unrecognised(on_failure(**overrides))
        assert reason.startswith(f"KinesisBatchInfo is not a valid pointer: {field}: ")

    def test_start_after_end_is_an_empty_range(self) -> None:
        reason = unrecognised(on_failure(startSequenceNumber=SEQ_END, endSequenceNumber=SEQ_START))
        assert reason.startswith("KinesisBatchInfo is not a valid pointer")
        assert "startSequenceNumber is after endSequenceNumber" in reason

    def test_long_numbers_are_not_compared_as_floats(self) -> None:
        # Differ only in the last digit: a float comparison would call them equal.
        start = "49656632116218945776331460766277046186802519735914561555"
        end = "49656632116218945776331460766277046186802519735914561554"
        assert "is after" in unrecognised(on_failure(startSequenceNumber=start, endSequenceNumber=end))

    @pytest.mark.parametrize("size", [0, -1])
    def test_zero_batch_size_is_an_empty_range(self, size: int) -> None:
        reason = unrecognised(on_failure(batchSize=size))
        assert reason.startswith("KinesisBatchInfo is not a valid pointer: batchSize: ")


class TestStricterPointers:
    """New with the contracts: each of these is ``unrecognised`` with a reason, and never raises."""

    @pytest.mark.parametrize(
        "seq",
        [
            pytest.param("²", id="superscript-two"),
            pytest.param("12²", id="digits-then-superscript"),
            pytest.param("١٢٣", id="arabic-indic-digits"),
            pytest.param("\uff11\uff12\uff13", id="fullwidth-digits"),
            pytest.param("४२", id="devanagari-digits"),
        ],
    )
    @pytest.mark.parametrize("field", ["startSequenceNumber", "endSequenceNumber"])
    def test_non_ascii_digits(self, seq: str, field: str) -> None:
        # str.isdigit() accepts these (and int() some of them): the pattern is ASCII only.
        reason = unrecognised(on_failure(**{field: seq}))
        assert reason.startswith(f"KinesisBatchInfo is not a valid pointer: {field}: ")

    @pytest.mark.parametrize("field", ["startSequenceNumber", "endSequenceNumber"])
    def test_130_digit_sequence_numbers(self, field: str) -> None:
        too_long = "1" * 130
        reason = unrecognised(on_failure(startSequenceNumber=too_long, endSequenceNumber=too_long))
        assert field in reason

    @pytest.mark.parametrize(
        ("info_key", "arn"),
        [
            pytest.param("KinesisBatchInfo", TABLE_STREAM_ARN, id="kinesis-pointer-dynamodb-arn"),
            pytest.param("DDBStreamBatchInfo", KINESIS_ARN, id="dynamodb-pointer-kinesis-arn"),
            pytest.param("KinesisBatchInfo", "arn:aws:sqs:us-east-1:123456789012:orders", id="sqs-arn"),
            pytest.param("KinesisBatchInfo", "orders", id="a-bare-name"),
            pytest.param("KinesisBatchInfo", "arn:aws:kinesis", id="truncated-arn"),
            pytest.param("KinesisBatchInfo", "urn:aws:kinesis:us-east-1:123456789012:stream/orders", id="not-arn"),
        ],
    )
    def test_stream_arn_of_the_wrong_service(self, info_key: str, arn: str) -> None:
        service = "kinesis" if info_key == "KinesisBatchInfo" else "dynamodb"
        reason = unrecognised(on_failure(info_key, streamArn=arn))
        assert reason == f"{info_key} has a streamArn that is not a {service} stream ARN"

    @pytest.mark.parametrize("value", [123, ["arn"], {"arn": KINESIS_ARN}, True])
    @pytest.mark.parametrize("field", ["streamArn", "shardId"])
    def test_non_string_stream_arn_or_shard_id(self, field: str, value: Any) -> None:
        reason = unrecognised(on_failure(**{field: value}))
        assert reason.startswith(f"KinesisBatchInfo is not a valid pointer: {field}: ")

    @pytest.mark.parametrize("context", ["a string", [1, 2], 7, True])
    def test_non_object_request_context_is_tolerated(self, context: Any) -> None:
        # Tolerated, not unrecognised: the context is the failure's, not the pointer's.
        body = on_failure()
        body["requestContext"] = context
        body["responseContext"] = context
        classified = classify_message(json.dumps(body))
        assert classified.kind == "kinesis-pointer"
        assert classified.pointer is not None
        assert classified.pointer.failure == FailureContext()

    def test_odd_failure_fields_are_dropped_not_fatal(self) -> None:
        body = on_failure()
        body["requestContext"] = {"condition": 7, "approximateInvokeCount": "lots", "functionArn": ["x"]}
        classified = classify_message(json.dumps(body))
        assert classified.kind == "kinesis-pointer"
        assert classified.pointer is not None
        assert classified.pointer.failure == FailureContext(function_error="Unhandled")

    def test_a_deeply_nested_body(self) -> None:
        deep: Any = "leaf"
        for _ in range(MAX_BODY_DEPTH + 10):
            deep = {"n": deep}
        assert unrecognised({**on_failure(), "extra": deep}) == f"body nests deeper than {MAX_BODY_DEPTH} levels"
        assert unrecognised({REDRIVE_MARKER: deep}) == f"body nests deeper than {MAX_BODY_DEPTH} levels"

    def test_a_deeply_nested_list_body(self) -> None:
        deep: Any = []
        for _ in range(MAX_BODY_DEPTH + 10):
            deep = [deep]
        assert unrecognised({**on_failure(), "extra": deep}) == f"body nests deeper than {MAX_BODY_DEPTH} levels"

    def test_moderate_nesting_is_fine(self) -> None:
        deep: Any = "leaf"
        for _ in range(MAX_BODY_DEPTH // 2):
            deep = {"n": deep}
        assert classify_message(json.dumps({**on_failure(), "extra": deep})).kind == "kinesis-pointer"

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param("[" * 100_000 + "]" * 100_000, id="list-past-the-recursion-limit"),
            pytest.param('{"a":' * 100_000 + "1" + "}" * 100_000, id="object-past-the-recursion-limit"),
        ],
    )
    def test_nesting_past_the_parsers_limit(self, body: str) -> None:
        assert unrecognised(body)

    def test_a_payload_nesting_past_the_parsers_limit(self) -> None:
        assert unrecognised({**on_failure(), "payload": "[" * 100_000 + "]" * 100_000}) == "payload is not JSON"

    @pytest.mark.parametrize(
        "body",
        [
            "{",
            "\ud800",
            '{"KinesisBatchInfo": {}}',
            '{"KinesisBatchInfo": null, "DDBStreamBatchInfo": []}',
            '{"streamRedrive": {"kind": "record", "record": {"source": "sqs"}}}',
            "1e999999",
            "NaN",
            '{"KinesisBatchInfo": {"batchSize": 1e999}}',
        ],
    )
    def test_never_raises(self, body: str) -> None:
        assert classify_message(body).kind in set(MessageKind)


class TestFailureContext:
    def test_fields_from_request_and_response_context(self) -> None:
        assert failure_context(on_failure()) == FAILURE

    def test_record_age_exceeded_has_no_response_context(self) -> None:
        body = {"requestContext": {"condition": "RecordAgeExceeded", "approximateInvokeCount": 1}}
        assert failure_context(body) == FailureContext(condition="RecordAgeExceeded", approximate_invoke_count=1)

    def test_null_contexts_give_all_none(self) -> None:
        context = failure_context({"requestContext": None, "responseContext": None})
        assert context == FailureContext()
        data = context.to_json()
        assert {"condition", "functionError", "approximateInvokeCount", "functionArn"} <= set(data)
        assert all(
            data[name] is None for name in ("condition", "functionError", "approximateInvokeCount", "functionArn")
        )
        assert context.redrive_attempts == 0
