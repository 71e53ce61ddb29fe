"""The event a consumer receives from its event source mapping, rebuilt for a redrive.

The ``invoke`` target sends the consumer exactly the shape Lambda's Kinesis or
DynamoDB Streams event source mapping sends (AWS Lambda Developer Guide, the example
events), so the consumer cannot tell a redrive from a first delivery, apart from the
repaired data. ``batchItemFailures`` in its answer names records by sequence number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .records import StreamRecord
from .vocab import Source


def _epoch(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value)).timestamp()


def event_record(record: StreamRecord, region: str) -> dict[str, Any]:
    """One entry of ``Records`` for a stream record."""
    if record.source is Source.KINESIS:
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": record.partition_key,
                "sequenceNumber": record.sequence_number,
                "data": record.payload or "",
                "approximateArrivalTimestamp": round(_epoch(record.approximate_arrival), 3),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{record.shard_id}:{record.sequence_number}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": record.invoke_identity_arn or "",
            "awsRegion": region,
            "eventSourceARN": record.stream_arn,
        }
    dynamodb: dict[str, Any] = {"ApproximateCreationDateTime": int(_epoch(record.approximate_arrival))}
    for name, value in (("Keys", record.keys), ("NewImage", record.new_image), ("OldImage", record.old_image)):
        if value is not None:
            dynamodb[name] = value
    dynamodb["SequenceNumber"] = record.sequence_number
    dynamodb["SizeBytes"] = record.size_bytes or len(json.dumps([record.keys, record.new_image]))
    dynamodb["StreamViewType"] = record.stream_view_type or "NEW_AND_OLD_IMAGES"
    return {
        "eventID": record.event_id or record.sequence_number,
        "eventName": record.event_name or "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": record.stream_arn,
    }


def invocation_event(records: Sequence[StreamRecord], region: str) -> dict[str, Any]:
    return {"Records": [event_record(r, region) for r in records]}


def failed_item_ids(response: Any, records: Sequence[StreamRecord]) -> set[str] | None:
    """Sequence numbers the consumer reported failed, or None when the whole batch failed.

    As the event source mapping reads it: null, no key, or an empty list means success;
    an entry whose itemIdentifier names no record of the batch fails the whole batch.
    """
    if not isinstance(response, dict) or response.get("batchItemFailures") in (None, []):
        return set()
    failures = response["batchItemFailures"]
    if not isinstance(failures, list):
        return None
    known = {r.sequence_number for r in records}
    failed: set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in known:
            return None
        failed.add(str(ident))
    return failed
