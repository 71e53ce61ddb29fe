"""Collect: DLQ pages durable in the store before they are deleted; the manifest built from them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from redrive.adapters.store import MemoryStore
from redrive.core.collect import build_manifest, collect, move_messages_to_manifest
from redrive.core.messages import REDRIVE_MARKER

PREFIX = "runs/run-1/"
KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
TABLE_STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer"


class Crash(Exception):
    """The Lambda dies between two calls."""


class FakeDlq:
    """An SQS queue in memory: receive hides messages (in flight); delete removes them.

    Every call is logged, and every delete checks that the store already holds each
    message it is asked to delete."""

    def __init__(self, store: MemoryStore, bodies: list[str], page_size: int = 10) -> None:
        self.store = store
        self.page_size = page_size
        self.visible: list[dict[str, Any]] = [
            {
                "messageId": f"m{i:03d}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {"origin": {"DataType": "String", "StringValue": "esm"}},
            }
            for i, body in enumerate(bodies)
        ]
        self.in_flight: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.calls: list[tuple[str, list[str]]] = []
        self.requested: list[int] = []
        self.fail_delete_of: set[str] = set()
        self.crash_on_delete_call: int | None = None
        self.receipts = 0

    def receive(self, max_messages: int) -> list[dict[str, Any]]:
        self.requested.append(max_messages)
        page = self.visible[: min(max_messages, self.page_size)]
        self.visible = self.visible[len(page) :]
        self.in_flight.extend(page)
        out = []
        for message in page:
            self.receipts += 1
            out.append({**message, "receiptHandle": f"rh-{message['messageId']}-{self.receipts}"})
        self.calls.append(("receive", [m["messageId"] for m in out]))
        return out

    def stored_ids(self) -> set[str]:
        ids: set[str] = set()
        for key in self.store.list_keys(f"{PREFIX}messages/"):
            ids.update(m["messageId"] for m in self.store.get_json(key))
        return ids

    def delete(self, messages: list[dict[str, Any]]) -> list[str]:
        ids = [m["messageId"] for m in messages]
        self.calls.append(("delete", ids))
        stored = self.stored_ids()
        assert set(ids) <= stored, f"deleted before the store held {set(ids) - stored}"
        if self.crash_on_delete_call == sum(1 for name, _ in self.calls if name == "delete"):
            raise Crash
        failed = [i for i in ids if i in self.fail_delete_of]
        self.deleted.extend(i for i in ids if i not in failed)
        self.in_flight = [m for m in self.in_flight if m["messageId"] not in ids or m["messageId"] in failed]
        return failed

    def redeliver_in_flight(self) -> None:
        """The visibility timeout passes: undeleted messages are visible again."""
        self.visible = self.in_flight + self.visible
        self.in_flight = []


def pointer_body(seq: int, shard: str = "shardId-000000000000", key: str = "KinesisBatchInfo") -> str:
    stream = KINESIS_ARN if key == "KinesisBatchInfo" else TABLE_STREAM_ARN
    return json.dumps(
        {
            "requestContext": {"functionArn": FUNCTION_ARN, "condition": "RetryAttemptsExhausted"},
            "responseContext": {"functionError": "Unhandled"},
            key: {
                "shardId": shard,
                "startSequenceNumber": str(seq),
                "endSequenceNumber": str(seq + 1),
                "batchSize": 2,
                "streamArn": stream,
            },
        }
    )


def pointer_bodies(count: int) -> list[str]:
    return [pointer_body(100 + 10 * i) for i in range(count)]


class TestMoveMessagesToManifest:
    def test_each_page_is_stored_before_it_is_deleted(self) -> None:
        store = MemoryStore()
        dlq = FakeDlq(store, pointer_bodies(25))
        messages, undeleted = move_messages_to_manifest(dlq, store, PREFIX, max_messages=100)
        assert len(messages) == 25
        assert undeleted == []
        assert [name for name, _ in dlq.calls] == ["receive", "delete"] * 3 + ["receive"]
        assert len(store.list_keys(f"{PREFIX}messages/")) == 3
        assert sorted(dlq.deleted) == sorted(m["messageId"] for m in messages)
        assert dlq.visible == [] and dlq.in_flight == []

    def test_stored_messages_keep_body_and_attributes_but_not_the_receipt_handle(self) -> None:
        store = MemoryStore()
        dlq = FakeDlq(store, ["not json at all"])
        move_messages_to_manifest(dlq, store, PREFIX, max_messages=10)
        [key] = store.list_keys(f"{PREFIX}messages/")
        [stored] = store.get_json(key)
        assert stored == {
            "messageId": "m000",
            "body": "not json at all",
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {"origin": {"DataType": "String", "StringValue": "esm"}},
        }

    def test_stops_at_max_messages(self) -> None:
        store = MemoryStore()
        dlq = FakeDlq(store, pointer_bodies(25))
        messages, _ = move_messages_to_manifest(dlq, store, PREFIX, max_messages=13)
        assert len(messages) == 13
        assert dlq.requested == [13, 3]
        assert len(dlq.visible) == 12
        assert dlq.in_flight == []

    def test_empty_queue(self) -> None:
        store = MemoryStore()
        dlq = FakeDlq(store, [])
        assert move_messages_to_manifest(dlq, store, PREFIX, max_messages=10) == ([], [])
        assert store.list_keys(PREFIX) == []

    def test_a_redelivered_message_is_counted_once(self) -> None:
        store = MemoryStore()
        dlq = FakeDlq(store, pointer_bodies(3), page_size=2)
        dlq.fail_delete_of = {"m001"}
        original_receive = dlq.receive

        def receive_then_redeliver_once(max_messages: int) -> list[dict[str, Any]]:
            if len(dlq.requested) == 1:
                dlq.fail_delete_of = set()
                dlq.redeliver_in_flight()
            return original_receive(max_messages)

        dlq.receive = receive_then_redeliver_once  # type: ignore[method-assign]
        messages, _ = move_messages_to_manifest(dlq, store, PREFIX, max_messages=10)
        assert sorted(m["messageId"] for m in messages) == ["m000", "m001", "m002"]
        # m001 came back in the second page, next to m002: stored twice, counted once, then deleted.
        assert dlq.calls[2] == ("receive", ["m001", "m002"])
        assert sorted(dlq.deleted) == ["m000", "m001", "m002"]

    def test_undeleted_ids_are_reported_and_still_collected(self) -> None:
        store = MemoryStore()
        dlq = FakeDlq(store, pointer_bodies(4))
        dlq.fail_delete_of = {"m002"}
        messages, undeleted = move_messages_to_manifest(dlq, store, PREFIX, max_messages=10)
        assert undeleted == ["m002"]
        assert len(messages) == 4

    def test_retry_after_a_crash_between_store_and_delete(self) -> None:
        store = MemoryStore()
        dlq = FakeDlq(store, pointer_bodies(7), page_size=3)
        dlq.crash_on_delete_call = 2
        with pytest.raises(Crash):
            move_messages_to_manifest(dlq, store, PREFIX, max_messages=100)
        # Page two is in the store and still in the queue; nothing is in neither.
        assert dlq.stored_ids() == {f"m{i:03d}" for i in range(6)}
        dlq.crash_on_delete_call = None
        dlq.redeliver_in_flight()

        messages, undeleted = move_messages_to_manifest(dlq, store, PREFIX, max_messages=100)
        ids = [m["messageId"] for m in messages]
        assert sorted(ids) == [f"m{i:03d}" for i in range(7)]
        assert len(ids) == len(set(ids))
        assert undeleted == []
        assert sorted(dlq.deleted) == sorted(ids)
        assert dlq.visible == [] and dlq.in_flight == []

    def test_retry_with_every_page_already_stored_receives_nothing_more_than_allowed(self) -> None:
        store = MemoryStore()
        dlq = FakeDlq(store, pointer_bodies(6), page_size=3)
        move_messages_to_manifest(dlq, store, PREFIX, max_messages=3)
        calls_before = len(dlq.calls)
        messages, _ = move_messages_to_manifest(dlq, store, PREFIX, max_messages=3)
        assert [m["messageId"] for m in messages] == ["m000", "m001", "m002"]
        assert len(dlq.calls) == calls_before
        assert len(dlq.visible) == 3

    def test_pages_are_never_overwritten(self) -> None:
        store = MemoryStore()
        dlq = FakeDlq(store, pointer_bodies(30), page_size=1)
        move_messages_to_manifest(dlq, store, PREFIX, max_messages=30)
        assert len(store.list_keys(f"{PREFIX}messages/")) == 30


def s3_destination_body() -> str:
    body = json.loads(pointer_body(500))
    body["payload"] = json.dumps(
        {
            "Records": [
                {
                    "kinesis": {"partitionKey": "k", "sequenceNumber": str(seq), "data": "eyJhIjoxfQ=="},
                    "eventSourceARN": KINESIS_ARN,
                }
                for seq in (500, 501)
            ]
        }
    )
    return json.dumps(body)


def redrive_record_body(inline: bool) -> str:
    marker: dict[str, Any] = {
        "version": "1",
        "kind": "record",
        "recordId": "shardId-000000000000:900",
        "runId": "run-0",
        "reason": "consumer failed again",
        "failure": {"condition": "RetryAttemptsExhausted"},
    }
    if inline:
        marker["record"] = {"recordId": "shardId-000000000000:900", "source": "kinesis", "sequenceNumber": "900"}
    else:
        marker["record"] = None
        marker["recordRef"] = {"bucket": "b", "key": "runs/run-0/records/shardId-000000000000:900.json"}
    return json.dumps({REDRIVE_MARKER: marker})


def messages_of(bodies: dict[str, str]) -> list[dict[str, Any]]:
    return [{"messageId": mid, "body": body} for mid, body in bodies.items()]


class TestBuildManifest:
    def test_counts_by_kind_and_writes_manifest_and_groups(self) -> None:
        store = MemoryStore()
        bodies = {
            "k1": pointer_body(100),
            "k2": pointer_body(101),
            "k3": pointer_body(100, shard="shardId-000000000001"),
            "d1": pointer_body(300, shard="shardId-0001-ddb", key="DDBStreamBatchInfo"),
            "s1": s3_destination_body(),
            "r1": redrive_record_body(inline=True),
            "u1": '{"note": "hello"}',
            "u2": "[]",
        }
        result = build_manifest(messages_of(bodies), store, PREFIX)
        assert result.messages == 8
        assert result.kinds == {
            "kinesis-pointer": 3,
            "dynamodb-pointer": 1,
            "s3-destination": 1,
            "redrive-record": 1,
            "unrecognised": 2,
        }
        assert len(result.groups) == 3  # two Kinesis shards, one DynamoDB shard
        for gid in result.groups:
            group = store.get_json(f"{PREFIX}groups/{gid}.json")
            assert group["groupId"] == gid
        manifest = store.get_json(f"{PREFIX}manifest.json")
        assert manifest["groups"] == result.groups
        entries = {e["messageId"]: e for e in manifest["messages"]}
        assert set(entries) == set(bodies)
        assert entries["u1"]["kind"] == "unrecognised" and entries["u1"]["reason"]
        assert entries["k1"]["pointer"]["startSequenceNumber"] == "100"
        assert "reason" not in entries["k1"]
        k1_group = next(
            store.get_json(f"{PREFIX}groups/{g}.json")
            for g in result.groups
            if store.get_json(f"{PREFIX}groups/{g}.json")["shardId"] == "shardId-000000000000"
        )
        assert k1_group["ranges"] == [{"start": "100", "end": "102"}]

    def test_s3_destination_records_are_written_inline(self) -> None:
        store = MemoryStore()
        result = build_manifest(messages_of({"s1": s3_destination_body()}), store, PREFIX)
        assert result.groups == []
        inline = store.get_json(f"{PREFIX}fetched/inline-s1.json")
        assert inline["groupId"] == "inline"
        assert [r["sequenceNumber"] for r in inline["records"]] == ["500", "501"]
        assert all(r["failure"]["condition"] == "RetryAttemptsExhausted" for r in inline["records"])
        assert all(r["failure"]["functionArn"] == FUNCTION_ARN for r in inline["records"])
        [assignment] = inline["assignments"]
        assert assignment["messageId"] == "s1"
        assert assignment["recordIds"] == [r["recordId"] for r in inline["records"]]
        assert assignment["expired"] == 0
        assert assignment["pointer"]["source"] == "kinesis"

    def test_redrive_record_inline(self) -> None:
        store = MemoryStore()
        build_manifest(messages_of({"r1": redrive_record_body(inline=True)}), store, PREFIX)
        inline = store.get_json(f"{PREFIX}fetched/inline-r1.json")
        [record] = inline["records"]
        assert record["recordId"] == "shardId-000000000000:900"
        assert record["source"] == "kinesis"
        assert record["failure"] == {"condition": "RetryAttemptsExhausted"}
        assert inline["assignments"] == [{"messageId": "r1", "recordIds": ["shardId-000000000000:900"]}]

    def test_redrive_record_by_reference(self) -> None:
        store = MemoryStore()
        build_manifest(messages_of({"r1": redrive_record_body(inline=False)}), store, PREFIX)
        [record] = store.get_json(f"{PREFIX}fetched/inline-r1.json")["records"]
        assert record["recordRef"] == {"bucket": "b", "key": "runs/run-0/records/shardId-000000000000:900.json"}
        assert record["recordId"] == "shardId-000000000000:900"

    def test_unrecognised_and_pointers_write_no_inline_records(self) -> None:
        store = MemoryStore()
        build_manifest(messages_of({"k1": pointer_body(1), "u1": "x"}), store, PREFIX)
        assert store.list_keys(f"{PREFIX}fetched/") == []


def test_collect_reports_counts_groups_and_undeleted() -> None:
    store = MemoryStore()
    dlq = FakeDlq(store, [pointer_body(100), pointer_body(200, shard="shardId-000000000002"), "junk"])
    dlq.fail_delete_of = {"m002"}
    state = collect(dlq, store, PREFIX, max_messages=10).to_state()
    assert state["messages"] == 3
    assert state["kinds"] == {"kinesis-pointer": 2, "unrecognised": 1}
    assert len(state["groups"]) == 2
    assert state["undeleted"] == ["m002"]
    json.dumps(state)  # the state payload is plain JSON
