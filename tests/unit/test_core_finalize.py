"""settle_run (Finalize): every message and record of a run gets its outcome, in every mode.

A run is built with the real core steps (move_messages_to_manifest from a fake DLQ into
pages registered in the run's lease, build_manifest, assign_records, plan_run,
redrive_batch) over a MemoryStore and fakes, then settled back into that DLQ. Each test
also checks the "nothing lost" invariant generically (:func:`assert_nothing_lost`): the
DLQ before the run is the DLQ after it (what stayed, plus what was sent back) plus what
the run finished.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from redrive.contracts.fetch import FetchedGroup
from redrive.contracts.ledger import LeaseStatus, RunLease
from redrive.contracts.messages import (
    REDRIVE_MARKER,
    DlqMessage,
    MessageAttribute,
    MessagePage,
    ReceivedMessage,
    RedriveMarker,
)
from redrive.contracts.plan import Batch
from redrive.contracts.records import StreamRecord, from_kinesis_get_records
from redrive.contracts.report import Report
from redrive.contracts.run import RunConfig
from redrive.contracts.vocab import FinalizeMode, MessageKind, Outcome
from redrive.core.collect import build_manifest, move_messages_to_manifest
from redrive.core.fetch_groups import assign_records
from redrive.core.finalize import MAX_INLINE_BYTES
from redrive.core.messages import classify_message
from redrive.core.plan_run import plan_run
from redrive.core.redrive import redrive_batch
from redrive.core.run_data import RunData
from redrive.core.settle import settle_run
from tests.fakes import FakeQueue, FakeStateStore, MemoryStore, UnpacedLimiter, memory_run
from tests.fakes import run_config as shared_run_config
from tests.support.rules import AMOUNT_AS_NUMBER, DROP_TEST_EVENTS

RUN = "run-1"
PREFIX = f"runs/{RUN}/"
BUCKET = "redrive-bucket"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:dlq"
KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer"
SHARD = "shardId-000000000000"
SHARD1 = "shardId-000000000001"
ATTRIBUTES = {"origin": MessageAttribute(DataType="String", StringValue="esm")}
RULES = [
    DROP_TEST_EVENTS,
    AMOUNT_AS_NUMBER,
    {"name": "needs-boolean", "when": "data.broken", "action": "discard", "reason": "never reached"},
]
ALL_MODES = list(FinalizeMode)
NOTHING_REDRIVEN = [FinalizeMode.DRY_RUN, FinalizeMode.REJECTED]


def requeued_markers(sink: FakeQueue) -> list[RedriveMarker]:
    """Markers of records this run sent back (not original messages returned as they were)."""
    out = []
    for body, _ in sink.sent:
        try:
            marker = json.loads(body).get(REDRIVE_MARKER) if body.startswith("{") else None
        except json.JSONDecodeError:
            marker = None
        if isinstance(marker, dict) and marker.get("runId") == RUN:
            out.append(RedriveMarker.parse(marker))
    return out


class FailingTarget:
    """Fails the records whose data has ``"fail": true``."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, batch: Batch) -> dict[str, str]:
        failed = {}
        for record in batch.records:
            self.sent.append(record.record_id)
            try:
                data = json.loads(base64.b64decode(record.payload or ""))
            except ValueError:
                data = None
            if isinstance(data, dict) and data.get("fail"):
                failed[record.record_id] = "consumer failed again (ValueError: no)"
        return failed


def pointer_body(start: int, end: int, size: int, shard: str = SHARD) -> str:
    return json.dumps(
        {
            "requestContext": {
                "functionArn": FUNCTION_ARN,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": 2,
            },
            "responseContext": {"functionError": "Unhandled"},
            "KinesisBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": str(start),
                "endSequenceNumber": str(end),
                "batchSize": size,
                "streamArn": KINESIS_ARN,
            },
        }
    )


def s3_destination_body(items: dict[int, Any], raw_data: dict[int, str] | None = None) -> str:
    """``raw_data`` gives a record's ``data`` as it is (not base64 of JSON)."""
    raw_data = raw_data or {}
    body = json.loads(pointer_body(min(items), max(items), len(items), shard=SHARD1))
    body["payload"] = {
        "Records": [
            {
                "kinesis": {
                    "partitionKey": f"pk-{seq}",
                    "sequenceNumber": str(seq),
                    "data": raw_data.get(seq) or base64.b64encode(json.dumps(data).encode()).decode(),
                    "approximateArrivalTimestamp": 1763781158.85,
                },
                "eventSourceARN": KINESIS_ARN,
            }
            for seq, data in items.items()
        ]
    }
    return json.dumps(body)


