"""classify_message on SNS notification envelopes: an SNS on-failure destination whose SQS
subscription does not use raw message delivery wraps each record in one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redrive.contracts.messages import DlqMessage
from redrive.contracts.vocab import MessageKind
from redrive.core.collect import build_manifest
from redrive.core.messages import classify_message
from tests.fakes import memory_run

from .test_core_messages import RECORD, kinesis_event_record, on_failure

TOPIC = "arn:aws:sns:us-east-1:123456789012:orders-failures"
FUZZ = settings(max_examples=150, derandomize=True, deadline=None)


def envelope(message: Any, **overrides: Any) -> dict[str, Any]:
    """An SNS notification as SQS receives it without raw message delivery."""
    body: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        "TopicArn": TOPIC,
        "Message": message if not isinstance(message, dict) else json.dumps(message),
        "Timestamp": "2026-11-22T03:12:41.310Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6b==",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
        "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={TOPIC}:6f1b",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def unrecognised_reason(body: dict[str, Any]) -> str:
    classified = classify_message(json.dumps(body))
    assert classified.kind is MessageKind.UNRECOGNISED
    assert classified.pointer is None and classified.marker is None and classified.payload_records == []
    assert classified.reason
    return classified.reason


class TestEnvelopedRecords:
    def test_an_enveloped_pointer_is_the_pointer_inside(self) -> None:
        raw = classify_message(json.dumps(on_failure()))
        classified = classify_message(json.dumps(envelope(on_failure())))
        assert classified.kind is MessageKind.KINESIS_POINTER
        assert classified.pointer == raw.pointer and classified.pointer is not None
        assert classified.sns_topic_arn == TOPIC and raw.sns_topic_arn is None

    def test_a_dynamodb_pointer_with_subject_and_message_attributes(self) -> None:
        inner = on_failure(
            "DDBStreamBatchInfo",
            streamArn="arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000",
            startSequenceNumber="310",
            endSequenceNumber="314",
        )
        body = envelope(inner, Subject="failure", MessageAttributes={"a": {"Type": "String", "Value": "1"}})
        classified = classify_message(json.dumps(body))
        assert classified.kind is MessageKind.DYNAMODB_POINTER
        assert classified.pointer is not None and classified.pointer.end == 314

    def test_a_record_with_its_payload_in_an_envelope(self) -> None:
        inner = {**on_failure(), "payload": json.dumps({"Records": [kinesis_event_record("7")]})}
        classified = classify_message(json.dumps(envelope(inner)))
        assert classified.kind is MessageKind.S3_DESTINATION
        assert [r.sequence_number for r in classified.payload_records] == ["7"]

    def test_a_requeued_record_in_an_envelope(self) -> None:
        inner = {"streamRedrive": {"kind": "record", "record": RECORD}}
        assert classify_message(json.dumps(envelope(inner))).kind is MessageKind.REDRIVE_RECORD

    def test_the_envelope_is_read_as_sns_writes_it_with_escaped_slashes_and_unicode(self) -> None:
        text = json.dumps(envelope(on_failure()), ensure_ascii=True, indent=2).replace("/", "\\/")
        assert classify_message(text).kind is MessageKind.KINESIS_POINTER

    def test_the_stored_message_keeps_the_envelope(self) -> None:
        body = json.dumps(envelope(on_failure()))
        data = memory_run()
        result = build_manifest([DlqMessage(message_id="m-1", body=body)], data)
        assert result.kinds == {MessageKind.KINESIS_POINTER: 1}
        manifest = data.manifest()
        assert manifest is not None and manifest.messages[0].pointer is not None
        assert len(result.groups) == 1


class TestOddEnvelopes:
    def test_a_message_that_is_not_a_record_names_the_topic_and_the_reason(self) -> None:
        reason = unrecognised_reason(envelope("hello"))
        assert TOPIC in reason and "not JSON" in reason

    def test_a_message_without_batch_info(self) -> None:
        reason = unrecognised_reason(envelope({"requestContext": {}}))
        assert TOPIC in reason and "KinesisBatchInfo" in reason

    @pytest.mark.parametrize("message", [None, 12, ["x"], {"KinesisBatchInfo": {}}])
    def test_a_message_that_is_not_text(self, message: Any) -> None:
        body = envelope("x")
        body["Message"] = message
        if message is None:
            del body["Message"]
        assert "no Message text" in unrecognised_reason(body)

    @pytest.mark.parametrize("arn", [None, 5, "", "orders-failures", "arn:aws:sqs:us-east-1:123456789012:q"])
    def test_a_topic_arn_that_is_not_an_sns_topic(self, arn: Any) -> None:
        body = envelope(on_failure())
        body["TopicArn"] = arn
        assert "not an SNS topic ARN" in unrecognised_reason(body)

    def test_a_subscription_confirmation_says_what_to_do(self) -> None:
        body = envelope("You have chosen to subscribe", Type="SubscriptionConfirmation", SubscribeURL="https://x")
        assert "SubscribeURL" in unrecognised_reason(body)

    def test_an_unsubscribe_confirmation(self) -> None:
        assert "unsubscribed" in unrecognised_reason(envelope("bye", Type="UnsubscribeConfirmation"))

    def test_an_unknown_type(self) -> None:
        assert "not a Notification" in unrecognised_reason(envelope(on_failure(), Type="Surprise"))

    def test_an_envelope_inside_an_envelope(self) -> None:
        reason = unrecognised_reason(envelope(envelope(on_failure())))
        assert "inside an SNS notification" in reason

    def test_a_message_nesting_too_deep(self) -> None:
        assert "nests deeper" in unrecognised_reason(envelope('{"a":' + "[" * 200 + "]" * 200 + "}"))

    def test_a_pointer_with_sns_like_fields_but_no_topic_is_still_a_pointer(self) -> None:
        # "Type" alone does not make an envelope: SNS always sets TopicArn and MessageId.
        assert classify_message(json.dumps({**on_failure(), "Type": "Notification"})).kind.is_pointer


JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
)
ENVELOPE_KEYS = ["Type", "MessageId", "TopicArn", "Message", "Timestamp", "Signature", "Subject", "MessageAttributes"]


@FUZZ
@given(
    fields=st.dictionaries(st.sampled_from(ENVELOPE_KEYS), JSON_VALUES | st.sampled_from(["Notification", TOPIC])),
    message=st.one_of(st.text(), JSON_VALUES.map(json.dumps), st.just(json.dumps(on_failure()))),
)
def test_odd_envelopes_never_raise_and_every_refusal_has_a_reason(fields: dict[str, Any], message: str) -> None:
    body = {**fields, "Message": message} if "Message" not in fields else fields
    classified = classify_message(json.dumps(body))
    if classified.kind is MessageKind.UNRECOGNISED:
        assert classified.reason.strip()
        assert classified.pointer is None and classified.payload_records == []


@FUZZ
@given(
    extra=st.dictionaries(st.text(min_size=1, max_size=12).filter(lambda k: k not in ENVELOPE_KEYS), JSON_VALUES),
    indent=st.sampled_from([None, 0, 2]),
    ascii_only=st.booleans(),
)
def test_a_pointer_is_found_whatever_else_the_envelope_carries(
    extra: dict[str, Any], indent: int | None, ascii_only: bool
) -> None:
    inner = json.dumps(on_failure(), indent=indent, ensure_ascii=ascii_only)
    body = {**extra, **envelope(inner)}
    classified = classify_message(json.dumps(body, indent=indent, ensure_ascii=ascii_only))
    assert classified.kind is MessageKind.KINESIS_POINTER, classified.reason
    assert classified.pointer == classify_message(json.dumps(on_failure())).pointer


@FUZZ
@given(st.text())
def test_any_message_text_in_a_valid_envelope_never_raises(message: str) -> None:
    classified = classify_message(json.dumps(envelope(message)))
    if classified.kind is MessageKind.UNRECOGNISED:
        assert TOPIC in classified.reason or "inside an SNS" in classified.reason
