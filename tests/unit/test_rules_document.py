"""The RuleDocument built from fetched records, and the DynamoDB JSON converter."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from redrive.rules import InvalidRecord, rule_document
from redrive.rules.dynamodb_json import (
    InvalidAttributeValue,
    from_attribute_value,
    image_to_json,
    json_to_image,
    to_attribute_value,
)
from redrive.rules.json_values import JsonValue

FAILURE = {"condition": "RecordAgeExceeded", "functionError": None, "approximateInvokeCount": 1}


def kinesis(payload: bytes, **extra: Any) -> dict[str, Any]:
    record = {
        "source": "kinesis",
        "shardId": "shardId-000000000001",
        "sequenceNumber": "4959",
        "partitionKey": "customer-9",
        "payload": base64.b64encode(payload).decode(),
    }
    record.update(extra)
    return record


def dynamodb(**extra: Any) -> dict[str, Any]:
    record = {
        "source": "dynamodb",
        "shardId": "shardId-00000001700000000000-abcdef01",
        "sequenceNumber": "300000000000000499659",
        "eventName": "MODIFY",
        "keys": {"sk": {"N": "2"}, "pk": {"S": "order#1"}},
        "newImage": {"pk": {"S": "order#1"}, "sk": {"N": "2"}, "total": {"N": "12.50"}, "paid": {"BOOL": True}},
    }
    record.update(extra)
    return record


class TestKinesisDocument:
    def test_json_payload(self) -> None:
        document = rule_document(kinesis(b'{"type": "order", "amount": "12"}'), FAILURE)
        assert document == {
            "data": {"type": "order", "amount": "12"},
            "text": '{"type": "order", "amount": "12"}',
            "partitionKey": "customer-9",
            "sequenceNumber": "4959",
            "shardId": "shardId-000000000001",
            "source": "kinesis",
            "eventName": None,
            "failure": {
                "condition": "RecordAgeExceeded",
                "functionError": None,
                "approximateInvokeCount": 1,
                "redriveAttempts": 0,
            },
        }

    def test_text_that_is_not_json(self) -> None:
        document = rule_document(kinesis("héllo, not json".encode()), FAILURE)
        assert (document["data"], document["text"]) == (None, "héllo, not json")

    def test_bytes_that_are_not_utf8(self) -> None:
        document = rule_document(kinesis(b"\x89PNG\r\n\x1a\n\xff"), FAILURE)
        assert (document["data"], document["text"]) == (None, None)

    @pytest.mark.parametrize("payload", [b"NaN", b'{"a": Infinity}', b"-Infinity", b""])
    def test_non_standard_json_is_not_json(self, payload: bytes) -> None:
        document = rule_document(kinesis(payload), FAILURE)
        assert document["data"] is None
        assert document["text"] == payload.decode()

    def test_json_scalars_are_data(self) -> None:
        assert rule_document(kinesis(b"42"), FAILURE)["data"] == 42
        assert rule_document(kinesis(b'"s"'), FAILURE)["data"] == "s"
        assert rule_document(kinesis(b"[1, 2.5]"), FAILURE)["data"] == [1, 2.5]

    def test_deeply_nested_json_is_not_data_rather_than_a_crash(self) -> None:
        document = rule_document(kinesis(b"[" * 100_000 + b"]" * 100_000), FAILURE)
        assert document["data"] is None

    def test_failure_defaults_to_the_records_own_then_to_nothing(self) -> None:
        record = kinesis(b"{}", failure={"condition": "RetryAttemptsExhausted", "approximateInvokeCount": "4"})
        assert rule_document(record)["failure"] == {
            "condition": "RetryAttemptsExhausted",
            "functionError": None,
            "approximateInvokeCount": 4,
            "redriveAttempts": 0,
        }
        assert rule_document(kinesis(b"{}"))["failure"] == {
            "condition": None,
            "functionError": None,
            "approximateInvokeCount": None,
            "redriveAttempts": 0,
        }
        again = kinesis(b"{}", failure={"condition": "RetryAttemptsExhausted", "redriveAttempts": 2})
        assert rule_document(again)["failure"]["redriveAttempts"] == 2

    @pytest.mark.parametrize(
        ("record", "message"),
        [
            ({**kinesis(b"{}"), "payload": "@@not base64@@"}, "'payload' is not valid base64"),
            ({**kinesis(b"{}"), "payload": None}, "Kinesis record has no 'payload'"),
            (kinesis(b"{}", source="sqs"), "record 'source' is 'sqs'; expected 'kinesis' or 'dynamodb'"),
            (kinesis(b"{}", sequenceNumber=None), "record has no 'sequenceNumber'"),
            (kinesis(b"{}", shardId=""), "record has no 'shardId'"),
            (kinesis(b"{}", failure={"approximateInvokeCount": "three"}), "'approximateInvokeCount' is 'three'"),
        ],
    )
    def test_malformed_record_is_an_invalid_record(self, record: dict[str, Any], message: str) -> None:
        with pytest.raises(InvalidRecord, match=message):
            rule_document(record)


class TestDynamoDBDocument:
    def test_new_image_as_plain_json(self) -> None:
        document = rule_document(dynamodb(), FAILURE)
        assert document["data"] == {"pk": "order#1", "sk": 2, "total": 12.5, "paid": True}
        assert document["text"] == '{"pk":"order#1","sk":2,"total":12.5,"paid":true}'
        assert document["eventName"] == "MODIFY"
        assert document["source"] == "dynamodb"

    def test_partition_key_is_the_keys_sorted_and_compact(self) -> None:
        assert rule_document(dynamodb(), FAILURE)["partitionKey"] == '{"pk":{"S":"order#1"},"sk":{"N":"2"}}'

    def test_partition_key_set_by_the_fetch_step_is_kept(self) -> None:
        assert rule_document(dynamodb(partitionKey="given"), FAILURE)["partitionKey"] == "given"

    def test_remove_event_has_no_data(self) -> None:
        document = rule_document(dynamodb(eventName="REMOVE", newImage=None), FAILURE)
        assert (document["data"], document["text"], document["eventName"]) == (None, None, "REMOVE")

    def test_malformed_image_is_an_invalid_record(self) -> None:
        with pytest.raises(InvalidRecord, match=r"malformed NewImage: newImage\.total: N 'lots' is not a number"):
            rule_document(dynamodb(newImage={"total": {"N": "lots"}}), FAILURE)


class TestFromAttributeValue:
    @pytest.mark.parametrize(
        ("attribute", "expected"),
        [
            ({"S": "x"}, "x"),
            ({"N": "12"}, 12),
            ({"N": "-0"}, 0),
            ({"N": "12.50"}, 12.5),
            ({"N": "1E+2"}, 100),
            ({"N": "0.1"}, 0.1),
            ({"N": "123456789012345678901234567890"}, 123456789012345678901234567890),
            ({"BOOL": False}, False),
            ({"NULL": True}, None),
            ({"M": {"a": {"L": [{"N": "1"}, {"S": "b"}, {"M": {}}]}}}, {"a": [1, "b", {}]}),
            ({"SS": ["a", "b"]}, ["a", "b"]),
            ({"NS": ["1", "2.5"]}, [1, 2.5]),
            ({"B": "AAEC"}, "AAEC"),
            ({"B": b"\x00\x01\x02"}, "AAEC"),
            ({"BS": [b"\x00\x01\x02", "AAEC"]}, ["AAEC", "AAEC"]),
        ],
    )
    def test_conversion(self, attribute: dict[str, Any], expected: Any) -> None:
        converted = from_attribute_value(attribute)
        assert converted == expected
        assert type(converted) is type(expected)

    @pytest.mark.parametrize(
        ("attribute", "message"),
        [
            ({"S": "x", "N": "1"}, r"\$: expected an object with exactly one type key"),
            ({}, r"\$: expected an object with exactly one type key"),
            ({"X": "1"}, r"\$: unknown DynamoDB type 'X'"),
            ({"N": 12}, r"\$: N must be a string, got int"),
            ({"N": "NaN"}, r"\$: N 'NaN' is not a finite number"),
            ({"BOOL": "true"}, r"\$: BOOL must be true or false"),
            ({"L": {"S": "x"}}, r"\$: L must be a list, got dict"),
            ({"M": {"a": {"L": [{"N": "x"}]}}}, r"\$\.a\[0\]: N 'x' is not a number"),
            ({"B": 5}, r"\$: binary must be bytes or a base64 string, got int"),
        ],
    )
    def test_malformed_values_say_where(self, attribute: dict[str, Any], message: str) -> None:
        with pytest.raises(InvalidAttributeValue, match=message):
            from_attribute_value(attribute)


class TestToAttributeValue:
    def test_round_trip_of_plain_json(self) -> None:
        data: dict[str, JsonValue] = {
            "s": "x",
            "i": 12,
            "f": 12.5,
            "tiny": 1e-7,
            "big": 1e20,
            "b": True,
            "n": None,
            "l": [1, {"k": []}],
        }
        image = json_to_image(data)
        assert image["f"] == {"N": "12.5"}
        assert image["n"] == {"NULL": True}
        assert image["b"] == {"BOOL": True}
        assert image["l"] == {"L": [{"N": "1"}, {"M": {"k": {"L": []}}}]}
        assert image_to_json(json.loads(json.dumps(image))) == data

    def test_non_finite_float_is_refused(self) -> None:
        with pytest.raises(InvalidAttributeValue, match=r"\$\.x: inf cannot be stored"):
            json_to_image({"x": float("inf")})

    def test_non_json_is_refused(self) -> None:
        with pytest.raises(InvalidAttributeValue, match=r"\$\[0\]: set is not a JSON value"):
            to_attribute_value([{1}])  # type: ignore[list-item]
