"""Collect: each DLQ page durable in the store and registered in the lease before it is deleted; the manifest."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from redrive.contracts.fetch import FetchedGroup, PointerAssignment
from redrive.contracts.messages import (
    REDRIVE_MARKER,
    RETURNED_ATTRIBUTE,
    DlqMessage,
    MessageAttribute,
    ReceivedMessage,
    marked_returned,
)
from redrive.contracts.records import FailureContext, StreamRecord
from redrive.contracts.vocab import MessageKind, Source
from redrive.core.collect import (
    LONG_POLL_SECONDS,
    RESERVE_SECONDS,
    build_manifest,
    collect,
    move_messages_to_manifest,
    poll_wait_seconds,
)
from redrive.core.run_data import RunData
from tests.fakes import FakeStateStore, MemoryStore, memory_run, open_run

RUN = "run-1"
PREFIX = f"runs/{RUN}/"
KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
TABLE_STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer"
SHARD = "shardId-000000000000"
REF_KEY = f"runs/run-0/records/{SHARD}:900.json"


class Crash(Exception):
    """The Lambda dies between two calls."""


class FakeDlq:
    """An SQS queue in memory: receive hides messages (in flight); delete removes them.

    Every call is logged, and every delete checks that each message it is asked to delete
    is in a page the store holds *and* the run's lease has registered."""

    def __init__(self, data: RunData, leases: FakeStateStore, bodies: list[str], page_size: int = 10) -> None:
        self.data = data
        self.leases = leases
        self.page_size = page_size
        self.visible: list[DlqMessage] = [
            DlqMessage(
                message_id=f"m{i:03d}",
                body=body,
                attributes={"ApproximateReceiveCount": "1"},
                message_attributes={"origin": MessageAttribute(DataType="String", StringValue="esm")},
            )
            for i, body in enumerate(bodies)
        ]
        self.in_flight: list[DlqMessage] = []
        self.deleted: list[str] = []
        self.calls: list[tuple[str, list[str]]] = []
        self.requested: list[int] = []
        self.waits: list[int] = []
        self.fail_delete_of: set[str] = set()
        self.fail_delete_once_of: set[str] = set()
        self.crash_on_delete_call: int | None = None
        self.before_delete: Callable[[], object] | None = None
        self.receipts = 0

    def receive(self, max_messages: int, wait_seconds: int = 0) -> list[ReceivedMessage]:
        self.requested.append(max_messages)
        self.waits.append(wait_seconds)
        page = self.visible[: min(max_messages, self.page_size)]
        self.visible = self.visible[len(page) :]
        self.in_flight.extend(page)
        out = []
        for message in page:
            self.receipts += 1
            handle = f"rh-{message.message_id}-{self.receipts}"
            out.append(ReceivedMessage(**message.model_dump(), receipt_handle=handle))
        self.calls.append(("receive", [m.message_id for m in out]))
        return out

    def stored_ids(self, registered_only: bool = False) -> set[str]:
        """Read straight from the store's pages (not through RunData)."""
        lease = self.leases.lease(self.data.paths.run_id)
        registered = lease.pages if lease else 0
        ids: set[str] = set()
        for key in self.data.store.list_keys(self.data.paths.messages):
            page = self.data.store.get_json(key)
            if registered_only and page["number"] > registered:
                continue
            ids.update(m["messageId"] for m in page["messages"])
        return ids

    def delete(self, messages: Sequence[ReceivedMessage]) -> list[str]:
        ids = [m.message_id for m in messages]
        self.calls.append(("delete", ids))
        if self.before_delete is not None:
            self.before_delete()
        held = self.stored_ids(registered_only=True)
        assert set(ids) <= held, f"deleted before a registered page held {set(ids) - held}"
        if self.crash_on_delete_call == sum(1 for name, _ in self.calls if name == "delete"):
            raise Crash
        failed = [i for i in ids if i in self.fail_delete_of | self.fail_delete_once_of]
        self.fail_delete_once_of -= set(failed)
        self.deleted.extend(i for i in ids if i not in failed)
        self.in_flight = [m for m in self.in_flight if m.message_id not in ids or m.message_id in failed]
        return failed

    def release(self, messages: Sequence[ReceivedMessage]) -> None:
        ids = {m.message_id for m in messages}
        self.calls.append(("release", sorted(ids)))
        back = [m for m in self.in_flight if m.message_id in ids]
        self.in_flight = [m for m in self.in_flight if m.message_id not in ids]
        self.visible = back + self.visible

    def mark_returned(self, *message_ids: str) -> None:
        """As a run's settle sends them back: with the returned marker."""
        for message in self.visible:
            if message.message_id in message_ids:
                message.message_attributes = marked_returned(message.message_attributes, "run-0")

    def redeliver_in_flight(self) -> None:
        """The visibility timeout passes: undeleted messages are visible again."""
        self.visible = self.in_flight + self.visible
        self.in_flight = []

    def still_there(self) -> list[str]:
        return sorted(m.message_id for m in self.visible + self.in_flight)


