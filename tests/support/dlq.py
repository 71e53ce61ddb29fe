"""Handling a rehearsal's DLQ by hand: take its messages out, put (altered) bodies back
with message attributes, and read the attributes it holds. For the workflow tier only
(it drives the local stack's SQS)."""

from __future__ import annotations

import base64
import json
from collections import Counter
from typing import Any

from redrive_local.engine import LocalEngine


def take_all(engine: LocalEngine, queue_url: str) -> list[dict[str, Any]]:
    """Every message of the queue, received and deleted (long polls: a short poll samples
    servers, so it may find nothing while messages remain)."""
    sqs = engine.client("sqs")
    taken: list[dict[str, Any]] = []
    while True:
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1
        ).get("Messages", [])
        if not received:
            return taken
        for message in received:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        taken.extend(received)


def send(
    engine: LocalEngine, queue_url: str, body: str | dict[str, Any], attributes: dict[str, Any] | None = None
) -> str:
    """Send one message (a dict body is sent as compact JSON); returns its MessageId."""
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    extra = {"MessageAttributes": attributes} if attributes else {}
    return str(engine.client("sqs").send_message(QueueUrl=queue_url, MessageBody=text, **extra)["MessageId"])


def attributes_by_body(engine: LocalEngine, queue_url: str) -> dict[str, dict[str, Any]]:
    """Message attributes per body, read with ReceiveMessage(MessageAttributeNames=["All"]);
    every message is made visible again at once, so the queue is as it was."""
    sqs = engine.client("sqs")
    seen: dict[str, dict[str, Any]] = {}
    handles = []
    while True:
        received = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=30,
            WaitTimeSeconds=1,
        ).get("Messages", [])
        if not received:
            break
        for message in received:
            seen[message["Body"]] = message.get("MessageAttributes", {})
            handles.append(message["ReceiptHandle"])
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return seen


def backend_attributes(queue_url: str) -> dict[str, dict[str, bytes | str]]:
    """Message attributes per body as moto's backend holds them (binary values decoded),
    read without receiving anything."""
    from moto.sqs.models import sqs_backends

    from redrive_local.engine import ACCOUNT, REGION

    queue = sqs_backends[ACCOUNT][REGION].queues[queue_url.rstrip("/").rsplit("/", 1)[-1]]
    out: dict[str, dict[str, bytes | str]] = {}
    for message in queue._messages:
        values: dict[str, bytes | str] = {}
        for name, value in message.message_attributes.items():
            binary = value.get("BinaryValue")
            if binary is not None:
                values[name] = base64.b64decode(binary) if isinstance(binary, str) else bytes(binary)
            else:
                values[name] = str(value.get("StringValue"))
        out[message.body] = values
    return out


def nothing_lost(before: list[str], after: list[str], finished: list[str]) -> None:
    """DLQ after + finished messages == DLQ before, as multisets of bodies."""
    assert Counter(after) + Counter(finished) == Counter(before), {
        "missing": list((Counter(before) - Counter(after) - Counter(finished)).elements()),
        "extra": list((Counter(after) + Counter(finished) - Counter(before)).elements()),
    }
