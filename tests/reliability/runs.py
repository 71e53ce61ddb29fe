"""Whole runs in-process: Collect, Fetch, Plan, Redrive and Finalize (through finish_run,
which releases the DLQ lock), with the real core steps over fakes, and the audit that
says what a run lost, altered, delivered twice or decided wrongly.

A generated :class:`World` is the stream (records per shard, some already trimmed) and a
DLQ of messages about it: pointers over ranges of its shards, S3 destination records that
carry some of its records, records an earlier run sent back (inline or by S3 reference),
plus fuzzed bodies (see strategies.py) on shards of their own. Message attributes come
along, binary ones as the bytes SQS gives.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from redrive.contracts.messages import REDRIVE_MARKER, MessageAttribute, RecordReference, RedriveMarker
from redrive.contracts.paths import RunPaths
from redrive.contracts.plan import Batch
from redrive.contracts.records import FailureContext, StreamRecord, from_dynamodb_get_records, from_kinesis_get_records
from redrive.contracts.run import RunConfig
from redrive.contracts.vocab import FinalizeMode, MessageKind, Outcome
from redrive.core.collect import collect
from redrive.core.fetch import fetch_group
from redrive.core.finalize import requeue_body
from redrive.core.finish import finish_run
from redrive.core.plan_run import plan_run
from redrive.core.redrive import INTERRUPTED, redrive_batch
from redrive.core.run_data import RunData
from redrive.errors import SettleIncomplete
from tests.fakes import (
    FakeMetrics,
    FakeNotifier,
    FakeQueue,
    FakeShardReader,
    FakeStateStore,
    MemoryStore,
    UnpacedLimiter,
    open_run,
)
from tests.fakes import run_config as shared_run_config
from tests.reliability import strategies as gen
from tests.reliability.profiles import DLQ_SIZE
from tests.reliability.tally import TALLY
from tests.support.rules import AMOUNT_AS_NUMBER, DROP_TEST_EVENTS

RUN = "run-rel"
BUCKET = "redrive-runs"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:orders-dlq"
KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer"
# The world's shards; fuzzed bodies use shards 100 and up (strategies.KINESIS_SHARDS).
SHARDS = {
    "shardId-000000000000": "kinesis",
    "shardId-000000000001": "kinesis",
    "shardId-00000001763781236915-4b0a9c2e": "dynamodb",
}
FAIL_REASON = "consumer failed again (ValueError)"


class Crash(Exception):
    """A Lambda dies between two calls (an injected fault)."""


# --- the world ----------------------------------------------------------------------------
@dataclass
class Message:
    body: str
    attributes: dict[str, dict[str, Any]]  # as SQS gives them: BinaryValue as bytes
    kind: str | None  # the kind it must be classified as; None for a fuzzed body


@dataclass
class World:
    records: dict[str, StreamRecord]  # every record of the world, by record id
    in_stream: list[StreamRecord]  # the ones the stream still holds
    messages: list[Message]
    seeded: dict[str, Any] = field(default_factory=dict)  # S3 objects from an earlier run

    def failing(self) -> dict[str, str]:
        return {rid: FAIL_REASON for rid, record in self.records.items() if _data(record).get("fail") is True}


def _data(record: StreamRecord) -> dict[str, Any]:
    try:
        if record.source == "kinesis":
            value = json.loads(base64.b64decode(record.payload or ""))
        else:
            value = {k: v.get("BOOL", v.get("S")) for k, v in (record.new_image or {}).items()}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _stream_record(shard: str, sequence: int, data: dict[str, Any]) -> StreamRecord:
    if SHARDS[shard] == "kinesis":
        item = {"SequenceNumber": str(sequence), "Data": json.dumps(data).encode(), "PartitionKey": f"pk-{sequence}"}
        return from_kinesis_get_records(item, KINESIS_ARN, shard)
    ddb = {
        "Keys": {"id": {"S": f"o-{sequence}"}},
        "NewImage": gen.image_of(data),
        "SequenceNumber": str(sequence),
        "SizeBytes": 10,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    event = {"eventID": f"e{sequence}", "eventName": "INSERT", "eventSourceARN": TABLE_ARN, "dynamodb": ddb}
    return from_dynamodb_get_records(event, TABLE_ARN, shard)


def _event_record(record: StreamRecord) -> dict[str, Any]:
    """The record as a failed invocation event holds it (an S3 destination's payload)."""
    if record.source == "kinesis":
        return gen.kinesis_event_record(
            record.stream_arn,
            record.shard_id,
            int(record.sequence_number),
            record.payload or "",
            record.partition_key or "",
        )
    event = gen.dynamodb_event_record(
        record.stream_arn, int(record.sequence_number), record.keys or {}, record.new_image or {}, "INSERT"
    )
    event["eventID"] = record.event_id
    event["dynamodb"]["SizeBytes"] = record.size_bytes
    return event


ATTRIBUTES = st.dictionaries(
    st.sampled_from(["origin", "trace", "blob", "Number.x", "ünïcode"]),
    st.one_of(
        st.text(min_size=1, max_size=30).map(lambda s: {"DataType": "String", "StringValue": s}),
        st.integers().map(lambda n: {"DataType": "Number", "StringValue": str(n)}),
        st.binary(min_size=1, max_size=64).map(lambda b: {"DataType": "Binary", "BinaryValue": b}),
        st.binary(min_size=1, max_size=16).map(lambda b: {"DataType": "Binary.gzip", "BinaryValue": b}),
    ),
    max_size=3,
)


@st.composite
def worlds(draw: st.DrawFn, sizes: tuple[int, int] = DLQ_SIZE) -> World:
    records: dict[str, StreamRecord] = {}
    held: list[StreamRecord] = []
    for shard in SHARDS:
        for sequence in sorted(draw(st.sets(st.integers(1, 80), max_size=25))):
            record = _stream_record(shard, sequence, draw(gen.ORDER_DATA))
            records[record.record_id] = record
            if draw(st.integers(0, 5)):  # about one in six is already trimmed from the stream
                held.append(record)
    by_shard = {
        shard: sorted((r for r in records.values() if r.shard_id == shard), key=lambda r: r.position)
        for shard in SHARDS
    }
    world = World(records=records, in_stream=held, messages=[])
    count = draw(st.integers(*sizes))
    for _ in range(count):
        how = draw(st.sampled_from(["pointer", "pointer", "s3", "requeued", "fuzz", "fuzz"]))
        attributes = draw(ATTRIBUTES)
        shard = draw(st.sampled_from(sorted(SHARDS)))
        members = by_shard[shard]
        if how == "pointer":
            start = draw(st.integers(0, 85))
            end = start + draw(st.integers(0, 12))
            arn = KINESIS_ARN if SHARDS[shard] == "kinesis" else TABLE_ARN
            named = sum(1 for r in members if start <= r.position <= end)
            batch_size = named + draw(st.integers(0 if named else 1, 2))  # the ESM counts what the stream lost too
            body = gen.pointer_dict(SHARDS[shard], arn, shard, start, end, batch_size, FUNCTION_ARN)
            kind = "kinesis-pointer" if SHARDS[shard] == "kinesis" else "dynamodb-pointer"
            world.messages.append(Message(gen.dumps(body), attributes, kind))
        elif how == "s3" and members:
            first = draw(st.integers(0, len(members) - 1))
            carried = members[first : first + draw(st.integers(1, 5))]
            arn = KINESIS_ARN if SHARDS[shard] == "kinesis" else TABLE_ARN
            body = gen.pointer_dict(
                SHARDS[shard], arn, shard, carried[0].position, carried[-1].position, len(carried), FUNCTION_ARN
            )
            payload = {"Records": [_event_record(r) for r in carried]}
            body["payload"] = json.dumps(payload) if draw(st.booleans()) else payload
            world.messages.append(Message(gen.dumps(body), attributes, "s3-destination"))
        elif how == "requeued" and members:
            record = draw(st.sampled_from(members))
            earlier = record.model_copy(
                update={"failure": FailureContext(function_arn=FUNCTION_ARN, redrive_attempts=1)}
            )
            store = MemoryStore()
            scratch = RunData(store, RunPaths("run-0"))
            body = requeue_body(earlier, "run-0", "failed in an earlier run", scratch, BUCKET)
            if draw(st.booleans()):  # by reference, its object still in the bucket
                marker = RedriveMarker.parse(json.loads(body)[REDRIVE_MARKER])
                key = f"runs/run-0/records/{record.record_id}.json"
                world.seeded[key] = record.without_failure().to_json()
                marker = marker.model_copy(
                    update={"record": None, "record_ref": RecordReference(bucket=BUCKET, key=key)}
                )
                body = json.dumps({REDRIVE_MARKER: marker.to_json()})
            world.messages.append(Message(body, attributes, "redrive-record"))
        else:
            _, text = draw(gen.any_body())
            world.messages.append(Message(text, attributes, None))
    return world


# --- fakes with faults ---------------------------------------------------------------------
class Dlq(FakeQueue):
    """The DLQ: messages keep their SQS attributes; a delete or a send can be made to crash."""

    def __init__(self, world: World, page_size: int) -> None:
        super().__init__(page_size=page_size)
        self.ids: dict[str, Message] = {}
        for message in world.messages:
            attributes = {name: MessageAttribute.from_sqs(value) for name, value in message.attributes.items()}
            self.ids[self.add(message.body, attributes)] = message
        self.crash_on_delete: int | None = None  # the n-th delete call raises, after the page is stored
        self.crash_on_send: int | None = None  # the n-th send raises, before the message goes
        self.deletes = 0

    def delete(self, messages: Sequence[Any]) -> list[str]:
        self.deletes += 1
        if self.deletes == self.crash_on_delete:
            self.crash_on_delete = None
            raise Crash("collect died between storing a page and deleting it")
        return super().delete(messages)

    def send(self, body: str, message_attributes: Mapping[str, MessageAttribute] | None = None) -> str:
        if self.crash_on_send is not None:
            self.crash_on_send -= 1
            if self.crash_on_send < 0:
                self.crash_on_send = None
                raise Crash("finalize died part way through sending")
        return super().send(body, message_attributes)


class FlakyTarget:
    """Fails the records whose data says ``fail``; can die after delivering a batch."""

    def __init__(self, failing: Mapping[str, str]) -> None:
        self.failing = dict(failing)
        self.delivered: list[str] = []
        self.crash_after: int | None = None  # the n-th batch is delivered, then the Lambda dies
        self.calls = 0

    def send(self, batch: Batch) -> dict[str, str]:
        self.calls += 1
        self.delivered.extend(r.record_id for r in batch.records)
        if self.calls == self.crash_after:
            raise Crash("redrive died after delivering, before recording the outcome")
        return {r.record_id: self.failing[r.record_id] for r in batch.records if r.record_id in self.failing}


# --- one run -------------------------------------------------------------------------------
@dataclass
class Faults:
    collect_crash_on_delete: int | None = None
    redrive_crash_after_batch: int | None = None
    finalize_crash_after_sends: int | None = None

    def count(self) -> int:
        return sum(
            v is not None
            for v in (self.collect_crash_on_delete, self.redrive_crash_after_batch, self.finalize_crash_after_sends)
        )


def run_config(batch_size: int) -> RunConfig:
    config: RunConfig = shared_run_config(
        RUN,
        rules=[DROP_TEST_EVENTS, AMOUNT_AS_NUMBER],
        batch_size=batch_size,
        rate_per_second=1_000_000,
        max_messages=10_000,
        dlq_url=DLQ_URL,
        bucket=BUCKET,
    )
    return config


@dataclass
class Finished:
    """What a run left: its data, the DLQ, the target's log, and the finalize output."""

    world: World
    mode: FinalizeMode
    data: RunData
    dlq: Dlq
    target: FlakyTarget
    lock: FakeStateStore
    interrupted: set[str]  # batches whose outcome is unknown (the redrive died mid-way)
    reached: set[str]  # batches the redrive got to


def run_world(
    world: World,
    mode: FinalizeMode,
    *,
    batch_size: int = 4,
    page_size: int = 10,
    batches_reached: int | None = None,
    faults: Faults | None = None,
) -> Finished:
    """Collect, fetch, plan, redrive (the first ``batches_reached`` batches, or all) and
    finish the run. Each injected fault is followed by the retry the state machine makes."""
    faults = faults or Faults()
    TALLY.current.inputs += len(world.messages)
    TALLY.current.collected += len(world.messages)
    TALLY.current.faults += faults.count()
    store = MemoryStore()
    for key, value in world.seeded.items():
        store.put_json(key, value)
    data = RunData(store, RunPaths(RUN))
    config = run_config(batch_size)
    dlq = Dlq(world, page_size)
    lock = FakeStateStore()
    open_run(lock, RUN, DLQ_ARN)
    lock.acquire_lock(DLQ_ARN, config.execution_arn)
    target = FlakyTarget(world.failing())
    interrupted: set[str] = set()
    reached: set[str] = set()

    dlq.crash_on_delete = faults.collect_crash_on_delete
    try:
        collected = collect(dlq, data, lock, config.max_messages)
    except Crash:
        collected = collect(dlq, data, lock, config.max_messages)  # the step's retry
    if mode is not FinalizeMode.RELEASE or batches_reached is None or batches_reached >= 0:
        reader = FakeShardReader(world.in_stream)
        for group_id in collected.groups:
            fetch_group(group_id, data, reader)
        plan_run(config, data, None)
        plan = data.plan()
        assert plan is not None
        claims = lock
        target.crash_after = faults.redrive_crash_after_batch
        for batch_id in plan.batches[:batches_reached]:
            reached.add(batch_id)
            arguments: dict[str, Any] = {
                "run": config,
                "batch_id": batch_id,
                "data": data,
                "claims": claims,
                "target": target,
                "limiter": UnpacedLimiter(),
            }
            try:
                redrive_batch(**arguments, clock=lambda: 1000.0)
            except Crash:
                interrupted.add(batch_id)
                redrive_batch(**arguments, clock=lambda: 1000.0)  # the Map's retry
    dlq.crash_on_send = faults.finalize_crash_after_sends
    finishing: dict[str, Any] = {
        "data": data,
        "dlq": dlq,
        "notifier": FakeNotifier(),
        "metrics": FakeMetrics(),
        "state_store": lock,
        "now": 1000.0,
    }
    try:
        finish_run(config, mode, **finishing)
    except (Crash, SettleIncomplete):
        finish_run(config, mode, **finishing)  # the Finalize step's retry
    return Finished(world, mode, data, dlq, target, lock, interrupted, reached)


# --- the audit -----------------------------------------------------------------------------
def _key(body: str, attributes: Mapping[str, Any] | None) -> tuple[str, tuple[tuple[str, str, Any, Any], ...]]:
    """A message as SQS would hold it: the body and the attributes, binary values as bytes."""
    rows = []
    for name, value in sorted((attributes or {}).items()):
        raw = value.to_sqs() if isinstance(value, MessageAttribute) else value
        rows.append((name, raw["DataType"], raw.get("StringValue"), raw.get("BinaryValue")))
    return body, tuple(rows)


@dataclass
class Audit:
    lost: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # sent back more than once, or sent back altered
    delivered_twice: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    lock_leaks: int = 0

    def record(self) -> None:
        TALLY.current.lost += len(self.lost)
        TALLY.current.delivered_twice += len(self.delivered_twice)
        TALLY.current.wrong_decisions += len(self.wrong)
        TALLY.current.lock_leaks += self.lock_leaks

    def problems(self) -> list[str]:
        return [
            *(f"lost: {x}" for x in self.lost),
            *(f"extra or altered: {x}" for x in self.extra),
            *(f"delivered twice: {x}" for x in self.delivered_twice),
            *(f"wrong decision: {x}" for x in self.wrong),
            *(["the DLQ lock was not released"] if self.lock_leaks else []),
        ]


def audit(run: Finished) -> Audit:
    """Nothing lost, nothing altered, nothing delivered twice, every decision right.

    The multiset of (body, attributes) before the run must equal the messages sent back
    as they were plus the messages accounted for by their records: each record redriven,
    discarded, or sent back on its own, unchanged (and for a pointer, the records the
    stream no longer holds reported expired)."""
    out = Audit()
    data = run.data
    report = data.report()
    plan = data.plan()
    manifest = data.manifest()
    assert report is not None and report.completed
    fetched: dict[str, StreamRecord] = {}
    for group in data.fetched_groups():
        for record in group.records:
            fetched.setdefault(record.record_id, record)

    requeued: dict[str, RedriveMarker] = {}
    returned: Counter[Any] = Counter()
    for body, attributes in run.dlq.sent:
        marker = _own_marker(body)
        if marker is None:
            returned[_key(body, attributes)] += 1
            continue
        rid = marker.record_id or ""
        if rid in requeued:
            out.extra.append(f"record {rid} sent back twice")
        requeued[rid] = marker
        record = marker.record
        if record is None and marker.record_ref is not None:
            record = StreamRecord.parse(data.store.get_json(marker.record_ref.key))
        original = fetched.get(rid)
        if original is None or record != original.without_failure():
            out.extra.append(f"record {rid} sent back altered")
        if attributes:
            out.wrong.append(f"record {rid} sent back with attributes")

    outcomes = {r.record_id: r.outcome for r in report.records if r.record_id}
    expired = Counter[str]()
    for pointer in plan.expired if plan else []:
        expired[pointer.message_id] += pointer.count
    kinds = {e.message_id: e.kind for e in manifest.messages} if manifest else {}
    message_records = plan.message_records if plan else {}
    for message_id, message in run.dlq.ids.items():
        key = _key(message.body, {n: MessageAttribute.from_sqs(v) for n, v in message.attributes.items()})
        if key != _key(message.body, message.attributes):
            out.wrong.append(f"{message_id}: attributes do not survive MessageAttribute")
        if returned[key] > 0:
            returned[key] -= 1
            continue
        rids = message_records.get(message_id, [])
        if not rids and not (run.mode is FinalizeMode.COMPLETE and expired[message_id]):
            out.lost.append(f"{message_id} ({kinds.get(message_id)}): not sent back, and no record of it finished")
            continue
        for rid in rids:
            finished = outcomes.get(rid) in (Outcome.REDRIVEN, Outcome.DISCARDED)
            if not finished and rid not in requeued:
                out.lost.append(f"{message_id}/{rid}: {outcomes.get(rid)} and not sent back")
    out.extra.extend(f"{body[:80]!r} sent back {n} more time(s)" for (body, _), n in returned.items() if n > 0)

    delivered = Counter(run.target.delivered)
    out.delivered_twice.extend(rid for rid, n in delivered.items() if n > 1)
    out.wrong.extend(_wrong_decisions(run, kinds, outcomes, set(requeued), expired, plan))
    out.lock_leaks = int(bool(run.lock.locks)) + int(run.lock.leases[RUN].status != "settled")
    out.record()
    return out


def _own_marker(body: str) -> RedriveMarker | None:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    marker = value.get(REDRIVE_MARKER) if isinstance(value, dict) else None
    if isinstance(marker, dict) and marker.get("runId") == RUN:
        return RedriveMarker.parse(marker)
    return None


def _wrong_decisions(
    run: Finished,
    kinds: Mapping[str, MessageKind],
    outcomes: Mapping[str, Outcome],
    requeued: set[str],
    expired: Mapping[str, int],
    plan: Any,
) -> list[str]:
    """Decisions checked against what the world knows (not against the run's own data)."""
    wrong = []
    for message_id, message in run.dlq.ids.items():
        if message.kind is not None and kinds.get(message_id) != message.kind:
            wrong.append(f"{message_id}: a valid {message.kind} was taken for {kinds.get(message_id)}")
    if plan is None:
        return wrong
    world = run.world
    in_stream = {r.record_id for r in world.in_stream}
    for message_id, message in run.dlq.ids.items():
        if message.kind in ("kinesis-pointer", "dynamodb-pointer"):
            body = json.loads(message.body)
            info = body.get("KinesisBatchInfo") or body.get("DDBStreamBatchInfo")
            start, end = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
            held = {
                rid
                for rid, r in world.records.items()
                if rid in in_stream and r.shard_id == info["shardId"] and start <= r.position <= end
            }
            if set(plan.message_records.get(message_id, [])) != held:
                wrong.append(f"{message_id}: the pointer's records are not the ones the stream holds")
            if expired.get(message_id, 0) != info["batchSize"] - len(held):
                wrong.append(
                    f"{message_id}: {expired.get(message_id, 0)} reported expired, not {info['batchSize'] - len(held)}"
                )
    results = run.data.results()
    for batch_id in plan.batches:
        batch = run.data.batch(batch_id)
        for record in batch.records:
            rid = record.record_id
            outcome = outcomes.get(rid)
            if batch_id in run.interrupted:
                right = (
                    outcome is Outcome.FAILED and rid in requeued and results[batch_id].failed.get(rid) == INTERRUPTED
                )
            elif batch_id not in run.reached:
                right = rid in requeued or outcome in (Outcome.FAILED, Outcome.PLANNED)
                right = right and (run.mode is not FinalizeMode.COMPLETE or outcome is Outcome.FAILED)
            elif rid in world.failing():
                right = outcome is Outcome.FAILED and rid in requeued
            else:
                right = outcome is Outcome.REDRIVEN and rid not in requeued
            if not right:
                wrong.append(
                    f"{rid} in batch {batch_id}: {outcome}, {'requeued' if rid in requeued else 'not requeued'}"
                )
    return wrong
