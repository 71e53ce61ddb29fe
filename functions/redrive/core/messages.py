"""What a DLQ message is: the kinds the workflow knows, recognised from the body alone.

- ``kinesis-pointer`` / ``dynamodb-pointer``: the event source mapping's on-failure
  record (``KinesisBatchInfo`` / ``DDBStreamBatchInfo``): the records stay in the stream.
- ``s3-destination``: the on-failure record an S3 destination writes: the same metadata
  plus ``payload``, the whole failed invocation event, so the records travel with it.
- ``redrive-record``: a record this workflow sent back after it failed again: the record
  inline, or a reference to it in S3 when it was too large for a message.
- ``unrecognised``: anything else, malformed ones included; kept, reported with the
  reason, returned to the DLQ untouched.

An SNS on-failure destination whose SQS subscription does not use raw message delivery
puts each record in an SNS notification envelope (``Type`` ``Notification``, ``TopicArn``,
``MessageId``, ``Message`` holding the record as text, signature fields): the envelope is
opened and the record inside it classified as usual. Only classification looks inside:
the message is stored, and returned, exactly as it came.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..contracts.base import validation_summary
from ..contracts.messages import REDRIVE_MARKER, Pointer, RedriveMarker
from ..contracts.records import FailureContext, StreamRecord, from_invocation_event_record
from ..contracts.vocab import MessageKind, Source

BATCH_INFO_KEYS = {"KinesisBatchInfo": Source.KINESIS, "DDBStreamBatchInfo": Source.DYNAMODB}
_ARN_SERVICE = {Source.KINESIS: "kinesis", Source.DYNAMODB: "dynamodb"}
MAX_BODY_DEPTH = 128
"""Deeper than any valid body: a DynamoDB item nests maps 32 levels, two JSON levels each."""


@dataclass
class ClassifiedMessage:
    kind: MessageKind
    pointer: Pointer | None = None
    payload_records: list[StreamRecord] = field(default_factory=list)
    marker: RedriveMarker | None = None
    reason: str = ""
    sns_topic_arn: str | None = None
    """The topic whose notification envelope carried the message, when it came in one."""


def _unrecognised(reason: str) -> ClassifiedMessage:
    return ClassifiedMessage(MessageKind.UNRECOGNISED, reason=reason)


def failure_context(body: dict[str, Any]) -> FailureContext:
    """The failure fields a rule sees: condition, function error, invoke count."""
    request = body.get("requestContext")
    response = body.get("responseContext")
    request = request if isinstance(request, dict) else {}
    response = response if isinstance(response, dict) else {}
    return FailureContext.model_validate(
        {
            "condition": request.get("condition"),
            "functionError": response.get("functionError"),
            "approximateInvokeCount": request.get("approximateInvokeCount"),
            "functionArn": request.get("functionArn"),
        }
    )


def _pointer(body: dict[str, Any]) -> tuple[Pointer | None, str]:
    found = [key for key in BATCH_INFO_KEYS if isinstance(body.get(key), dict)]
    if len(found) != 1:
        return None, "no KinesisBatchInfo or DDBStreamBatchInfo object"
    name = found[0]
    info = body[name]
    source = BATCH_INFO_KEYS[name]
    try:
        pointer = Pointer.model_validate({**info, "source": source, "failure": failure_context(body)})
    except ValidationError as error:
        return None, f"{name} is not a valid pointer: {validation_summary(error)}"
    arn = pointer.stream_arn.split(":")
    if len(arn) < 6 or arn[0] != "arn" or arn[2] != _ARN_SERVICE[source]:
        return None, f"{name} has a streamArn that is not a {source.value} stream ARN"
    return pointer, ""


def _payload_records(payload: Any, pointer: Pointer) -> tuple[list[StreamRecord] | None, str]:
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except (json.JSONDecodeError, RecursionError):
            return None, "payload is not JSON"
    if not (isinstance(payload, dict) and isinstance(payload.get("Records"), list)):
        return None, "payload is not a stream event with Records"
    if _depth(payload, MAX_BODY_DEPTH) > MAX_BODY_DEPTH:
        return None, f"payload nests deeper than {MAX_BODY_DEPTH} levels"
    records = []
    for index, item in enumerate(payload["Records"]):
        if not isinstance(item, dict):
            return None, f"payload Records[{index}] is not an object"
        try:
            record = from_invocation_event_record(item, pointer.stream_arn, pointer.shard_id)
        except (KeyError, TypeError, ValueError) as error:
            return None, f"payload Records[{index}] is not a stream record ({type(error).__name__})"
        records.append(record.model_copy(update={"failure": pointer.failure}))
    if not records:
        return None, "payload has no Records"
    return records, ""


def _depth(value: Any, limit: int) -> int:
    """How deeply ``value`` nests, counting at most to ``limit`` (iteratively)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


