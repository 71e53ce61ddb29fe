"""One shape for a stream record, whatever it came from.

A record is a plain dict, stored in S3 as JSON:
``{"recordId", "source", "streamArn", "shardId", "sequenceNumber", "partitionKey",
"approximateArrival", "payload" (Kinesis: base64), "keys"/"newImage"/"oldImage"/
"eventName"/"streamViewType" (DynamoDB, DynamoDB-JSON), "failure"}``.
It comes from GetRecords (Kinesis or DynamoDB Streams), or from the ``Records`` of a
failed invocation event carried by an S3 on-failure destination.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any


def record_id(shard_id: str, sequence_number: str) -> str:
    return f"{shard_id}:{sequence_number}"


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value).astimezone().isoformat()
    return str(value) if value is not None else None


def _b64(data: Any) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(bytes(data)).decode()


def from_kinesis_get_records(item: dict[str, Any], stream_arn: str, shard_id: str) -> dict[str, Any]:
    seq = str(item["SequenceNumber"])
    return {
        "recordId": record_id(shard_id, seq),
        "source": "kinesis",
        "streamArn": stream_arn,
        "shardId": shard_id,
        "sequenceNumber": seq,
        "partitionKey": item.get("PartitionKey"),
        "approximateArrival": _iso(item.get("ApproximateArrivalTimestamp")),
        "payload": _b64(item.get("Data", b"")),
    }


def dynamodb_partition_key(keys: dict[str, Any]) -> str:
    """The record's Keys, compact and stable, as the partition key rules and reports show."""
    return json.dumps(keys, sort_keys=True, separators=(",", ":"))


def from_dynamodb_get_records(item: dict[str, Any], stream_arn: str, shard_id: str) -> dict[str, Any]:
    """A DynamoDB Streams record: GetRecords and the Lambda event share this shape (the
    event adds ``eventSourceARN``, which wins over ``stream_arn`` when present)."""
    ddb = item.get("dynamodb", {})
    seq = str(ddb["SequenceNumber"])
    keys = ddb.get("Keys", {})
    return {
        "recordId": record_id(shard_id, seq),
        "source": "dynamodb",
        "streamArn": item.get("eventSourceARN", stream_arn),
        "shardId": shard_id,
        "sequenceNumber": seq,
        "partitionKey": dynamodb_partition_key(keys),
        "approximateArrival": _iso(ddb.get("ApproximateCreationDateTime")),
        "eventName": item.get("eventName"),
        "eventId": item.get("eventID"),
        "sizeBytes": ddb.get("SizeBytes"),
        "keys": keys,
        "newImage": ddb.get("NewImage"),
        "oldImage": ddb.get("OldImage"),
        "streamViewType": ddb.get("StreamViewType"),
    }


def from_invocation_event_record(item: dict[str, Any], stream_arn: str, shard_id: str) -> dict[str, Any]:
    """A record of a Lambda stream event (as the S3 destination's ``payload`` holds it)."""
    if "kinesis" not in item:
        return from_dynamodb_get_records(item, stream_arn, shard_id)
    kinesis = item["kinesis"]
    seq = str(kinesis["sequenceNumber"])
    return {
        "recordId": record_id(shard_id, seq),
        "source": "kinesis",
        "streamArn": item.get("eventSourceARN", stream_arn),
        "shardId": shard_id,
        "sequenceNumber": seq,
        "partitionKey": kinesis.get("partitionKey"),
        "approximateArrival": _iso(kinesis.get("approximateArrivalTimestamp")),
        "payload": kinesis.get("data", ""),
    }


def seq_in_range(sequence_number: str, start: str, end: str) -> bool:
    """Sequence numbers compare as integers (they are decimal strings of varying length)."""
    return int(start) <= int(sequence_number) <= int(end)