def pointer_body(seq: int, shard: str = SHARD, key: str = "KinesisBatchInfo") -> str:
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


def new_run() -> tuple[MemoryStore, RunData]:
    store = MemoryStore()
    return store, memory_run(RUN, store)


def new_dlq(bodies: list[str], page_size: int = 10) -> tuple[MemoryStore, RunData, FakeStateStore, FakeDlq]:
    """A run with its lease open (as Prepare leaves it) and a DLQ holding ``bodies``."""
    store, data = new_run()
    leases = FakeStateStore()
    open_run(leases, RUN)
    return store, data, leases, FakeDlq(data, leases, bodies, page_size)


def registered(leases: FakeStateStore) -> int:
    lease = leases.lease(RUN)
    assert lease is not None
    return lease.pages


def fail_a_delete_then_redeliver(dlq: FakeDlq, message_id: str) -> None:
    """``message_id``'s delete fails (the call and its retry); before the second receive the
    deletes work again and every message in flight comes back, as SQS redelivers one whose
    visibility timeout ran out."""
    dlq.fail_delete_of = {message_id}
    original_receive = dlq.receive

    def receive_then_redeliver_once(max_messages: int, wait_seconds: int = 0) -> list[ReceivedMessage]:
        if len(dlq.requested) == 1:
            dlq.fail_delete_of = set()
            dlq.redeliver_in_flight()
        return original_receive(max_messages)

    dlq.receive = receive_then_redeliver_once  # type: ignore[method-assign]


