"""The event a consumer receives from its event source mapping, rebuilt for a redrive.

The ``invoke`` target sends the consumer exactly the shape Lambda's Kinesis or
DynamoDB Streams event source mapping sends (AWS Lambda Developer Guide, the example
events), so the consumer cannot tell a redrive from a first delivery, apart from the
repaired data. ``batchItemFailures`` in its answer names records by sequence number.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def _epoch(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value)).timestamp()


def event_record(record: dict[str, Any], region: str) -> dict[str, Any]:
    """One entry of ``Records`` for an internal record (see core/records.py)."""
    if record["source"] == "kinesis":
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": record.get("partitionKey"),
                "sequenceNumber": record["sequenceNumber"],
                "data": record.get("payload", ""),
                "approximateArrivalTimestamp": round(_epoch(record.get("approximateArrival")), 3),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{record['shardId']}:{record['sequenceNumber']}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": record.get("invokeIdentityArn", ""),
            "awsRegion": region,
            "eventSourceARN": record.get("streamArn"),
        }
    dynamodb: dict[str, Any] = {"ApproximateCreationDateTime": int(_epoch(record.get("approximateArrival")))}
    for name, key in (("Keys", "keys"), ("NewImage", "newImage"), ("OldImage", "oldImage")):
        if record.get(key) is not None:
            dynamodb[name] = record[key]
    dynamodb["SequenceNumber"] = record["sequenceNumber"]
    dynamodb["SizeBytes"] = record.get("sizeBytes") or len(json.dumps([record.get("keys"), record.get("newImage")]))
    dynamodb["StreamViewType"] = record.get("streamViewType") or "NEW_AND_OLD_IMAGES"
    return {
        "eventID": record.get("eventId") or record["sequenceNumber"],
        "eventName": record.get("eventName") or "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": record.get("streamArn"),
    }


def invocation_event(records: list[dict[str, Any]], region: str) -> dict[str, Any]:
    return {"Records": [event_record(r, region) for r in records]}


def failed_item_ids(response: Any, records: list[dict[str, Any]]) -> set[str] | None:
    """Sequence numbers the consumer reported failed, or None when the whole batch failed.

    As the event source mapping reads it: null, no key, or an empty list means success;
    an entry whose itemIdentifier names no record of the batch fails the whole batch.
    """
    if not isinstance(response, dict) or response.get("batchItemFailures") in (None, []):
        return set()
    failures = response["batchItemFailures"]
    if not isinstance(failures, list):
        return None
    known = {r["sequenceNumber"] for r in records}
    failed: set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in known:
            return None
        failed.add(str(ident))
    return failed
