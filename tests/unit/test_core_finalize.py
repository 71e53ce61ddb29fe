"""finalize_run: every message and record of a run gets its outcome, in every mode.

A run is built with the real core steps (build_manifest, assign_records, plan_run,
redrive_batch) over a MemoryStore and fakes, then finalized against a fake DLQ. Each test
also checks the "nothing lost" invariant generically (:func:`assert_nothing_lost`).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from redrive.adapters.store import MemoryStore
from redrive.core.collect import build_manifest
from redrive.core.fetch_groups import assign_records
from redrive.core.finalize import MAX_INLINE_BYTES, FinalizeResult, Mode, finalize_run
from redrive.core.messages import REDRIVE_MARKER, classify_message
from redrive.core.plan_run import plan_run
from redrive.core.records import from_kinesis_get_records
from redrive.core.redrive import redrive_batch
from redrive.models import ApprovalSettings, RedriveSettings, RunConfig

RUN = "run-1"
PREFIX = f"runs/{RUN}/"
BUCKET = "redrive-bucket"
KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer"
SHARD = "shardId-000000000000"
SHARD1 = "shardId-000000000001"
ATTRIBUTES = {"origin": {"DataType": "String", "StringValue": "esm"}}
RULES = [
    {"name": "drop-test-events", "when": "data.type = 'test'", "action": "discard", "reason": "test traffic"},
    {
        "name": "amount-as-number",
        "when": "$type(data.amount) = 'string'",
        "action": "repair",
        "repair": "$merge([data, {'amount': $number(data.amount)}])",
    },
    {"name": "needs-boolean", "when": "data.broken", "action": "discard", "reason": "never reached"},
]


class FakeDlqSink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any] | None]] = []

    def send(self, body: str, message_attributes: dict[str, Any] | None = None) -> str:
        self.sent.append((body, message_attributes))
        return f"new-{len(self.sent)}"

    def requeued_markers(self) -> list[dict[str, Any]]:
        """Markers of records this run sent back (not original messages returned as they were)."""
        out = []
        for body, _ in self.sent:
            marker = json.loads(body).get(REDRIVE_MARKER) if body.startswith("{") else None
            if isinstance(marker, dict) and marker.get("runId") == RUN:
                out.append(marker)
        return out


class FakeClaims:
    def __init__(self) -> None:
        self.status: dict[tuple[str, str], str] = {}

    def claim_batch(self, run_id: str, batch_id: str) -> str | None:
        earlier = self.status.get((run_id, batch_id))
        self.status.setdefault((run_id, batch_id), "started")
        return earlier

    def complete_batch(self, run_id: str, batch_id: str) -> None:
        self.status[(run_id, batch_id)] = "completed"


class FailingTarget:
    """Fails the records whose data has ``"fail": true``."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, batch: dict[str, Any]) -> dict[str, str]:
        failed = {}
        for record in batch["records"]:
            self.sent.append(record["recordId"])
            try:
                data = json.loads(base64.b64decode(record["payload"]))
            except ValueError:
                data = None
            if isinstance(data, dict) and data.get("fail"):
                failed[record["recordId"]] = "consumer failed again (ValueError: no)"
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