def earlier_requeue_body(seq: int, data: Any) -> str:
    record = from_kinesis_get_records(
        {"SequenceNumber": str(seq), "Data": json.dumps(data).encode(), "PartitionKey": "pk"}, KINESIS_ARN, SHARD1
    )
    marker = {
        "version": "1",
        "kind": "record",
        "recordId": record.record_id,
        "runId": "run-0",
        "reason": "consumer failed again",
        "failure": {"condition": "RetryAttemptsExhausted", "functionArn": FUNCTION_ARN},
        "record": record.to_json(),
    }
    return json.dumps({REDRIVE_MARKER: marker})


def message(mid: str, body: str) -> DlqMessage:
    return DlqMessage(message_id=mid, body=body, attributes={"SentTimestamp": "1"}, message_attributes=ATTRIBUTES)


def run_config(run_id: str = RUN, rules: list[dict[str, Any]] = RULES, batch_size: int = 10) -> RunConfig:
    config: RunConfig = shared_run_config(run_id, rules=rules, batch_size=batch_size, dlq_url=DLQ_URL, bucket=BUCKET)
    return config


class Dlq(FakeQueue):
    """The run's DLQ, holding given messages (ids and attributes kept): receive hides a
    message (in flight) until it is deleted; ids in ``fail_delete_of`` never delete."""

    def __init__(self, messages: Sequence[DlqMessage] = ()) -> None:
        super().__init__()
        self.in_flight: list[ReceivedMessage] = []
        self.fail_delete_of: set[str] = set()
        for m in messages:
            self.visible.append(ReceivedMessage(**m.model_dump(), receipt_handle=f"rh-{m.message_id}"))

    def receive(self, max_messages: int, wait_seconds: int = 0) -> list[ReceivedMessage]:
        page = super().receive(max_messages, wait_seconds)
        self.visible = self.visible[len(page) :]
        self.in_flight.extend(page)
        return page

    def delete(self, messages: Sequence[ReceivedMessage]) -> list[str]:
        failed = [m.message_id for m in messages if m.message_id in self.fail_delete_of]
        gone = {m.message_id for m in messages} - set(failed)
        self.deleted.extend(sorted(gone))
        self.in_flight = [m for m in self.in_flight if m.message_id not in gone]
        return failed

    def still_there(self) -> list[ReceivedMessage]:
        """Every message the DLQ still has (visible or in flight), not counting those sent back."""
        return self.visible + self.in_flight


def lease_for(config: RunConfig) -> RunLease:
    return RunLease(
        run_id=config.run_id,
        execution_arn=config.execution_arn,
        queue_arn=config.dlq_arn,
        dlq_url=config.dlq_url,
        bucket=config.bucket,
    )


def begin(state: FakeStateStore, config: RunConfig) -> None:
    """What Prepare leaves: the run's lease open and the DLQ's lock taken."""
    state.open_lease(lease_for(config))
    state.acquire_lock(config.dlq_arn, config.execution_arn)


def hold(state: FakeStateStore, data: RunData, messages: list[DlqMessage]) -> None:
    """Write the run's next page and register it, as Collect does (for a hand-made run)."""
    lease = state.lease(data.paths.run_id)
    assert lease is not None
    number = lease.pages + 1
    data.put(data.paths.message_page(number), MessagePage(number=number, messages=messages))
    state.register_page(data.paths.run_id, number)


@dataclass
class Settled:
    """A settled run: its report and what its disposition sent back."""

    report: Report
    returned_messages: list[str]
    requeued_records: list[str]

    @classmethod
    def of(cls, report: Report, data: RunData) -> Settled:
        disposition = data.disposition()
        assert disposition is not None, "settled without a disposition"
        return cls(
            report=report,
            returned_messages=[s.message_id for s in disposition.sends if s.message_id is not None],
            requeued_records=[s.record_id for s in disposition.sends if s.record_id is not None],
        )


