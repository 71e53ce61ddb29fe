"""Collect: move DLQ messages into the run's manifest without losing one.

Each received page is written to S3 *before* its messages are deleted from the DLQ. A
crash between the two leaves a message in both places (it is then read once: the
manifest is keyed by MessageId), never in neither.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..adapters.store import ObjectStore
from .fetch_groups import PointerRef, build_fetch_groups
from .messages import ClassifiedMessage, classify_message
from .records import from_invocation_event_record


class MessageSource(Protocol):
    def receive(self, max_messages: int) -> list[dict[str, Any]]: ...
    def delete(self, messages: list[dict[str, Any]]) -> list[str]: ...


@dataclass
class CollectResult:
    messages: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    undeleted: list[str] = field(default_factory=list)

    def to_state(self) -> dict[str, Any]:
        return {"messages": self.messages, "kinds": self.kinds, "groups": self.groups, "undeleted": self.undeleted}


def move_messages_to_manifest(
    dlq: MessageSource, store: ObjectStore, prefix: str, max_messages: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """Receive up to ``max_messages``; each page durable in S3 before it is deleted.

    Pages are never overwritten, and a retried Collect starts from the pages already
    written, so a retry neither loses nor double-counts a message.
    """
    collected: dict[str, dict[str, Any]] = {}
    for key in store.list_keys(f"{prefix}messages/"):
        for message in store.get_json(key):
            collected.setdefault(message["messageId"], message)
    undeleted: list[str] = []
    while len(collected) < max_messages:
        page = dlq.receive(max_messages - len(collected))
        if not page:
            break
        kept = [{k: v for k, v in m.items() if k != "receiptHandle"} for m in page]
        store.put_json(f"{prefix}messages/{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json", kept)
        undeleted.extend(dlq.delete(page))
        for message in kept:
            collected.setdefault(message["messageId"], message)
    return list(collected.values()), undeleted


def _inline_records(message_id: str, classified: ClassifiedMessage) -> dict[str, Any]:
    """Records that travel with the message (S3 destination payload, re-queued record)."""
    if classified.kind == "redrive-record":
        marker = classified.redrive_record or {}
        record = dict(marker.get("record") or {})
        if not record:
            record = {"recordRef": marker.get("recordRef")}
        record["failure"] = marker.get("failure", {})
        record["recordId"] = marker.get("recordId") or record.get("recordId") or f"message:{message_id}"
        return {"records": [record], "assignments": [{"messageId": message_id, "recordIds": [record["recordId"]]}]}
    pointer = classified.pointer
    assert pointer is not None
    records = [
        {**from_invocation_event_record(item, pointer.stream_arn, pointer.shard_id), "failure": pointer.failure}
        for item in classified.payload_records
    ]
    return {
        "records": records,
        "assignments": [
            {
                "messageId": message_id,
                "recordIds": [r["recordId"] for r in records],
                "expired": 0,
                "pointer": pointer.to_json(),
            }
        ],
    }


def build_manifest(messages: list[dict[str, Any]], store: ObjectStore, prefix: str) -> CollectResult:
    """Classify every message; write the manifest, the fetch groups and inline records."""
    result = CollectResult(messages=len(messages))
    entries = []
    refs: list[PointerRef] = []
    for message in messages:
        classified = classify_message(message["body"])
        result.kinds[classified.kind] = result.kinds.get(classified.kind, 0) + 1
        entry: dict[str, Any] = {"messageId": message["messageId"], "kind": classified.kind}
        if classified.reason:
            entry["reason"] = classified.reason
        if classified.pointer:
            entry["pointer"] = classified.pointer.to_json()
        entries.append(entry)
        if classified.kind in ("kinesis-pointer", "dynamodb-pointer") and classified.pointer:
            refs.append(PointerRef(message["messageId"], classified.pointer))
        elif classified.kind in ("s3-destination", "redrive-record"):
            inline = _inline_records(message["messageId"], classified)
            store.put_json(f"{prefix}fetched/inline-{message['messageId']}.json", {"groupId": "inline", **inline})
    groups = build_fetch_groups(refs)
    for group in groups:
        store.put_json(f"{prefix}groups/{group['groupId']}.json", group)
    result.groups = [g["groupId"] for g in groups]
    store.put_json(f"{prefix}manifest.json", {"messages": entries, "groups": result.groups})
    return result


def collect(dlq: MessageSource, store: ObjectStore, prefix: str, max_messages: int) -> CollectResult:
    messages, undeleted = move_messages_to_manifest(dlq, store, prefix, max_messages)
    result = build_manifest(messages, store, prefix)
    result.undeleted = undeleted
    return result
