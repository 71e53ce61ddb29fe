"""Build the RuleDocument a rule sees from a fetched record.

The record is a :class:`~redrive.contracts.records.StreamRecord`, or its JSON form:
Kinesis ``{"source": "kinesis", "shardId", "sequenceNumber", "partitionKey",
"payload": base64}``; DynamoDB ``{"source": "dynamodb", "shardId", "sequenceNumber",
"partitionKey"?, "keys", "newImage", "eventName"}`` with images in DynamoDB JSON.

Choices:
- Kinesis ``text`` is the payload decoded as UTF-8 (None if it is not UTF-8); ``data``
  is ``text`` parsed as strict JSON (None if it is not JSON; NaN and Infinity are not JSON).
- DynamoDB ``data`` is the NewImage as plain JSON (None when there is no NewImage, as for
  REMOVE events or KEYS_ONLY streams); ``text`` is ``data`` as compact JSON.
- DynamoDB ``partitionKey`` is the record's own ``partitionKey`` when the fetch step set
  one, else the Keys in DynamoDB JSON, sorted and compact (``{"pk":{"S":"order#1"}}``),
  which is what the fetch step and the reports use.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from redrive.contracts.records import StreamRecord
from redrive.rules.base import FailureContext, InvalidRecord, RuleDocument
from redrive.rules.dynamodb_json import InvalidAttributeValue, image_to_json
from redrive.rules.json_values import JsonValue


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_json_text(text: str) -> JsonValue:
    """``text`` parsed as strict JSON; raises ValueError when it is not JSON."""
    try:
        parsed: JsonValue = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    return parsed


def _kinesis_payload(record: Mapping[str, Any]) -> tuple[JsonValue, str | None]:
    payload = record.get("payload")
    if not isinstance(payload, str):
        raise InvalidRecord("Kinesis record has no 'payload' (base64 string)")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRecord("Kinesis record 'payload' is not valid base64") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, None
    try:
        return parse_json_text(text), text
    except ValueError:
        return None, text


def _dynamodb_image(record: Mapping[str, Any]) -> tuple[JsonValue, str | None]:
    image = record.get("newImage")
    if image is None:
        return None, None
    try:
        data = image_to_json(image, "newImage")
    except InvalidAttributeValue as err:
        raise InvalidRecord(f"DynamoDB record has a malformed NewImage: {err}") from None
    return data, json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def dynamodb_keys_text(keys: Mapping[str, Any]) -> str:
    """The Keys (DynamoDB JSON) rendered compactly and stably."""
    return json.dumps(keys, sort_keys=True, separators=(",", ":"), default=str)


def _failure(failure: Mapping[str, Any] | None) -> FailureContext:
    failure = failure or {}
    count = failure.get("approximateInvokeCount")
    if isinstance(count, str) and count.isdigit():
        count = int(count)
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        raise InvalidRecord(f"failure 'approximateInvokeCount' is {count!r}; expected an integer")
    attempts = failure.get("redriveAttempts") or 0
    if isinstance(attempts, bool) or not isinstance(attempts, int):
        raise InvalidRecord(f"failure 'redriveAttempts' is {attempts!r}; expected an integer")
    return {
        "condition": failure.get("condition"),
        "functionError": failure.get("functionError"),
        "approximateInvokeCount": count,
        "redriveAttempts": attempts,
    }


def _required_text(record: Mapping[str, Any], field: str) -> str:
    value = record.get(field)
    if not isinstance(value, str) or not value:
        raise InvalidRecord(f"record has no {field!r}")
    return value


def rule_document(record: StreamRecord | Mapping[str, Any], failure: Mapping[str, Any] | None = None) -> RuleDocument:
    """The RuleDocument for one fetched record; raises InvalidRecord if the record is malformed.

    ``failure`` holds the pointer's condition, functionError and approximateInvokeCount;
    when it is None the record's own ``failure`` field is used, if any.
    """
    if isinstance(record, StreamRecord):
        record = record.to_json()
    source = record.get("source")
    if source == "kinesis":
        data, text = _kinesis_payload(record)
        partition_key = record.get("partitionKey")
        event_name = None
    elif source == "dynamodb":
        data, text = _dynamodb_image(record)
        partition_key = record.get("partitionKey")
        keys = record.get("keys")
        if partition_key is None and isinstance(keys, Mapping):
            partition_key = dynamodb_keys_text(keys)
        event_name = record.get("eventName")
    else:
        raise InvalidRecord(f"record 'source' is {source!r}; expected 'kinesis' or 'dynamodb'")
    return {
        "data": data,
        "text": text,
        "partitionKey": partition_key,
        "sequenceNumber": _required_text(record, "sequenceNumber"),
        "shardId": _required_text(record, "shardId"),
        "source": source,
        "eventName": event_name,
        "failure": _failure(failure if failure is not None else record.get("failure")),
    }