class Run:
    """One run's store, lease and DLQ, built by the real core steps up to the redrive."""

    def __init__(self, messages: list[DlqMessage], stream: dict[str, dict[int, Any]], batch_size: int = 10) -> None:
        self.store = MemoryStore()
        self.data = memory_run(RUN, self.store)
        self.messages = {m.message_id: m for m in messages}  # the DLQ before the run
        self.dlq = Dlq(messages)
        self.state = FakeStateStore()
        self.stream = stream
        self.config = run_config(batch_size=batch_size)
        self.batches: list[str] = []
        self.target = FailingTarget()
        self.held: list[DlqMessage] = []
        begin(self.state, self.config)

    def collect(self) -> Run:
        self.held = move_messages_to_manifest(self.dlq, self.data, self.state, self.config.max_messages)
        return self

    def manifest(self) -> Run:
        build_manifest(self.held, self.data)
        return self

    def fetch(self) -> Run:
        manifest = self.data.manifest()
        assert manifest is not None
        for gid in manifest.groups:
            group = self.data.group(gid)
            records = []
            for seq, data in sorted(self.stream.get(group.shard_id, {}).items()):
                if any(int(r.start) <= seq <= int(r.end) for r in group.ranges):
                    item = {"SequenceNumber": str(seq), "Data": json.dumps(data).encode(), "PartitionKey": f"pk-{seq}"}
                    records.append(from_kinesis_get_records(item, group.stream_arn, group.shard_id))
            with_failure, assignments = assign_records(group, records)
            self.data.put(
                self.data.paths.fetched_group(gid),
                FetchedGroup(group_id=gid, records=with_failure, assignments=assignments),
            )
        return self

    def plan(self) -> Run:
        plan_run(self.config, self.data, None)
        plan = self.data.plan()
        assert plan is not None
        self.batches = plan.batches
        return self

    def redrive(self, only: int | None = None) -> Run:
        for batch_id in self.batches[:only]:
            output = redrive_batch(
                run=self.config,
                batch_id=batch_id,
                data=self.data,
                claims=self.state,
                target=self.target,
                clock=lambda: 1000.0,
                limiter=UnpacedLimiter(),
            )
            assert not output.fenced
        return self

    def planned(self) -> Run:
        return self.collect().manifest().fetch().plan()

    def settle(self, mode: FinalizeMode, sink: FakeQueue | None = None, now: float = 2000.0, **options: Any) -> Report:
        """settle_run on this run's data, DLQ (or ``sink``) and state; ``options``: the rest of
        settle_run's keywords (history, in_flight_grace, error, ...)."""
        return settle_run(
            run=self.config,
            mode=mode,
            data=self.data,
            dlq=self.dlq if sink is None else sink,
            state_store=self.state,
            now=now,
            **options,
        )

    def finalize(self, mode: FinalizeMode) -> tuple[Settled, FakeQueue]:
        """Settle into the run's own DLQ; check that nothing was lost."""
        result = Settled.of(self.settle(mode), self.data)
        assert_nothing_lost(self, self.dlq, result, mode)
        return result, self.dlq


def registered_held(data: RunData, lease: RunLease) -> dict[str, DlqMessage]:
    """The messages the ledger says the run holds: its registered pages (read raw from the
    store, not through RunData): each message that some page holds and SQS deleted there."""
    held: dict[str, DlqMessage] = {}
    for number in range(1, lease.pages + 1):
        page = data.store.get_json(data.paths.message_page(number))
        for m in page["messages"]:
            if m["messageId"] not in page["undeleted"]:
                held.setdefault(m["messageId"], DlqMessage.parse(m))
    return held


