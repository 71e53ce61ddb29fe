"""One shape for a stream record, whatever it came from.

A record comes from GetRecords (Kinesis or DynamoDB Streams), from the ``Records`` of a
failed invocation event (an S3 on-failure destination's ``payload``), or from a message
this workflow sent back. Kinesis records carry ``payload`` (base64); DynamoDB records
carry ``keys``/``newImage``/``oldImage`` (DynamoDB JSON) and ``eventName``.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from pydantic import Field, StrictInt, StrictStr, computed_field, field_validator

from .base import Contract, SequenceNumber
from .vocab import Source


class FailureContext(Contract):
    """Why the consumer gave up, from the on-failure pointer message; travels with the record."""

    condition: str | None = None
    function_error: str | None = None
    approximate_invoke_count: StrictInt | None = None
    function_arn: str | None = None
    redrive_attempts: StrictInt = Field(default=0, ge=0)  # runs that redrove it and saw it fail again

    @field_validator("approximate_invoke_count", mode="before")
    @classmethod
    def _count(cls, value: Any) -> int | None:
        """Context, not identity: a count that is not an integer is dropped, never fatal."""
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
            return int(value)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @field_validator("condition", "function_error", "function_arn", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str | None:
        return value if isinstance(value, str) else None


class StreamRecord(Contract):
    source: Source
    stream_arn: StrictStr = ""
    shard_id: StrictStr = Field(min_length=1)
    sequence_number: SequenceNumber
    partition_key: str | None = None
    approximate_arrival: str | None = None
    payload: str | None = None  # Kinesis: the data, base64
    invoke_identity_arn: str | None = None
    event_name: str | None = None  # DynamoDB: INSERT | MODIFY | REMOVE
    event_id: str | None = None
    size_bytes: int | None = None
    keys: dict[str, Any] | None = None
    new_image: dict[str, Any] | None = None
    old_image: dict[str, Any] | None = None
    stream_view_type: str | None = None
    failure: FailureContext = Field(default_factory=FailureContext)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def record_id(self) -> str:
        """The record's identity within a run: its shard and sequence number."""
        return record_id(self.shard_id, self.sequence_number)

    @property
    def position(self) -> int:
        return int(self.sequence_number)

    def without_failure(self) -> StreamRecord:
        return self.model_copy(update={"failure": FailureContext()})


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


def dynamodb_partition_key(keys: dict[str, Any]) -> str:
    """The record's Keys, compact and stable, as the partition key rules and reports show."""
    return json.dumps(keys, sort_keys=True, separators=(",", ":"), default=str)


def from_kinesis_get_records(item: dict[str, Any], stream_arn: str, shard_id: str) -> StreamRecord:
    return StreamRecord(
        source=Source.KINESIS,
        stream_arn=stream_arn,
        shard_id=shard_id,
        sequence_number=str(item["SequenceNumber"]),
        partition_key=item.get("PartitionKey"),
        approximate_arrival=_iso(item.get("ApproximateArrivalTimestamp")),
        payload=_b64(item.get("Data", b"")),
    )


def from_dynamodb_get_records(item: dict[str, Any], stream_arn: str, shard_id: str) -> StreamRecord:
    """A DynamoDB Streams record: GetRecords and the Lambda event share this shape (the
    event adds ``eventSourceARN``, which wins over ``stream_arn`` when present)."""
    ddb = item.get("dynamodb") or {}
    keys = ddb.get("Keys") or {}
    return StreamRecord(
        source=Source.DYNAMODB,
        stream_arn=item.get("eventSourceARN", stream_arn),
        shard_id=shard_id,
        sequence_number=str(ddb["SequenceNumber"]),
        partition_key=dynamodb_partition_key(keys),
        approximate_arrival=_iso(ddb.get("ApproximateCreationDateTime")),
        event_name=item.get("eventName"),
        event_id=item.get("eventID"),
        size_bytes=ddb.get("SizeBytes"),
        keys=keys,
        new_image=ddb.get("NewImage"),
        old_image=ddb.get("OldImage"),
        stream_view_type=ddb.get("StreamViewType"),
    )


def from_invocation_event_record(item: dict[str, Any], stream_arn: str, shard_id: str) -> StreamRecord:
    """A record of a Lambda stream event (as the S3 destination's ``payload`` holds it)."""
    if "kinesis" not in item:
        return from_dynamodb_get_records(item, stream_arn, shard_id)
    kinesis = item["kinesis"]
    return StreamRecord(
        source=Source.KINESIS,
        stream_arn=item.get("eventSourceARN", stream_arn),
        shard_id=shard_id,
        sequence_number=str(kinesis["sequenceNumber"]),
        partition_key=kinesis.get("partitionKey"),
        approximate_arrival=_iso(kinesis.get("approximateArrivalTimestamp")),
        payload=kinesis.get("data", ""),
    )


def seq_in_range(sequence_number: str, start: str, end: str) -> bool:
    """Sequence numbers compare as integers (they are decimal strings of varying length)."""
    return int(start) <= int(sequence_number) <= int(end)
