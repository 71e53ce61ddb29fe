"""The shapes an event source mapping sends: invocation events and on-failure records.

Field for field as the AWS Lambda Developer Guide shows them:
- Kinesis invocation event ("Using Lambda to process records from Amazon Kinesis Data
  Streams", example event) and DynamoDB Streams invocation event ("Using AWS Lambda with
  Amazon DynamoDB", example event);
- on-failure invocation records for SQS/SNS and for S3 ("Retain discarded batch records for
  a Kinesis Data Streams event source in Lambda"; "Retain discarded records for a DynamoDB
  event source in Lambda"): ``requestContext``, ``responseContext``, ``version`` "1.0",
  ``timestamp``, ``KinesisBatchInfo`` / ``DDBStreamBatchInfo``, and for S3 ``payload``, the
  whole invocation event as an escaped JSON string, in an object named
  ``aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<Random UUID>``.

Not shown in the guide, taken from records AWS produced: a ``RecordAgeExceeded`` record has
no ``responseContext``; after a ReportBatchItemFailures response its ``functionError`` is
null. Kinesis arrival times carry milliseconds, DynamoDB's whole seconds (as the guide's
two examples do).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from redrive.contracts.records import from_dynamodb_get_records, from_kinesis_get_records
from redrive.contracts.stream_events import event_record

SourceKind = Literal["kinesis", "dynamodb"]
Condition = Literal["RetryAttemptsExhausted", "RecordAgeExceeded"]

ON_FAILURE_VERSION = "1.0"


@dataclass(frozen=True)
class StreamRecord:
    """One stream record: its sequence number, arrival time and its entry in ``Records``."""

    sequence_number: str
    arrival: float  # epoch seconds: approximateArrivalTimestamp / ApproximateCreationDateTime
    event_record: dict[str, Any]

    @property
    def position(self) -> int:
        return int(self.sequence_number)


@dataclass(frozen=True)
class ResponseContext:
    """What the last invocation of a failed batch returned."""

    status_code: int
    executed_version: str
    function_error: str | None  # "Unhandled", or None when the function returned normally

    def to_json(self) -> dict[str, Any]:
        return {
            "statusCode": self.status_code,
            "executedVersion": self.executed_version,
            "functionError": self.function_error,
        }


def source_kind(event_source_arn: str) -> SourceKind:
    service = event_source_arn.split(":")[2]
    if service == "kinesis":
        return "kinesis"
    if service == "dynamodb":
        return "dynamodb"
    raise ValueError(f"not a stream event source: {event_source_arn}")


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


@dataclass(frozen=True)
class MappingConfig:
    """The stream settings of one event source mapping, as the Lambda API lists them."""

    uuid: str
    function_arn: str
    source_arn: str
    kind: SourceKind
    batch_size: int
    starting_position: str
    starting_position_timestamp: Any
    maximum_retry_attempts: int
    maximum_record_age: int
    bisect: bool
    report_item_failures: bool
    destination: str

    @classmethod
    def from_api(cls, m: dict[str, Any]) -> MappingConfig:
        return cls(
            uuid=m["UUID"],
            function_arn=m["FunctionArn"],
            source_arn=m["EventSourceArn"],
            kind=source_kind(m["EventSourceArn"]),
            batch_size=int(m.get("BatchSize") or 100),
            starting_position=m.get("StartingPosition") or "TRIM_HORIZON",
            starting_position_timestamp=m.get("StartingPositionTimestamp"),
            maximum_retry_attempts=int(m.get("MaximumRetryAttempts", -1)),
            maximum_record_age=int(m.get("MaximumRecordAgeInSeconds", -1)),
            bisect=str(m.get("BisectBatchOnFunctionError", False)).lower() == "true",
            report_item_failures="ReportBatchItemFailures" in (m.get("FunctionResponseTypes") or []),
            destination=((m.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination") or "",
        )

    @property
    def region(self) -> str:
        return self.source_arn.split(":")[3]


def reported_failures(payload: Any, batch: list[StreamRecord]) -> tuple[Literal["ok", "partial", "invalid"], int]:
    """Read a ReportBatchItemFailures response: ("ok", -1), ("partial", index of the lowest
    reported record) or ("invalid", -1) when the whole batch counts as failed."""
    failures = payload.get("batchItemFailures") if isinstance(payload, dict) else None
    if failures is None or failures == []:
        return "ok", -1
    if not isinstance(failures, list):
        return "invalid", -1
    index = {r.sequence_number: i for i, r in enumerate(batch)}
    found = []
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in index:
            return "invalid", -1
        found.append(index[identifier])
    return "partial", min(found)


def kinesis_record(raw: dict[str, Any], shard_id: str, stream_arn: str, region: str, role_arn: str) -> StreamRecord:
    """A Kinesis GetRecords record as Lambda delivers it (``data`` base64), built by the
    product's own event builder (the redrive's invoke target sends the same shape)."""
    record = from_kinesis_get_records(raw, stream_arn, shard_id).model_copy(update={"invoke_identity_arn": role_arn})
    arrival = round(_epoch(raw["ApproximateArrivalTimestamp"]), 3)
    return StreamRecord(record.sequence_number, arrival, event_record(record, region))


def dynamodb_record(raw: dict[str, Any], stream_arn: str, region: str) -> StreamRecord:
    """A DynamoDB Streams GetRecords record as Lambda delivers it: ``eventVersion`` "1.1",
    ``ApproximateCreationDateTime`` in epoch seconds (rounded down, as DynamoDB Streams
    keeps it), ``eventSourceARN`` added; built by the product's own event builder."""
    record = from_dynamodb_get_records(raw, stream_arn, "-")
    created = float(math.floor(_epoch(raw["dynamodb"]["ApproximateCreationDateTime"])))
    return StreamRecord(record.sequence_number, created, event_record(record, region))