def assert_nothing_lost(run: Run, sink: FakeQueue, result: Settled, mode: FinalizeMode) -> None:
    """The DLQ before the run is what stayed in it, plus what was sent back as it was, plus
    the messages the run finished (each record redriven, discarded, or requeued on its own)."""
    data, store = run.data, run.data.store
    lease = run.state.lease(RUN)
    assert lease is not None and lease.status is LeaseStatus.SETTLED, "the run's lease is not settled"
    assert run.config.dlq_arn not in run.state.locks, "the DLQ's lock is still held"
    stayed = {m.message_id for m in run.dlq.still_there()}
    taken = set(run.messages) - stayed  # what left the DLQ: the run holds it
    held = registered_held(data, lease)
    assert taken <= set(held), f"deleted from the DLQ but not held: {sorted(taken - set(held))}"
    assert not set(held) & stayed, f"held, yet still in the DLQ: {sorted(set(held) & stayed)}"
    plan = data.plan()
    message_records = plan.message_records if plan else {}
    report = result.report
    outcomes = {r.record_id: r for r in report.records if r.record_id}
    expired_messages = {r.message_id for r in report.records if r.outcome is Outcome.EXPIRED}
    requeued = [m.record_id or "" for m in requeued_markers(sink)]
    assert len(requeued) == len(set(requeued)), "a record was requeued twice"
    assert sorted(requeued) == sorted(result.requeued_records)
    sent_bodies = list(sink.sent)
    assert not set(result.returned_messages) & stayed, "a message still in the DLQ was sent back too"
    for mid in sorted(set(run.messages) | set(held)):
        if mid in stayed:
            continue
        original = held.get(mid) or run.messages[mid]
        if mid in result.returned_messages:
            # FakeQueue keeps no attributes as None.
            expected = (original.body, original.message_attributes or None)
            assert expected in sent_bodies, f"{mid} not sent as it was"
            continue
        rids = message_records.get(mid, [])
        assert rids or mid in expired_messages, f"{mid}: neither returned, nor records, nor an expired pointer"
        for rid in rids:
            outcome = outcomes[rid].outcome
            finished = outcome in (Outcome.REDRIVEN, Outcome.DISCARDED)
            assert finished or rid in requeued, f"{mid}/{rid} is {outcome} and lost"
            if outcome is Outcome.DISCARDED:
                archived = store.get_json(data.paths.discarded(rid))
                assert archived["rule"] and archived["reason"] and archived["record"]["recordId"] == rid
    returned = Counter(result.returned_messages)
    assert all(n == 1 for n in returned.values()), "a message was returned twice"
    assert len(sent_bodies) == len(result.returned_messages) + len(requeued), "something else was sent"
    if mode is not FinalizeMode.COMPLETE:
        assert not store.list_keys(f"{data.paths.prefix}discarded/"), "nothing is discarded outside a complete run"
    assert report.completed
    assert store.get_json(data.paths.report) == json.loads(json.dumps(report.to_json()))


def standard_run(batch_size: int = 10) -> Run:
    """A pointer with five records (good, test, repairable, failing, rule-error), a pointer whose
    records all expired, a partly expired pointer, an S3 destination message, an earlier run's
    requeued record and a stray message."""
    stream = {
        SHARD: {
            100: {"id": "o-1", "amount": 10},
            101: {"type": "test"},
            102: {"id": "o-3", "amount": "3.5"},
            103: {"id": "o-4", "fail": True},
            104: {"id": "o-5", "broken": 1},
            301: {"id": "o-7", "amount": 1},
        }
    }
    messages = [
        message("m-main", pointer_body(100, 104, 5)),
        message("m-expired", pointer_body(200, 203, 4)),
        message("m-partly", pointer_body(300, 302, 3)),
        message("m-s3", s3_destination_body({500: {"id": "s-1"}, 501: {"id": "s-2", "fail": True}})),
        message("m-earlier", earlier_requeue_body(700, {"id": "e-1"})),
        message("m-stray", '{"note": "not a pointer"}'),
    ]
    return Run(messages, stream, batch_size)


def rid(seq: int, shard: str = SHARD) -> str:
    return f"{shard}:{seq}"