class TestMoveMessagesToManifest:
    def test_each_page_is_stored_and_registered_before_it_is_deleted(self) -> None:
        store, data, leases, dlq = new_dlq(pointer_bodies(25))
        messages = move_messages_to_manifest(dlq, data, leases, max_messages=100)
        assert len(messages) == 25
        assert all(isinstance(m, DlqMessage) and not isinstance(m, ReceivedMessage) for m in messages)
        assert [name for name, _ in dlq.calls] == ["receive", "delete"] * 3 + ["receive"]
        assert store.list_keys(f"{PREFIX}messages/") == [f"{PREFIX}messages/{n:06d}.json" for n in (1, 2, 3)]
        assert registered(leases) == 3
        assert [store.get_json(f"{PREFIX}messages/{n:06d}.json")["number"] for n in (1, 2, 3)] == [1, 2, 3]
        assert sorted(dlq.deleted) == sorted(m.message_id for m in messages)
        assert dlq.visible == [] and dlq.in_flight == []
        assert sorted(data.held_messages(3)) == sorted(m.message_id for m in messages)

    def test_stored_messages_keep_body_and_attributes_but_not_the_receipt_handle(self) -> None:
        store, data, leases, dlq = new_dlq(["not json at all"])
        dlq.visible[0].message_attributes["blob"] = MessageAttribute.from_sqs(
            {"DataType": "Binary", "BinaryValue": b"\x00\xff"}
        )
        move_messages_to_manifest(dlq, data, leases, max_messages=10)
        [key] = store.list_keys(f"{PREFIX}messages/")
        page = store.get_json(key)
        assert (page["number"], page["undeleted"]) == (1, [])
        [stored] = page["messages"]
        # The models write every field: an absent StringValue/BinaryValue is stored as null.
        assert stored == {
            "messageId": "m000",
            "body": "not json at all",
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {
                "origin": {"DataType": "String", "StringValue": "esm", "BinaryValue": None},
                "blob": {"DataType": "Binary", "StringValue": None, "BinaryValue": "AP8="},
            },
            "failureObject": None,  # a DLQ message, not an S3 destination's object
        }
        assert "receiptHandle" not in json.dumps(page)
        # Read back, the message goes to SQS exactly as it came (binary as bytes again).
        [message] = data.held_messages(registered(leases)).values()
        assert message.sqs_attributes() == {
            "origin": {"DataType": "String", "StringValue": "esm"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
        }

    def test_stops_at_max_messages(self) -> None:
        _, data, leases, dlq = new_dlq(pointer_bodies(25))
        messages = move_messages_to_manifest(dlq, data, leases, max_messages=13)
        assert len(messages) == 13
        assert dlq.requested == [13, 3]
        assert len(dlq.visible) == 12
        assert dlq.in_flight == []
        assert registered(leases) == 2

    def test_empty_queue(self) -> None:
        store, data, leases, dlq = new_dlq([])
        assert move_messages_to_manifest(dlq, data, leases, max_messages=10) == []
        assert store.list_keys(PREFIX) == []
        assert registered(leases) == 0

    def test_a_redelivered_message_is_counted_once(self) -> None:
        _, data, leases, dlq = new_dlq(pointer_bodies(3), page_size=2)
        fail_a_delete_then_redeliver(dlq, "m001")
        messages = move_messages_to_manifest(dlq, data, leases, max_messages=10)
        assert sorted(m.message_id for m in messages) == ["m000", "m001", "m002"]
        # m001 failed to delete twice (the call and its retry), then came back in the second
        # page, next to m002: stored twice, counted once, then deleted.
        assert dlq.calls[1:4] == [("delete", ["m000", "m001"]), ("delete", ["m001"]), ("receive", ["m001", "m002"])]
        assert sorted(dlq.deleted) == ["m000", "m001", "m002"]
        assert dlq.still_there() == []

    def test_a_message_undeleted_then_redelivered_and_deleted_is_held(self) -> None:
        _, data, leases, dlq = new_dlq(pointer_bodies(3), page_size=2)
        fail_a_delete_then_redeliver(dlq, "m001")
        collected = collect(dlq, data, leases, max_messages=10)
        assert dlq.still_there() == []  # m001 left the DLQ: only the run has it now
        assert sorted(data.held_messages(registered(leases))) == ["m000", "m001", "m002"]
        assert collected.undeleted == []

    def test_undeleted_ids_are_recorded_in_their_page_and_not_collected(self) -> None:
        store, data, leases, dlq = new_dlq(pointer_bodies(4))
        dlq.fail_delete_of = {"m002"}
        messages = move_messages_to_manifest(dlq, data, leases, max_messages=10)
        assert sorted(m.message_id for m in messages) == ["m000", "m001", "m003"]
        # Retried once on its own, then recorded: the message is still in the DLQ, not in the run.
        assert dlq.calls[1:3] == [("delete", ["m000", "m001", "m002", "m003"]), ("delete", ["m002"])]
        assert store.get_json(f"{PREFIX}messages/000001.json")["undeleted"] == ["m002"]
        assert dlq.still_there() == ["m002"]
        assert sorted(data.held_messages(registered(leases))) == ["m000", "m001", "m003"]

    def test_a_delete_that_fails_once_is_retried_and_the_message_held(self) -> None:
        store, data, leases, dlq = new_dlq(pointer_bodies(3))
        dlq.fail_delete_once_of = {"m001"}
        messages = move_messages_to_manifest(dlq, data, leases, max_messages=10)
        assert sorted(m.message_id for m in messages) == ["m000", "m001", "m002"]
        assert store.get_json(f"{PREFIX}messages/000001.json")["undeleted"] == []
        assert dlq.still_there() == []

    def test_retry_after_a_crash_between_register_and_delete(self) -> None:
        _, data, leases, dlq = new_dlq(pointer_bodies(7), page_size=3)
        dlq.crash_on_delete_call = 2
        with pytest.raises(Crash):
            move_messages_to_manifest(dlq, data, leases, max_messages=100)
        # Page two is registered and still in the queue; nothing is in neither.
        assert registered(leases) == 2
        assert dlq.stored_ids(registered_only=True) == {f"m{i:03d}" for i in range(6)}
        dlq.crash_on_delete_call = None
        dlq.redeliver_in_flight()

        messages = move_messages_to_manifest(dlq, data, leases, max_messages=100)
        ids = [m.message_id for m in messages]
        assert sorted(ids) == [f"m{i:03d}" for i in range(7)]
        assert len(ids) == len(set(ids))
        assert sorted(dlq.deleted) == sorted(ids)
        assert dlq.visible == [] and dlq.in_flight == []
        # The retry went on after the registered pages (2), never over them.
        assert registered(leases) == 4
        assert sorted(data.held_messages(4)) == sorted(ids)

    def test_retry_with_every_page_already_registered_receives_nothing_more_than_allowed(self) -> None:
        _, data, leases, dlq = new_dlq(pointer_bodies(6), page_size=3)
        move_messages_to_manifest(dlq, data, leases, max_messages=3)
        calls_before = len(dlq.calls)
        messages = move_messages_to_manifest(dlq, data, leases, max_messages=3)
        assert [m.message_id for m in messages] == ["m000", "m001", "m002"]
        assert len(dlq.calls) == calls_before
        assert len(dlq.visible) == 3
        assert registered(leases) == 1

    def test_pages_are_never_overwritten(self) -> None:
        store, data, leases, dlq = new_dlq(pointer_bodies(30), page_size=1)
        move_messages_to_manifest(dlq, data, leases, max_messages=30)
        assert len(store.list_keys(f"{PREFIX}messages/")) == 30
        assert registered(leases) == 30

    def test_a_closed_lease_registers_nothing_and_deletes_nothing(self) -> None:
        _, data, leases, dlq = new_dlq(pointer_bodies(5))
        leases.close_lease(RUN)
        assert move_messages_to_manifest(dlq, data, leases, max_messages=10) == []
        assert [name for name, _ in dlq.calls] == ["receive"]
        assert dlq.deleted == [] and registered(leases) == 0
        # The page written first is not held; its messages reappear after the visibility timeout.
        assert data.held_messages(registered(leases)) == {}
        dlq.redeliver_in_flight()
        assert dlq.still_there() == [f"m{i:03d}" for i in range(5)]

    def test_a_lease_closed_mid_collect_stops_at_the_next_page(self) -> None:
        _, data, leases, dlq = new_dlq(pointer_bodies(7), page_size=3)
        dlq.before_delete = lambda: leases.close_lease(RUN)  # the execution is aborted meanwhile
        messages = move_messages_to_manifest(dlq, data, leases, max_messages=100)
        # Page one was registered before the close: its delete goes through; page two is fenced.
        assert [m.message_id for m in messages] == ["m000", "m001", "m002"]
        assert registered(leases) == 1
        assert sorted(dlq.deleted) == ["m000", "m001", "m002"]
        assert dlq.still_there() == [f"m{i:03d}" for i in range(3, 7)]

    def test_a_run_without_a_lease_takes_nothing(self) -> None:
        _, data = new_run()
        leases = FakeStateStore()
        dlq = FakeDlq(data, leases, pointer_bodies(2))
        assert move_messages_to_manifest(dlq, data, leases, max_messages=10) == []
        assert dlq.deleted == []


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


EARLIER_RECORD = StreamRecord(
    source=Source.KINESIS, stream_arn=KINESIS_ARN, shard_id=SHARD, sequence_number="900", payload="eyJhIjoxfQ=="
)


def redrive_record_body(inline: bool) -> str:
    marker: dict[str, Any] = {
        "version": "1",
        "kind": "record",
        "recordId": f"{SHARD}:900",
        "runId": "run-0",
        "reason": "consumer failed again",
        "failure": {"condition": "RetryAttemptsExhausted"},
    }
    if inline:
        # The inline record is now validated as a StreamRecord (it needs its shardId).
        marker["record"] = EARLIER_RECORD.to_json()
    else:
        marker["record"] = None
        marker["recordRef"] = {"bucket": "b", "key": REF_KEY}
    return json.dumps({REDRIVE_MARKER: marker})


def messages_of(bodies: dict[str, str]) -> list[DlqMessage]:
    return [DlqMessage(message_id=mid, body=body) for mid, body in bodies.items()]


def inline_of(data: RunData, message_id: str) -> FetchedGroup:
    return data.get(data.paths.fetched_inline(message_id), FetchedGroup)


class TestLongPolls:
    def test_every_receive_is_a_long_poll_and_the_empty_one_ends_the_collection(self) -> None:
        _, data, leases, dlq = new_dlq(pointer_bodies(5), page_size=2)
        messages = move_messages_to_manifest(dlq, data, leases, max_messages=100)
        assert len(messages) == 5
        assert dlq.waits == [LONG_POLL_SECONDS] * 4  # pages of 2, 2, 1, then the empty poll

    def test_the_wait_shrinks_with_the_function_time_left_and_no_poll_starts_without_it(self) -> None:
        assert poll_wait_seconds(None) == LONG_POLL_SECONDS
        assert poll_wait_seconds(lambda: 300.0) == LONG_POLL_SECONDS
        assert poll_wait_seconds(lambda: RESERVE_SECONDS + 5.5) == 5
        assert poll_wait_seconds(lambda: RESERVE_SECONDS + 0.5) == 0
        clock = iter([300.0, RESERVE_SECONDS + 3.0, RESERVE_SECONDS])
        _, data, leases, dlq = new_dlq(pointer_bodies(5), page_size=2)
        messages = move_messages_to_manifest(dlq, data, leases, max_messages=100, time_left=lambda: next(clock))
        assert len(messages) == 4  # two polls (20 s, then 3 s), then no time for a third
        assert dlq.waits == [LONG_POLL_SECONDS, 3]
        assert dlq.still_there() == ["m004"]  # the rest stays in the DLQ, for the next run


class TestMessagesReturnedByEarlierRuns:
    def test_a_run_the_alarm_started_leaves_them_in_the_dlq_and_takes_the_new_ones(self) -> None:
        _, data, leases, dlq = new_dlq(pointer_bodies(5), page_size=2)
        dlq.mark_returned("m000", "m001", "m003")
        collected = collect(dlq, data, leases, max_messages=100, leave_returned=True)
        assert collected.messages == 2 and collected.left_in_place == 3
        assert sorted(dlq.deleted) == ["m002", "m004"]
        assert dlq.still_there() == ["m000", "m001", "m003"]
        assert dlq.calls[-1] == ("release", ["m000", "m001", "m003"])  # visible again once, at the end
        assert [m.message_id for m in dlq.visible] == ["m000", "m001", "m003"]

    def test_only_returned_messages_collect_nothing(self) -> None:
        _, data, leases, dlq = new_dlq(pointer_bodies(3))
        dlq.mark_returned("m000", "m001", "m002")
        collected = collect(dlq, data, leases, max_messages=100, leave_returned=True)
        assert (collected.messages, collected.left_in_place) == (0, 3)
        assert registered(leases) == 0 and dlq.deleted == []

    def test_a_crash_while_holding_them_still_releases_them(self) -> None:
        _, data, leases, dlq = new_dlq(pointer_bodies(3), page_size=1)
        dlq.mark_returned("m000")
        dlq.crash_on_delete_call = 1
        with pytest.raises(Crash):
            collect(dlq, data, leases, max_messages=100, leave_returned=True)
        assert ("release", ["m000"]) in dlq.calls

    def test_a_run_started_by_hand_takes_them_too(self) -> None:
        _, data, leases, dlq = new_dlq(pointer_bodies(3))
        dlq.mark_returned("m000", "m001")
        collected = collect(dlq, data, leases, max_messages=100)
        assert (collected.messages, collected.left_in_place) == (3, 0)

    def test_the_marker_keeps_the_message_own_attributes_and_never_passes_ten(self) -> None:
        own = {"origin": MessageAttribute(DataType="String", StringValue="esm")}
        marked = marked_returned(own, "run-9")
        assert marked["origin"] == own["origin"] and marked["StreamRedriveReturnedBy"].string_value == "run-9"
        assert marked_returned(marked, "run-10")["StreamRedriveReturnedBy"].string_value == "run-10"
        ten = {f"a{i}": MessageAttribute(DataType="String", StringValue="v") for i in range(10)}
        assert marked_returned(ten, "run-9") == ten  # no room: back exactly as it was
        at_limit = "x" * (1_048_576 - 20)
        assert marked_returned({}, "run-9", at_limit) == {}  # the marker would pass SQS's 1 MiB
        assert RETURNED_ATTRIBUTE in marked_returned({}, "run-9", "small")


class TestBuildManifest:
    def test_counts_by_kind_and_writes_manifest_and_groups(self) -> None:
        store, data = new_run()
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
        result = build_manifest(messages_of(bodies), data)
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
            assert store.get_json(f"{PREFIX}groups/{gid}.json")["groupId"] == gid
            assert data.group(gid).group_id == gid
        manifest = data.manifest()
        assert manifest is not None
        assert manifest.groups == result.groups
        entries = {e.message_id: e for e in manifest.messages}
        assert set(entries) == set(bodies)
        assert entries["u1"].kind is MessageKind.UNRECOGNISED and entries["u1"].reason
        assert entries["k1"].pointer is not None
        assert entries["k1"].pointer.start_sequence_number == "100"
        # A recognised message has no reason (the model writes it as null, no longer omits it).
        assert entries["k1"].reason is None
        raw_k1 = next(e for e in store.get_json(f"{PREFIX}manifest.json")["messages"] if e["messageId"] == "k1")
        assert raw_k1["pointer"]["startSequenceNumber"] == "100" and raw_k1.get("reason") is None
        k1_group = next(data.group(g) for g in result.groups if data.group(g).shard_id == SHARD)
        assert [(r.start, r.end) for r in k1_group.ranges] == [("100", "102")]

    def test_s3_destination_records_are_written_inline(self) -> None:
        _, data = new_run()
        result = build_manifest(messages_of({"s1": s3_destination_body()}), data)
        assert result.groups == []
        inline = inline_of(data, "s1")
        assert inline.group_id == "inline"
        assert [r.sequence_number for r in inline.records] == ["500", "501"]
        assert all(r.failure.condition == "RetryAttemptsExhausted" for r in inline.records)
        assert all(r.failure.function_arn == FUNCTION_ARN for r in inline.records)
        [assignment] = inline.assignments
        assert assignment.message_id == "s1"
        assert assignment.record_ids == [r.record_id for r in inline.records]
        assert assignment.expired == 0
        assert assignment.pointer is not None and assignment.pointer.source is Source.KINESIS

    def test_redrive_record_inline(self) -> None:
        store, data = new_run()
        build_manifest(messages_of({"r1": redrive_record_body(inline=True)}), data)
        inline = inline_of(data, "r1")
        [record] = inline.records
        assert record.record_id == f"{SHARD}:900"
        assert record.source is Source.KINESIS
        assert record.failure == FailureContext(condition="RetryAttemptsExhausted")
        assert record.without_failure() == EARLIER_RECORD
        assert inline.assignments == [PointerAssignment(message_id="r1", record_ids=[f"{SHARD}:900"])]
        raw = store.get_json(f"{PREFIX}fetched/inline-r1.json")
        assert raw["records"][0]["recordId"] == f"{SHARD}:900"

    def test_redrive_record_by_reference(self) -> None:
        # Changed on purpose: the reference is resolved in Collect. The inline group holds the
        # referenced record itself (with the marker's failure context), not the reference.
        store, data = new_run()
        data.put(REF_KEY, EARLIER_RECORD)
        result = build_manifest(messages_of({"r1": redrive_record_body(inline=False)}), data)
        assert result.kinds == {"redrive-record": 1}
        [record] = inline_of(data, "r1").records
        assert record.record_id == f"{SHARD}:900"
        assert record.without_failure() == EARLIER_RECORD
        assert record.failure == FailureContext(condition="RetryAttemptsExhausted")
        assert "recordRef" not in store.get_json(f"{PREFIX}fetched/inline-r1.json")["records"][0]

    def test_redrive_record_whose_reference_is_gone_is_unrecognised(self) -> None:
        # New with the resolution in Collect: a missing object makes the message unrecognised
        # (with the reason), so it goes back to the DLQ untouched instead of failing the run.
        store, data = new_run()
        result = build_manifest(messages_of({"r1": redrive_record_body(inline=False)}), data)
        assert result.kinds == {"unrecognised": 1}
        manifest = data.manifest()
        assert manifest is not None
        [entry] = manifest.messages
        assert entry.kind is MessageKind.UNRECOGNISED
        assert entry.reason is not None and f"s3://b/{REF_KEY}" in entry.reason
        assert store.list_keys(f"{PREFIX}fetched/") == []

    def test_redrive_record_whose_referenced_object_is_invalid_is_unrecognised(self) -> None:
        store, data = new_run()
        store.put_json(REF_KEY, {"source": "kinesis", "sequenceNumber": "900"})  # no shardId
        result = build_manifest(messages_of({"r1": redrive_record_body(inline=False)}), data)
        assert result.kinds == {"unrecognised": 1}
        manifest = data.manifest()
        assert manifest is not None
        [entry] = manifest.messages
        assert entry.reason is not None and "not valid" in entry.reason
        assert store.list_keys(f"{PREFIX}fetched/") == []

    def test_unrecognised_and_pointers_write_no_inline_records(self) -> None:
        store, data = new_run()
        build_manifest(messages_of({"k1": pointer_body(1), "u1": "x"}), data)
        assert store.list_keys(f"{PREFIX}fetched/") == []


def test_collect_reports_counts_groups_and_undeleted() -> None:
    _, data, leases, dlq = new_dlq(
        [pointer_body(100), pointer_body(200, shard="shardId-000000000002"), "junk", pointer_body(300)]
    )
    dlq.fail_delete_of = {"m003"}
    state = collect(dlq, data, leases, max_messages=10).to_json()
    # m003 is still in the DLQ: reported undeleted, and neither in the manifest nor its groups.
    assert state["messages"] == 3
    assert state["kinds"] == {"kinesis-pointer": 2, "unrecognised": 1}
    assert len(state["groups"]) == 2
    assert state["undeleted"] == ["m003"]
    manifest = data.manifest()
    assert manifest is not None
    assert sorted(e.message_id for e in manifest.messages) == ["m000", "m001", "m002"]
    json.dumps(state)  # the state payload is plain JSON


def test_a_retried_collect_builds_the_manifest_from_every_held_page() -> None:
    _, data, leases, dlq = new_dlq(pointer_bodies(5), page_size=2)
    dlq.crash_on_delete_call = 2
    with pytest.raises(Crash):
        collect(dlq, data, leases, max_messages=10)
    dlq.crash_on_delete_call = None
    dlq.redeliver_in_flight()
    state = collect(dlq, data, leases, max_messages=10)
    assert state.messages == 5 and state.undeleted == []
    manifest = data.manifest()
    assert manifest is not None
    assert sorted(e.message_id for e in manifest.messages) == [f"m{i:03d}" for i in range(5)]