def invocation_event(records: list[StreamRecord]) -> dict[str, Any]:
    return {"Records": [r.event_record for r in records]}


def iso_millis(epoch: float) -> str:
    """``2019-11-14T00:38:06.021Z``"""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_seconds(epoch: float) -> str:
    """``2019-11-14T00:13:19Z``"""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def batch_info(
    kind: SourceKind, shard_id: str, records: list[StreamRecord], stream_arn: str
) -> tuple[str, dict[str, Any]]:
    """``KinesisBatchInfo`` or ``DDBStreamBatchInfo`` (name, value) for a discarded batch."""
    arrival = iso_millis if kind == "kinesis" else iso_seconds
    info = {
        "shardId": shard_id,
        "startSequenceNumber": records[0].sequence_number,
        "endSequenceNumber": records[-1].sequence_number,
        "approximateArrivalOfFirstRecord": arrival(records[0].arrival),
        "approximateArrivalOfLastRecord": arrival(records[-1].arrival),
        "batchSize": len(records),
        "streamArn": stream_arn,
    }
    return ("KinesisBatchInfo" if kind == "kinesis" else "DDBStreamBatchInfo"), info


def on_failure_record(
    *,
    kind: SourceKind,
    request_id: str,
    function_arn: str,
    condition: Condition,
    approximate_invoke_count: int,
    response: ResponseContext | None,
    timestamp: float,
    shard_id: str,
    records: list[StreamRecord],
    stream_arn: str,
) -> dict[str, Any]:
    """The invocation record sent to an SQS queue or SNS topic (metadata only)."""
    message: dict[str, Any] = {
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": approximate_invoke_count,
        }
    }
    if response is not None:
        message["responseContext"] = response.to_json()
    message["version"] = ON_FAILURE_VERSION
    message["timestamp"] = iso_millis(timestamp)
    name, info = batch_info(kind, shard_id, records, stream_arn)
    message[name] = info
    return message


def s3_on_failure_record(message: dict[str, Any], records: list[StreamRecord]) -> dict[str, Any]:
    """The S3 form: the same fields plus ``payload``, the whole invocation event as an
    escaped JSON string."""
    return {**message, "payload": json.dumps(invocation_event(records))}


def s3_object_key(mapping_uuid: str, shard_id: str, when: float, random_uuid: str) -> str:
    """``aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<Random UUID>``"""
    t = datetime.fromtimestamp(when, UTC)
    return f"aws/lambda/{mapping_uuid}/{shard_id}/{t:%Y/%m/%d}/{t:%Y-%m-%dT%H.%M.%S}-{random_uuid}"