class TestComplete:
    def test_outcomes_archive_and_requeue(self) -> None:
        run = standard_run().planned().redrive()
        result, sink = run.finalize(FinalizeMode.COMPLETE)
        by_id = {r.record_id: r for r in result.report.records if r.record_id}
        assert by_id[rid(100)].outcome is Outcome.REDRIVEN
        assert by_id[rid(101)].outcome is Outcome.DISCARDED
        assert (by_id[rid(102)].outcome, by_id[rid(102)].repaired) == (Outcome.REDRIVEN, True)
        assert by_id[rid(102)].data == {"id": "o-3", "amount": 3.5}
        assert by_id[rid(102)].original_data == {"id": "o-3", "amount": "3.5"}
        assert by_id[rid(103)].outcome is Outcome.FAILED
        assert by_id[rid(104)].outcome is Outcome.FAILED
        assert (by_id[rid(104)].reason or "").startswith("rule-error: ")
        assert by_id[rid(500, SHARD1)].outcome is Outcome.REDRIVEN
        assert by_id[rid(501, SHARD1)].outcome is Outcome.FAILED
        assert by_id[rid(700, SHARD1)].outcome is Outcome.REDRIVEN

        archived = run.store.get_json(run.data.paths.discarded(rid(101)))
        assert archived["runId"] == RUN
        assert (archived["rule"], archived["reason"]) == ("drop-test-events", "test traffic")
        assert json.loads(base64.b64decode(archived["record"]["payload"])) == {"type": "test"}

        assert sorted(result.requeued_records) == sorted([rid(103), rid(104), rid(501, SHARD1)])
        assert result.returned_messages == ["m-stray"]
        assert (run.messages["m-stray"].body, ATTRIBUTES) in sink.sent
        counts = result.report.counts
        assert counts.dlq_messages == 6
        assert counts.expired == 4 + 2
        assert (counts.redriven, counts.discarded, counts.failed) == (5, 1, 3)
        assert (counts.returned_messages, counts.requeued_records, counts.unrecognised) == (1, 3, 1)
        assert result.report.to_json()["unrecognised"] == [
            {"messageId": "m-stray", "reason": "no KinesisBatchInfo or DDBStreamBatchInfo object"}
        ]
        # The old JSON shape of the report.
        report_json = result.report.to_json()
        assert report_json["counts"]["redriven"] == 5 and report_json["counts"]["requeuedRecords"] == 3

    def test_an_expired_only_pointer_is_kept_in_the_report_not_returned(self) -> None:
        run = standard_run().planned().redrive()
        result, sink = run.finalize(FinalizeMode.COMPLETE)
        assert "m-expired" not in result.returned_messages
        assert all(body != run.messages["m-expired"].body for body, _ in sink.sent)
        expired = [r for r in result.report.records if r.message_id == "m-expired"]
        assert len(expired) == 4
        assert all(
            r.outcome is Outcome.EXPIRED and r.pointer is not None and r.pointer.start_sequence_number == "200"
            for r in expired
        )

    def test_requeued_records_are_self_contained(self) -> None:
        run = standard_run().planned().redrive()
        _, sink = run.finalize(FinalizeMode.COMPLETE)
        fetched: dict[str, StreamRecord] = {}
        for group in run.data.fetched_groups():
            fetched.update({r.record_id: r for r in group.records})
        seen = 0
        for body, attrs in sink.sent:
            classified = classify_message(body)
            if classified.kind is not MessageKind.REDRIVE_RECORD:
                continue
            seen += 1
            marker = classified.marker
            assert marker is not None and marker.run_id == RUN
            assert marker.reason
            assert marker.failure.function_arn == FUNCTION_ARN
            assert marker.record_id is not None
            original = fetched[marker.record_id]
            assert marker.failure.redrive_attempts == original.failure.redrive_attempts + 1
            assert marker.record == original.without_failure()
            assert attrs is None
        assert seen == 3

    def test_a_held_record_reason_names_its_class(self) -> None:
        # Changed on purpose: a held record's reason is "<class>: <reason>" (was always "rule-error: ").
        run = Run([message("m-bad", s3_destination_body({10: None}, raw_data={10: "!!!not base64"}))], {})
        run.planned().redrive()
        result, _ = run.finalize(FinalizeMode.COMPLETE)
        [reported] = result.report.records
        assert reported.outcome is Outcome.FAILED
        assert (reported.reason or "").startswith("invalid-record: the record cannot be read")
        assert result.requeued_records == [rid(10, SHARD1)]

    def test_a_large_failed_record_goes_back_by_s3_reference(self) -> None:
        big = {"id": "o-big", "fail": True, "blob": "x" * MAX_INLINE_BYTES}
        run = Run([message("m1", pointer_body(10, 11, 2))], {SHARD: {10: big, 11: {"id": "o-small", "fail": True}}})
        run.planned().redrive()
        result, sink = run.finalize(FinalizeMode.COMPLETE)
        markers = {m.record_id: m for m in requeued_markers(sink)}
        assert set(markers) == {rid(10), rid(11)}
        small, large = markers[rid(11)], markers[rid(10)]
        assert small.record is not None and small.record.record_id == rid(11)
        # The marker JSON now always carries both keys; the one not used is null.
        assert small.record_ref is None
        assert large.record is None
        ref = large.record_ref
        assert ref is not None
        assert ref.bucket == BUCKET and ref.key.startswith(f"{PREFIX}records/")
        stored = StreamRecord.parse(run.store.get_json(ref.key))
        assert json.loads(base64.b64decode(stored.payload or "")) == big
        assert all(len(body.encode()) <= MAX_INLINE_BYTES for body, _ in sink.sent)
        assert result.report.counts.requeued_records == 2

    def test_unreached_batches_fail_and_are_requeued(self) -> None:
        run = standard_run(batch_size=1).planned().redrive(only=2)
        result, _ = run.finalize(FinalizeMode.COMPLETE)
        outcomes = [r.outcome for r in result.report.records if r.record_id]
        assert Outcome.PLANNED not in outcomes
        reasons = {r.reason for r in result.report.records if r.outcome is Outcome.FAILED}
        assert "the redrive did not reach this record's batch" in reasons

    def test_a_fully_redriven_message_is_not_returned(self) -> None:
        run = Run([message("m1", pointer_body(10, 11, 2))], {SHARD: {10: {"a": 1}, 11: {"a": 2}}})
        run.planned().redrive()
        result, sink = run.finalize(FinalizeMode.COMPLETE)
        assert sink.sent == []
        assert result.report.counts.redriven == 2