SNS_NOTIFICATION = "Notification"
SNS_OTHER_TYPES = {
    "SubscriptionConfirmation": "confirm the subscription (its SubscribeURL) for failure records to arrive",
    "UnsubscribeConfirmation": "the queue was unsubscribed from the topic: failure records no longer arrive",
}


def _is_sns_envelope(body: dict[str, Any]) -> bool:
    """SNS's JSON form (``Type``, ``TopicArn``, ``MessageId``), whatever its type: an
    on-failure record has none of these fields."""
    return isinstance(body.get("Type"), str) and "TopicArn" in body and "MessageId" in body


def _open_sns_envelope(body: dict[str, Any]) -> ClassifiedMessage:
    kind, topic = body["Type"], body.get("TopicArn")
    if kind in SNS_OTHER_TYPES:
        return _unrecognised(f"an SNS {kind}, not a failure record: {SNS_OTHER_TYPES[kind]}")
    if kind != SNS_NOTIFICATION:
        return _unrecognised(f"an SNS message of Type {kind[:40]!r}, not a Notification")
    if not (isinstance(topic, str) and topic.startswith("arn:") and topic.split(":")[2:3] == ["sns"]):
        return _unrecognised("SNS notification whose TopicArn is not an SNS topic ARN")
    message = body.get("Message")
    if not isinstance(message, str):
        return _unrecognised(f"SNS notification from {topic} has no Message text")
    inner = _classify(message, enveloped=True)
    inner.sns_topic_arn = topic
    if inner.kind is MessageKind.UNRECOGNISED:
        inner.reason = f"the Message inside the SNS notification from {topic}: {inner.reason}"
    return inner


def _classify(body_text: str, enveloped: bool = False) -> ClassifiedMessage:
    try:
        body = json.loads(body_text)
    except (json.JSONDecodeError, TypeError, RecursionError, ValueError):
        return _unrecognised("body is not JSON")
    if not isinstance(body, dict):
        return _unrecognised("body is not a JSON object")
    if _depth(body, MAX_BODY_DEPTH) > MAX_BODY_DEPTH:
        return _unrecognised(f"body nests deeper than {MAX_BODY_DEPTH} levels")
    if _is_sns_envelope(body):
        if enveloped:  # SNS delivers to queues, never to another topic: one envelope at most
            return _unrecognised("an SNS notification inside an SNS notification")
        return _open_sns_envelope(body)
    if REDRIVE_MARKER in body:
        try:
            marker = RedriveMarker.model_validate(body[REDRIVE_MARKER])
        except ValidationError as error:
            return _unrecognised(f"{REDRIVE_MARKER} message is not valid: {validation_summary(error)}")
        return ClassifiedMessage(MessageKind.REDRIVE_RECORD, marker=marker)
    pointer, why = _pointer(body)
    if pointer is None:
        return _unrecognised(why)
    if "payload" in body:
        records, why = _payload_records(body["payload"], pointer)
        if records is None:
            return _unrecognised(why)
        return ClassifiedMessage(MessageKind.S3_DESTINATION, pointer=pointer, payload_records=records)
    kind = MessageKind.KINESIS_POINTER if pointer.source is Source.KINESIS else MessageKind.DYNAMODB_POINTER
    return ClassifiedMessage(kind, pointer=pointer)


def classify_message(body_text: str) -> ClassifiedMessage:
    """Recognise a DLQ message body. Never raises: whatever cannot be recognised is
    ``unrecognised`` with the reason, and goes back to the DLQ as it was."""
    try:
        return _classify(body_text)
    except Exception as error:  # a last guard: one odd body must not fail the run
        return _unrecognised(f"body could not be read ({type(error).__name__})")


__all__ = ["REDRIVE_MARKER", "ClassifiedMessage", "Pointer", "classify_message", "failure_context"]
