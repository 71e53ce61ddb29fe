"""DLQ messages as the run keeps them, the pointers inside them, and the manifest.

A message is stored exactly as SQS gave it (body, attributes, message attributes with
binary values as base64), so it can go back to the DLQ exactly as it was.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import Field, StrictInt, StrictStr, model_validator

from .base import Contract, SequenceNumber
from .records import FailureContext, StreamRecord
from .vocab import MessageKind, Source

REDRIVE_MARKER = "streamRedrive"
RETURNED_ATTRIBUTE = "StreamRedriveReturnedBy"
"""The message attribute on every message a run sends back to the DLQ (its value: the run
id). A run the DLQ alarm started leaves such messages where they are: they were there
before, and only new failures may start a run and an approval email."""
MAX_MESSAGE_ATTRIBUTES = 10  # SQS's limit per message


class MessageAttribute(Contract):
    """An SQS message attribute; ``binaryValue`` is base64 text in S3, bytes on the wire."""

    data_type: str = Field(alias="DataType")
    string_value: str | None = Field(default=None, alias="StringValue")
    binary_value: str | None = Field(default=None, alias="BinaryValue")

    @classmethod
    def from_sqs(cls, value: dict[str, Any]) -> MessageAttribute:
        binary = value.get("BinaryValue")
        if isinstance(binary, bytes | bytearray):
            binary = base64.b64encode(bytes(binary)).decode()
        return cls(DataType=value["DataType"], StringValue=value.get("StringValue"), BinaryValue=binary)

    def to_sqs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"DataType": self.data_type}
        if self.string_value is not None:
            out["StringValue"] = self.string_value
        if self.binary_value is not None:
            out["BinaryValue"] = base64.b64decode(self.binary_value)
        return out


class FailureObject(Contract):
    """Where a message of an S3-sourced run lives: the on-failure destination's object.

    The object stays in its bucket while the run holds it; it is deleted once its records
    are finished, and left in place when the message is returned."""

    bucket: StrictStr
    key: StrictStr
    etag: str | None = None


class DlqMessage(Contract):
    """A message of the run: an SQS message of the DLQ, or (``failure_object`` set) an object
    an S3 on-failure destination wrote, with its key as ``message_id`` and its content as
    ``body``."""

    message_id: str
    body: str
    attributes: dict[str, str] = Field(default_factory=dict)
    message_attributes: dict[str, MessageAttribute] = Field(default_factory=dict)
    failure_object: FailureObject | None = None

    def sqs_attributes(self) -> dict[str, Any]:
        return {name: value.to_sqs() for name, value in self.message_attributes.items()}


def returned_by(message: DlqMessage) -> str | None:
    """The run that sent this message back to the DLQ, or None: a new failure."""
    marker = message.message_attributes.get(RETURNED_ATTRIBUTE)
    return marker.string_value if marker is not None else None


MAX_MESSAGE_BYTES = 1_048_576  # SQS's largest message: body and attributes (name, type, value)


def sqs_message_size(body: str, attributes: dict[str, MessageAttribute]) -> int:
    """What SQS counts against its size limit: the body's UTF-8 bytes and every attribute's
    name, type and value."""
    size = len(body.encode("utf-8", "surrogatepass"))
    for name, value in attributes.items():
        size += len(name.encode()) + len(value.data_type.encode())
        if value.string_value is not None:
            size += len(value.string_value.encode("utf-8", "surrogatepass"))
        if value.binary_value is not None:
            size += len(base64.b64decode(value.binary_value))
    return size


def marked_returned(
    attributes: dict[str, MessageAttribute], run_id: str, body: str = ""
) -> dict[str, MessageAttribute]:
    """The attributes a message goes back with: its own, and the returned marker when SQS
    leaves room for it (10 attributes, 1 MiB with ``body``). A message without room goes
    back unmarked, exactly as it was: a run the alarm starts then takes it as new."""
    marked = {name: value for name, value in attributes.items() if name != RETURNED_ATTRIBUTE}
    if len(marked) >= MAX_MESSAGE_ATTRIBUTES:
        return dict(attributes)
    marked[RETURNED_ATTRIBUTE] = MessageAttribute(DataType="String", StringValue=run_id)
    if sqs_message_size(body, marked) > MAX_MESSAGE_BYTES:
        return dict(attributes)
    return marked


class ReceivedMessage(DlqMessage):
    """A message as received: with the receipt handle that deletes it (never stored)."""

    receipt_handle: str

    def stored(self) -> DlqMessage:
        return DlqMessage.model_validate(self.model_dump(exclude={"receipt_handle"}))


class Pointer(Contract):
    """A failed batch: a contiguous range of one shard, and why it failed."""

    source: Source
    stream_arn: StrictStr = Field(min_length=1)
    shard_id: StrictStr = Field(min_length=1)
    start_sequence_number: SequenceNumber
    end_sequence_number: SequenceNumber
    batch_size: StrictInt = Field(ge=1)
    failure: FailureContext = Field(default_factory=FailureContext)

    @model_validator(mode="after")
    def _range(self) -> Pointer:
        if int(self.start_sequence_number) > int(self.end_sequence_number):
            raise ValueError("startSequenceNumber is after endSequenceNumber")
        return self

    @property
    def start(self) -> int:
        return int(self.start_sequence_number)

    @property
    def end(self) -> int:
        return int(self.end_sequence_number)


class GroupPointer(Pointer):
    message_id: str


class RecordReference(Contract):
    bucket: StrictStr
    key: StrictStr


class RedriveMarker(Contract):
    """The body of a message this workflow sent back: ``{"streamRedrive": {...}}``."""

    version: str = "1"
    kind: Literal["record"]
    record_id: str | None = None
    run_id: str | None = None
    reason: str | None = None
    failure: FailureContext = Field(default_factory=FailureContext)
    record: StreamRecord | None = None
    record_ref: RecordReference | None = None

    @model_validator(mode="after")
    def _record_or_reference(self) -> RedriveMarker:
        if (self.record is None) == (self.record_ref is None):
            raise ValueError("exactly one of record and recordRef is required")
        return self


class ManifestEntry(Contract):
    message_id: str
    kind: MessageKind
    reason: str | None = None
    pointer: Pointer | None = None


class Manifest(Contract):
    messages: list[ManifestEntry] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)


class QueueDescription(Contract):
    queue_url: str
    queue_arn: str
    fifo: bool = False


class QueueDepth(Contract):
    """A queue's approximate counts (GetQueueAttributes)."""

    queue_arn: str
    visible: int = 0
    in_flight: int = 0
    delayed: int = 0

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


class MessagePage(Contract):
    """``messages/<number>.json``: one received page, written before its messages leave the
    DLQ. ``undeleted`` lists the ids SQS did not delete: they are still in the DLQ, so the
    run neither acts on them nor sends them back."""

    number: int
    messages: list[DlqMessage]
    undeleted: list[str] = Field(default_factory=list)