@pytest.mark.parametrize("mode", NOTHING_REDRIVEN)
class TestNothingRedriven:
    def test_every_message_returns_as_it_was(self, mode: FinalizeMode) -> None:
        run = standard_run().planned()
        result, sink = run.finalize(mode)
        assert sorted(result.returned_messages) == sorted(run.messages)
        assert sorted(sink.sent, key=lambda s: s[0]) == sorted(
            ((m.body, ATTRIBUTES) for m in run.messages.values()), key=lambda s: s[0]
        )
        assert result.requeued_records == []
        outcomes = {r.outcome for r in result.report.records if r.record_id}
        assert outcomes == {Outcome.PLANNED}
        assert result.report.mode is mode
        assert result.report.to_json()["mode"] == mode.value
        assert result.report.counts.planned == 9
        assert run.store.list_keys(f"{PREFIX}discarded/") == []


class TestRelease:
    def test_after_a_partial_redrive(self) -> None:
        # batch_size 1: batches in (shard, sequence) order; the first two are shard 0's 100 and 102.
        run = standard_run(batch_size=1).planned().redrive(only=2)
        result, sink = run.finalize(FinalizeMode.RELEASE)
        by_id = {r.record_id: r for r in result.report.records if r.record_id}
        assert by_id[rid(100)].outcome is Outcome.REDRIVEN
        assert by_id[rid(102)].outcome is Outcome.REDRIVEN
        # m-main: finished records stay finished; every other record goes back on its own.
        assert "m-main" not in result.returned_messages
        requeued = set(result.requeued_records)
        assert {rid(101), rid(103), rid(104)} <= requeued
        assert not {rid(100), rid(102)} & requeued
        # Messages none of whose records finished return whole, with their attributes.
        for mid in ("m-expired", "m-partly", "m-s3", "m-earlier", "m-stray"):
            assert mid in result.returned_messages
            assert (run.messages[mid].body, ATTRIBUTES) in sink.sent
        assert run.store.list_keys(f"{PREFIX}discarded/") == []

    def test_nothing_redriven_returns_everything(self) -> None:
        run = standard_run().planned()
        result, _ = run.finalize(FinalizeMode.RELEASE)
        assert sorted(result.returned_messages) == sorted(run.messages)
        assert result.requeued_records == []

    def test_no_plan_collect_failed_every_stored_message_returns(self) -> None:
        run = standard_run().collect()
        result, sink = run.finalize(FinalizeMode.RELEASE)
        assert sorted(result.returned_messages) == sorted(run.messages)
        assert len(sink.sent) == len(run.messages)
        assert result.report.records == []
        assert result.report.counts.dlq_messages == 6

    def test_no_plan_fetch_failed_every_stored_message_returns(self) -> None:
        run = standard_run().collect().manifest()
        result, _ = run.finalize(FinalizeMode.RELEASE)
        assert sorted(result.returned_messages) == sorted(run.messages)

    def test_nothing_collected(self) -> None:
        run = Run([], {})
        result, sink = run.finalize(FinalizeMode.RELEASE)
        assert (result.returned_messages, sink.sent) == ([], [])