def s3_destination_body(items: dict[int, Any]) -> str:
    body = json.loads(pointer_body(min(items), max(items), len(items), shard=SHARD1))
    body["payload"] = {
        "Records": [
            {
                "kinesis": {
                    "partitionKey": f"pk-{seq}",
                    "sequenceNumber": str(seq),
                    "data": base64.b64encode(json.dumps(data).encode()).decode(),
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
        "recordId": record["recordId"],
        "runId": "run-0",
        "reason": "consumer failed again",
        "failure": {"condition": "RetryAttemptsExhausted", "functionArn": FUNCTION_ARN},
        "record": record,
    }
    return json.dumps({REDRIVE_MARKER: marker})


def message(mid: str, body: str) -> dict[str, Any]:
    return {"messageId": mid, "body": body, "attributes": {"SentTimestamp": "1"}, "messageAttributes": ATTRIBUTES}


class Run:
    """One run's store, built by the real core steps up to the redrive."""

    def __init__(self, messages: list[dict[str, Any]], stream: dict[str, dict[int, Any]], batch_size: int = 10) -> None:
        self.store = MemoryStore()
        self.messages = {m["messageId"]: m for m in messages}
        self.stream = stream
        self.config = RunConfig(
            runId=RUN,
            executionArn=f"arn:aws:states:us-east-1:123456789012:execution:redrive:{RUN}",
            trigger="manual",
            dlqUrl="https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
            bucket=BUCKET,
            maxMessages=100,
            dryRun=False,
            rules=RULES,
            redrive=RedriveSettings(target="invoke", ratePerSecond=1000, concurrency=1, batchSize=batch_size),
            approval=ApprovalSettings(timeoutSeconds=3600),
        )
        self.batches: list[str] = []
        self.target = FailingTarget()

    def collect(self) -> Run:
        self.store.put_json(f"{PREFIX}messages/00000000000000000001-aaaa.json", list(self.messages.values()))
        return self

    def manifest(self) -> Run:
        build_manifest(list(self.messages.values()), self.store, PREFIX)
        return self

    def fetch(self) -> Run:
        for gid in self.store.get_json(f"{PREFIX}manifest.json")["groups"]:
            group = self.store.get_json(f"{PREFIX}groups/{gid}.json")
            records = []
            for seq, data in sorted(self.stream.get(group["shardId"], {}).items()):
                if any(int(r["start"]) <= seq <= int(r["end"]) for r in group["ranges"]):
                    item = {"SequenceNumber": str(seq), "Data": json.dumps(data).encode(), "PartitionKey": f"pk-{seq}"}
                    records.append(from_kinesis_get_records(item, group["streamArn"], group["shardId"]))
            assignments = assign_records(group, records)
            self.store.put_json(
                f"{PREFIX}fetched/{gid}.json",
                {"groupId": gid, "records": records, "assignments": [a.to_json() for a in assignments]},
            )
        return self

    def plan(self) -> Run:
        self.batches = plan_run(self.config, self.store, None)["batches"]
        return self

    def redrive(self, only: int | None = None) -> Run:
        claims = FakeClaims()
        for batch_id in self.batches[:only]:
            redrive_batch(
                run_id=RUN,
                prefix=PREFIX,
                batch_id=batch_id,
                store=self.store,
                claims=claims,
                target=self.target,
                concurrency=1,
                rate_per_second=1000,
                clock=lambda: 1000.0,
                sleep=lambda seconds: None,
            )
        return self

    def planned(self) -> Run:
        return self.collect().manifest().fetch().plan()

    def finalize(self, mode: Mode) -> tuple[FinalizeResult, FakeDlqSink]:
        sink = FakeDlqSink()
        result = finalize_run(
            mode=mode, run_id=RUN, prefix=PREFIX, bucket=BUCKET, store=self.store, dlq=sink, now=2000.0
        )
        assert_nothing_lost(self.store, sink, result, mode)
        return result, sink


def assert_nothing_lost(store: MemoryStore, sink: FakeDlqSink, result: FinalizeResult, mode: Mode) -> None:
    """Every stored message is returned as it was, or each of its records is finished or requeued."""
    stored: dict[str, dict[str, Any]] = {}
    for key in store.list_keys(f"{PREFIX}messages/"):
        for m in store.get_json(key):
            stored.setdefault(m["messageId"], m)
    plan = store.get_json(f"{PREFIX}plan.json") if store.exists(f"{PREFIX}plan.json") else {}
    outcomes = {r["recordId"]: r for r in result.report["records"] if r["recordId"]}
    expired_messages = {r["messageId"] for r in result.report["records"] if r["outcome"] == "expired"}
    requeued = [m["recordId"] for m in sink.requeued_markers()]
    assert len(requeued) == len(set(requeued)), "a record was requeued twice"
    assert sorted(requeued) == sorted(result.requeued_records)
    sent_bodies = [(body, attrs) for body, attrs in sink.sent]
    for mid, original in stored.items():
        if mid in result.returned_messages:
            assert (original["body"], original.get("messageAttributes")) in sent_bodies, f"{mid} not sent as it was"
            continue
        rids = plan.get("messageRecords", {}).get(mid, [])
        assert rids or mid in expired_messages, f"{mid}: neither returned, nor records, nor an expired pointer"
        for rid in rids:
            outcome = outcomes[rid]["outcome"]
            assert outcome in ("redriven", "discarded") or rid in requeued, f"{mid}/{rid} is {outcome} and lost"
            if outcome == "discarded":
                archived = store.get_json(f"{PREFIX}discarded/{rid}.json")
                assert archived["rule"] and archived["reason"] and archived["record"]["recordId"] == rid
    if mode != "complete":
        assert not store.list_keys(f"{PREFIX}discarded/"), "nothing is discarded outside a complete run"
    assert store.get_json(f"{PREFIX}report.json") == json.loads(json.dumps(result.report))


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
        result, sink = run.finalize("complete")
        by_id = {r["recordId"]: r for r in result.report["records"] if r["recordId"]}
        assert by_id[rid(100)]["outcome"] == "redriven"
        assert by_id[rid(101)]["outcome"] == "discarded"
        assert (by_id[rid(102)]["outcome"], by_id[rid(102)]["repaired"]) == ("redriven", True)
        assert by_id[rid(102)]["data"] == {"id": "o-3", "amount": 3.5}
        assert by_id[rid(102)]["originalData"] == {"id": "o-3", "amount": "3.5"}
        assert by_id[rid(103)]["outcome"] == "failed"
        assert by_id[rid(104)]["outcome"] == "failed"
        assert by_id[rid(104)]["reason"].startswith("rule-error: ")
        assert by_id[rid(500, SHARD1)]["outcome"] == "redriven"
        assert by_id[rid(501, SHARD1)]["outcome"] == "failed"
        assert by_id[rid(700, SHARD1)]["outcome"] == "redriven"

        archived = run.store.get_json(f"{PREFIX}discarded/{rid(101)}.json")
        assert archived["runId"] == RUN
        assert (archived["rule"], archived["reason"]) == ("drop-test-events", "test traffic")
        assert json.loads(base64.b64decode(archived["record"]["payload"])) == {"type": "test"}

        assert sorted(result.requeued_records) == sorted([rid(103), rid(104), rid(501, SHARD1)])
        assert result.returned_messages == ["m-stray"]
        assert (run.messages["m-stray"]["body"], ATTRIBUTES) in sink.sent
        counts = result.report["counts"]
        assert counts["dlqMessages"] == 6
        assert counts["expired"] == 4 + 2
        assert (counts["redriven"], counts["discarded"], counts["failed"]) == (5, 1, 3)
        assert (counts["returnedMessages"], counts["requeuedRecords"], counts["unrecognised"]) == (1, 3, 1)
        assert result.report["unrecognised"] == [
            {"messageId": "m-stray", "reason": "no KinesisBatchInfo or DDBStreamBatchInfo object"}
        ]

    def test_an_expired_only_pointer_is_kept_in_the_report_not_returned(self) -> None:
        run = standard_run().planned().redrive()
        result, sink = run.finalize("complete")
        assert "m-expired" not in result.returned_messages
        assert all(body != run.messages["m-expired"]["body"] for body, _ in sink.sent)
        expired = [r for r in result.report["records"] if r.get("messageId") == "m-expired"]
        assert len(expired) == 4
        assert all(r["outcome"] == "expired" and r["pointer"]["startSequenceNumber"] == "200" for r in expired)

    def test_requeued_records_are_self_contained(self) -> None:
        run = standard_run().planned().redrive()
        _, sink = run.finalize("complete")
        fetched = {}
        for key in run.store.list_keys(f"{PREFIX}fetched/"):
            fetched.update({r["recordId"]: r for r in run.store.get_json(key)["records"]})
        for body, attrs in sink.sent:
            classified = classify_message(body)
            if classified.kind != "redrive-record":
                continue
            marker = classified.redrive_record
            assert marker is not None and marker["runId"] == RUN
            assert marker["reason"]
            assert marker["failure"]["functionArn"] == FUNCTION_ARN
            original = {k: v for k, v in fetched[marker["recordId"]].items() if k != "failure"}
            assert marker["record"] == original
            assert attrs is None

    def test_a_large_failed_record_goes_back_by_s3_reference(self) -> None:
        big = {"id": "o-big", "fail": True, "blob": "x" * MAX_INLINE_BYTES}
        run = Run([message("m1", pointer_body(10, 11, 2))], {SHARD: {10: big, 11: {"id": "o-small", "fail": True}}})
        run.planned().redrive()
        result, sink = run.finalize("complete")
        markers = {m["recordId"]: m for m in sink.requeued_markers()}
        assert set(markers) == {rid(10), rid(11)}
        small, large = markers[rid(11)], markers[rid(10)]
        assert small["record"]["recordId"] == rid(11)
        assert "recordRef" not in small
        assert large["record"] is None
        ref = large["recordRef"]
        assert ref["bucket"] == BUCKET and ref["key"].startswith(f"{PREFIX}records/")
        stored = run.store.get_json(ref["key"])
        assert json.loads(base64.b64decode(stored["payload"])) == big
        assert all(len(body.encode()) <= MAX_INLINE_BYTES for body, _ in sink.sent)
        assert result.report["counts"]["requeuedRecords"] == 2

    def test_unreached_batches_fail_and_are_requeued(self) -> None:
        run = standard_run(batch_size=1).planned().redrive(only=2)
        result, _ = run.finalize("complete")
        outcomes = [r["outcome"] for r in result.report["records"] if r["recordId"]]
        assert "planned" not in outcomes
        reasons = {r["reason"] for r in result.report["records"] if r["outcome"] == "failed"}
        assert "the redrive did not reach this record's batch" in reasons

    def test_a_fully_redriven_message_is_not_returned(self) -> None:
        run = Run([message("m1", pointer_body(10, 11, 2))], {SHARD: {10: {"a": 1}, 11: {"a": 2}}})
        run.planned().redrive()
        result, sink = run.finalize("complete")
        assert sink.sent == []
        assert result.report["counts"]["redriven"] == 2


@pytest.mark.parametrize("mode", ["dry-run", "rejected"])
class TestNothingRedriven:
    def test_every_message_returns_as_it_was(self, mode: Mode) -> None:
        run = standard_run().planned()
        result, sink = run.finalize(mode)
        assert sorted(result.returned_messages) == sorted(run.messages)
        assert sorted(sink.sent, key=lambda s: s[0]) == sorted(
            ((m["body"], ATTRIBUTES) for m in run.messages.values()), key=lambda s: s[0]
        )
        assert result.requeued_records == []
        outcomes = {r["outcome"] for r in result.report["records"] if r["recordId"]}
        assert outcomes == {"planned"}
        assert result.report["mode"] == mode
        assert result.report["counts"]["planned"] == 9
        assert run.store.list_keys(f"{PREFIX}discarded/") == []


class TestRelease:
    def test_after_a_partial_redrive(self) -> None:
        # batch_size 1: batches in (shard, sequence) order; the first two are shard 0's 100 and 102.
        run = standard_run(batch_size=1).planned().redrive(only=2)
        result, sink = run.finalize("release")
        by_id = {r["recordId"]: r for r in result.report["records"] if r["recordId"]}
        assert by_id[rid(100)]["outcome"] == "redriven"
        assert by_id[rid(102)]["outcome"] == "redriven"
        # m-main: finished records stay finished; every other record goes back on its own.
        assert "m-main" not in result.returned_messages
        requeued = set(result.requeued_records)
        assert {rid(101), rid(103), rid(104)} <= requeued
        assert not {rid(100), rid(102)} & requeued
        # Messages none of whose records finished return whole, with their attributes.
        for mid in ("m-expired", "m-partly", "m-s3", "m-earlier", "m-stray"):
            assert mid in result.returned_messages
            assert (run.messages[mid]["body"], ATTRIBUTES) in sink.sent
        assert run.store.list_keys(f"{PREFIX}discarded/") == []

    def test_nothing_redriven_returns_everything(self) -> None:
        run = standard_run().planned()
        result, _ = run.finalize("release")
        assert sorted(result.returned_messages) == sorted(run.messages)
        assert result.requeued_records == []

    def test_no_plan_collect_failed_every_stored_message_returns(self) -> None:
        run = standard_run().collect()
        result, sink = run.finalize("release")
        assert sorted(result.returned_messages) == sorted(run.messages)
        assert len(sink.sent) == len(run.messages)
        assert result.report["records"] == []
        assert result.report["counts"]["dlqMessages"] == 6

    def test_no_plan_fetch_failed_every_stored_message_returns(self) -> None:
        run = standard_run().collect().manifest()
        result, _ = run.finalize("release")
        assert sorted(result.returned_messages) == sorted(run.messages)

    def test_nothing_collected(self) -> None:
        run = Run([], {})
        result, sink = run.finalize("release")
        assert (result.returned_messages, sink.sent) == ([], [])


@pytest.mark.parametrize("mode", ["complete", "dry-run", "rejected", "release"])
def test_unrecognised_messages_always_return_untouched(mode: Mode) -> None:
    run = Run(
        [
            message("u1", "not json"),
            message("u2", "[1,2]"),
            message("u3", json.dumps({REDRIVE_MARKER: {"kind": "mystery"}})),
            message("m1", pointer_body(10, 10, 1)),
        ],
        {SHARD: {10: {"a": 1}}},
    ).planned()
    if mode == "complete":
        run.redrive()
    result, sink = run.finalize(mode)
    for mid in ("u1", "u2", "u3"):
        assert mid in result.returned_messages
        assert (run.messages[mid]["body"], ATTRIBUTES) in sink.sent
    assert result.report["counts"]["unrecognised"] == 3


class TestTheInvariantCheck:
    """assert_nothing_lost itself fails when a message or a record goes missing."""

    def finalized(self) -> tuple[Run, FinalizeResult, FakeDlqSink]:
        run = standard_run().planned().redrive()
        sink = FakeDlqSink()
        result = finalize_run(mode="complete", run_id=RUN, prefix=PREFIX, bucket=BUCKET, store=run.store, dlq=sink)
        return run, result, sink

    def test_a_dropped_record_is_caught(self) -> None:
        run, result, sink = self.finalized()
        sink.sent = [(body, attrs) for body, attrs in sink.sent if rid(103) not in body]
        result.requeued_records.remove(rid(103))
        with pytest.raises(AssertionError, match="lost"):
            assert_nothing_lost(run.store, sink, result, "complete")

    def test_a_message_not_really_returned_is_caught(self) -> None:
        run, result, sink = self.finalized()
        sink.sent = [(body, attrs) for body, attrs in sink.sent if body != run.messages["m-stray"]["body"]]
        with pytest.raises(AssertionError, match="not sent as it was"):
            assert_nothing_lost(run.store, sink, result, "complete")

    def test_a_silently_skipped_message_is_caught(self) -> None:
        run, result, sink = self.finalized()
        run.store.put_json(f"{PREFIX}messages/00000000000000000009-zzzz.json", [message("m-ghost", "{}")])
        with pytest.raises(AssertionError, match="m-ghost"):
            assert_nothing_lost(run.store, sink, result, "complete")


def test_messages_stored_twice_are_returned_once() -> None:
    run = standard_run().collect()
    run.store.put_json(f"{PREFIX}messages/00000000000000000002-bbbb.json", [run.messages["m-stray"]])
    result, sink = run.finalize("release")
    assert result.returned_messages.count("m-stray") == 1
    assert sum(1 for body, _ in sink.sent if body == run.messages["m-stray"]["body"]) == 1


def test_requeued_records_survive_the_next_run() -> None:
    """A record sent back by reference is planned again, unchanged, by the next run."""
    big = {"id": "o-big", "fail": True, "blob": "y" * MAX_INLINE_BYTES}
    first = Run([message("m1", pointer_body(10, 11, 2))], {SHARD: {10: big, 11: {"id": "o-2", "fail": True}}})
    first.planned().redrive()
    _, sink = first.finalize("complete")
    next_messages = [message(f"n{i}", body) for i, (body, _) in enumerate(sink.sent)]
    build_manifest(next_messages, first.store, "runs/run-2/")
    config = first.config.model_copy(update={"run_id": "run-2"})
    plan_run(config, first.store, None)
    batch = first.store.get_json("runs/run-2/batches/b00001.json")
    payloads = {r["recordId"]: json.loads(base64.b64decode(r["payload"])) for r in batch["records"]}
    assert payloads == {rid(10): big, rid(11): {"id": "o-2", "fail": True}}


def test_a_second_finalize_after_complete_sends_nothing_again() -> None:
    run = standard_run().planned().redrive()
    _, first = run.finalize("complete")
    assert first.sent
    second = FakeDlqSink()
    finalize_run(mode="release", run_id=RUN, prefix=PREFIX, bucket=BUCKET, store=run.store, dlq=second, now=3000.0)
    assert second.sent == []


def test_a_record_that_came_back_by_reference_is_archived_and_reported_with_its_data() -> None:
    big = {"id": "o-big", "blob": "z" * MAX_INLINE_BYTES, "fail": True}
    first = Run([message("m1", pointer_body(10, 10, 1))], {SHARD: {10: big}})
    first.planned().redrive()
    _, sink = first.finalize("complete")
    [(body, _)] = sink.sent
    assert "recordRef" in json.loads(body)[REDRIVE_MARKER]

    store, second_prefix = first.store, "runs/run-2/"
    second_messages = [message("n1", body)]
    store.put_json(f"{second_prefix}messages/00000000000000000001-aaaa.json", second_messages)
    build_manifest(second_messages, store, second_prefix)
    rules = [{"name": "drop-big", "when": "data.id = 'o-big'", "action": "discard", "reason": "oversized order"}]
    plan_run(first.config.model_copy(update={"run_id": "run-2", "rules": rules}), store, None)
    result = finalize_run(
        mode="complete", run_id="run-2", prefix=second_prefix, bucket=BUCKET, store=store, dlq=FakeDlqSink()
    )
    [reported] = result.report["records"]
    assert reported["outcome"] == "discarded"
    archived = store.get_json(f"{second_prefix}discarded/{rid(10)}.json")
    assert json.loads(base64.b64decode(archived["record"]["payload"])) == big
    assert (reported["source"], reported["sequenceNumber"], reported["data"]) == ("kinesis", "10", big)


def test_an_s3_destination_message_without_records_is_not_dropped_silently() -> None:
    body = json.loads(pointer_body(10, 12, 3))
    body["payload"] = {"Records": []}
    run = Run([message("m-empty", json.dumps(body))], {}).planned().redrive()
    run.finalize("complete")  # assert_nothing_lost: returned, or its records finished, or reported expired
