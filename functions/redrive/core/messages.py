"""What a DLQ message is: the kinds the workflow knows, recognised from the body alone.

- ``kinesis-pointer`` / ``dynamodb-pointer``: the event source mapping's on-failure
  record (``KinesisBatchInfo`` / ``DDBStreamBatchInfo``): the records stay in the stream.
- ``s3-destination``: the on-failure record an S3 destination writes: the same metadata
  plus ``payload``, the whole failed invocation event, so the records travel with it.
- ``redrive-record``: a record this workflow sent back after it failed again: the record
  inline, or a reference to it in S3 when it was too large for a message.
- ``unrecognised``: anything else; kept, reported, returned to the DLQ untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

MessageKind = Literal["kinesis-pointer", "dynamodb-pointer", "s3-destination", "redrive-record", "unrecognised"]

REDRIVE_MARKER = "streamRedrive"
BATCH_INFO_KEYS = {"KinesisBatchInfo": "kinesis", "DDBStreamBatchInfo": "dynamodb"}
_POINTER_FIELDS = ("shardId", "startSequenceNumber", "endSequenceNumber", "batchSize", "streamArn")


@dataclass(frozen=True)
class Pointer:
    """A failed batch: a contiguous range of one shard, and why it failed."""

    source: Literal["kinesis", "dynamodb"]
    stream_arn: str
    shard_id: str
    start: str
    end: str
    batch_size: int
    failure: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "streamArn": self.stream_arn,
            "shardId": self.shard_id,
            "startSequenceNumber": self.start,
            "endSequenceNumber": self.end,
            "batchSize": self.batch_size,
            "failure": self.failure,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pointer:
        return cls(
            source=data["source"],
            stream_arn=data["streamArn"],
            shard_id=data["shardId"],
            start=data["startSequenceNumber"],
            end=data["endSequenceNumber"],
            batch_size=int(data["batchSize"]),
            failure=data["failure"],
        )


@dataclass
class ClassifiedMessage:
    kind: MessageKind
    pointer: Pointer | None = None
    payload_records: list[dict[str, Any]] = field(default_factory=list)
    redrive_record: dict[str, Any] | None = None
    reason: str = ""


def failure_context(body: dict[str, Any]) -> dict[str, Any]:
    """The failure fields a rule sees: condition, function error, invoke count."""
    request = body.get("requestContext") or {}
    response = body.get("responseContext") or {}
    return {
        "condition": request.get("condition"),
        "functionError": response.get("functionError"),
        "approximateInvokeCount": request.get("approximateInvokeCount"),
        "functionArn": request.get("functionArn"),
    }


def _pointer(body: dict[str, Any]) -> tuple[Pointer | None, str]:
    found = [key for key in BATCH_INFO_KEYS if isinstance(body.get(key), dict)]
    if len(found) != 1:
        return None, "no KinesisBatchInfo or DDBStreamBatchInfo object"
    info = body[found[0]]
    missing = [name for name in _POINTER_FIELDS if info.get(name) in (None, "")]
    if missing:
        return None, f"{found[0]} lacks {', '.join(missing)}"
    sequence_numbers = (info["startSequenceNumber"], info["endSequenceNumber"])
    if not all(isinstance(s, str) and s.isdigit() for s in sequence_numbers):
        return None, f"{found[0]} has a sequence number that is not an integer (a string of digits)"
    if isinstance(info["batchSize"], bool) or not isinstance(info["batchSize"], int):
        return None, f"{found[0]} has a batchSize that is not an integer"
    start, end, size = int(sequence_numbers[0]), int(sequence_numbers[1]), info["batchSize"]
    if start > end or size < 1:
        return None, f"{found[0]} has an empty range"
    return (
        Pointer(
            source=BATCH_INFO_KEYS[found[0]],  # type: ignore[arg-type]
            stream_arn=str(info["streamArn"]),
            shard_id=str(info["shardId"]),
            start=str(info["startSequenceNumber"]),
            end=str(info["endSequenceNumber"]),
            batch_size=size,
            failure=failure_context(body),
        ),
        "",
    )


def _payload_records(payload: Any) -> list[dict[str, Any]] | None:
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError:
            return None
    if isinstance(payload, dict) and isinstance(payload.get("Records"), list):
        records = [r for r in payload["Records"] if isinstance(r, dict)]
        return records or None
    return None


def classify_message(body_text: str) -> ClassifiedMessage:
    """Recognise a DLQ message body; never raises (unknown bodies are ``unrecognised``)."""
    try:
        body = json.loads(body_text)
    except (json.JSONDecodeError, TypeError):
        return ClassifiedMessage("unrecognised", reason="body is not JSON")
    if not isinstance(body, dict):
        return ClassifiedMessage("unrecognised", reason="body is not a JSON object")
    marker = body.get(REDRIVE_MARKER)
    if isinstance(marker, dict):
        if marker.get("kind") == "record" and (isinstance(marker.get("record"), dict) or marker.get("recordRef")):
            return ClassifiedMessage("redrive-record", redrive_record=marker)
        return ClassifiedMessage("unrecognised", reason=f"{REDRIVE_MARKER} message of an unknown kind")
    pointer, why = _pointer(body)
    if pointer is None:
        return ClassifiedMessage("unrecognised", reason=why)
    if "payload" in body:
        records = _payload_records(body["payload"])
        if records is None:
            return ClassifiedMessage("unrecognised", reason="payload is not a stream event with Records")
        return ClassifiedMessage("s3-destination", pointer=pointer, payload_records=records)
    kind: MessageKind = "kinesis-pointer" if pointer.source == "kinesis" else "dynamodb-pointer"
    return ClassifiedMessage(kind, pointer=pointer)