@pytest.mark.parametrize("mode", ALL_MODES)
def test_unrecognised_messages_always_return_untouched(mode: FinalizeMode) -> None:
    run = Run(
        [
            message("u1", "not json"),
            message("u2", "[1,2]"),
            message("u3", json.dumps({REDRIVE_MARKER: {"kind": "mystery"}})),
            message("m1", pointer_body(10, 10, 1)),
        ],
        {SHARD: {10: {"a": 1}}},
    ).planned()
    if mode is FinalizeMode.COMPLETE:
        run.redrive()
    result, sink = run.finalize(mode)
    for mid in ("u1", "u2", "u3"):
        assert mid in result.returned_messages
        assert (run.messages[mid].body, ATTRIBUTES) in sink.sent
    assert result.report.counts.unrecognised == 3


def test_a_requeued_record_whose_s3_object_is_gone_returns_untouched() -> None:
    # Changed on purpose: the reference is resolved in Collect; a missing object makes the
    # message unrecognised (with the reason), so it goes back as it was instead of being lost.
    marker = {"kind": "record", "recordId": rid(9), "runId": "run-0", "recordRef": {"bucket": BUCKET, "key": "gone"}}
    run = Run([message("m-gone", json.dumps({REDRIVE_MARKER: marker}))], {}).planned()
    result, sink = run.finalize(FinalizeMode.COMPLETE)
    assert result.returned_messages == ["m-gone"]
    assert sink.sent == [(run.messages["m-gone"].body, ATTRIBUTES)]
    [unrecognised] = result.report.unrecognised
    assert unrecognised.message_id == "m-gone"
    assert f"s3://{BUCKET}/gone" in (unrecognised.reason or "")


class TestTheInvariantCheck:
    """assert_nothing_lost itself fails when a message or a record goes missing."""

    def finalized(self) -> tuple[Run, Settled, FakeQueue]:
        run = standard_run().planned().redrive()
        result = Settled.of(run.settle(FinalizeMode.COMPLETE), run.data)
        return run, result, run.dlq

    def test_the_untouched_run_passes(self) -> None:
        run, result, sink = self.finalized()
        assert_nothing_lost(run, sink, result, FinalizeMode.COMPLETE)

    def test_a_dropped_record_is_caught(self) -> None:
        run, result, sink = self.finalized()
        sink.sent = [(body, attrs) for body, attrs in sink.sent if rid(103) not in body]
        result.requeued_records.remove(rid(103))
        with pytest.raises(AssertionError, match="lost"):
            assert_nothing_lost(run, sink, result, FinalizeMode.COMPLETE)

    def test_a_message_not_really_returned_is_caught(self) -> None:
        run, result, sink = self.finalized()
        sink.sent = [(body, attrs) for body, attrs in sink.sent if body != run.messages["m-stray"].body]
        with pytest.raises(AssertionError, match="not sent as it was"):
            assert_nothing_lost(run, sink, result, FinalizeMode.COMPLETE)

    def test_a_silently_skipped_message_is_caught(self) -> None:
        run, result, sink = self.finalized()
        # A registered page the settle did not see (the lease says the run holds m-ghost).
        run.data.put(run.data.paths.message_page(2), MessagePage(number=2, messages=[message("m-ghost", "{}")]))
        run.state.leases[RUN].pages = 2
        with pytest.raises(AssertionError, match="m-ghost"):
            assert_nothing_lost(run, sink, result, FinalizeMode.COMPLETE)

    def test_a_message_deleted_but_not_held_is_caught(self) -> None:
        run, result, sink = self.finalized()
        run.state.leases[RUN].pages = 0  # as if Collect had deleted without registering
        with pytest.raises(AssertionError, match="deleted from the DLQ but not held"):
            assert_nothing_lost(run, sink, result, FinalizeMode.COMPLETE)

    def test_something_extra_sent_is_caught(self) -> None:
        run, result, sink = self.finalized()
        sink.send("a message from nowhere")
        with pytest.raises(AssertionError, match="something else was sent"):
            assert_nothing_lost(run, sink, result, FinalizeMode.COMPLETE)

    def test_an_unsettled_lease_is_caught(self) -> None:
        run, result, sink = self.finalized()
        run.state.leases[RUN].status = LeaseStatus.CLOSED
        with pytest.raises(AssertionError, match="not settled"):
            assert_nothing_lost(run, sink, result, FinalizeMode.COMPLETE)


def test_messages_stored_twice_are_returned_once() -> None:
    run = standard_run().collect()
    # SQS delivers a copy of m-stray again (at least once): a later page holds it a second time.
    stray = run.messages["m-stray"]
    run.dlq.visible.append(ReceivedMessage(**stray.model_dump(), receipt_handle="rh-again"))
    run.collect()
    lease = run.state.lease(RUN)
    assert lease is not None and lease.pages == 2
    result, sink = run.finalize(FinalizeMode.RELEASE)
    assert result.returned_messages.count("m-stray") == 1
    assert sum(1 for body, _ in sink.sent if body == stray.body) == 1


def test_an_unregistered_page_is_not_held() -> None:
    # A page a fenced Collect wrote but could not register: its messages are still in the DLQ.
    run = standard_run().planned()
    run.data.put(run.data.paths.message_page(2), MessagePage(number=2, messages=[message("m-late", "{}")]))
    result, sink = run.finalize(FinalizeMode.RELEASE)
    assert "m-late" not in result.returned_messages
    assert all(body != "{}" for body, _ in sink.sent)


def test_requeued_records_survive_the_next_run() -> None:
    """A record sent back by reference is planned again, unchanged, by the next run."""
    big = {"id": "o-big", "fail": True, "blob": "y" * MAX_INLINE_BYTES}
    first = Run([message("m1", pointer_body(10, 11, 2))], {SHARD: {10: big, 11: {"id": "o-2", "fail": True}}})
    first.planned().redrive()
    _, sink = first.finalize(FinalizeMode.COMPLETE)
    next_messages = [message(f"n{i}", body) for i, (body, _) in enumerate(sink.sent)]
    second = memory_run("run-2", first.store)
    build_manifest(next_messages, second)
    plan_run(run_config("run-2"), second, None)
    batch = second.batch("b00001")
    payloads = {r.record_id: json.loads(base64.b64decode(r.payload or "")) for r in batch.records}
    assert payloads == {rid(10): big, rid(11): {"id": "o-2", "fail": True}}
    # The failure context travelled: each record has been redriven (and failed) once.
    assert all(r.failure.redrive_attempts == 1 for r in _fetched_records(second))


def _fetched_records(data: RunData) -> list[StreamRecord]:
    return [r for group in data.fetched_groups() for r in group.records]


def test_a_second_finalize_after_complete_sends_nothing_again() -> None:
    run = standard_run().planned().redrive()
    _, first = run.finalize(FinalizeMode.COMPLETE)
    assert first.sent
    second = FakeQueue()
    report = run.settle(FinalizeMode.RELEASE, sink=second, now=3000.0)
    assert second.sent == []
    assert (report.mode, report.completed, report.finished_at) == (FinalizeMode.COMPLETE, True, 2000.0)


def test_a_record_that_came_back_by_reference_is_archived_and_reported_with_its_data() -> None:
    big = {"id": "o-big", "blob": "z" * MAX_INLINE_BYTES, "fail": True}
    first = Run([message("m1", pointer_body(10, 10, 1))], {SHARD: {10: big}})
    first.planned().redrive()
    _, sink = first.finalize(FinalizeMode.COMPLETE)
    [(body, _)] = sink.sent
    # The marker now always has a "recordRef" key (null when inline): check its value.
    assert json.loads(body)[REDRIVE_MARKER]["recordRef"] is not None

    second = memory_run("run-2", first.store)
    second_messages = [message("n1", body)]
    rules = [{"name": "drop-big", "when": "data.id = 'o-big'", "action": "discard", "reason": "oversized order"}]
    config = run_config("run-2", rules=rules)
    state = FakeStateStore()
    begin(state, config)
    hold(state, second, second_messages)
    build_manifest(second_messages, second)
    plan_run(config, second, None)
    sink = FakeQueue()
    report = settle_run(run=config, mode=FinalizeMode.COMPLETE, data=second, dlq=sink, state_store=state, now=2000.0)
    assert sink.sent == []
    [reported] = report.records
    assert reported.outcome is Outcome.DISCARDED
    archived = second.store.get_json(second.paths.discarded(rid(10)))
    assert json.loads(base64.b64decode(archived["record"]["payload"])) == big
    assert (reported.source, reported.sequence_number, reported.data) == ("kinesis", "10", big)


def test_an_s3_destination_message_without_records_is_not_dropped_silently() -> None:
    body = json.loads(pointer_body(10, 12, 3))
    body["payload"] = {"Records": []}
    run = Run([message("m-empty", json.dumps(body))], {}).planned().redrive()
    run.finalize(FinalizeMode.COMPLETE)  # assert_nothing_lost: returned, or its records finished, or reported expired
