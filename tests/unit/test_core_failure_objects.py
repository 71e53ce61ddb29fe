"""An S3-sourced run over fakes: the on-failure destination's objects become the run's
messages, stay in their bucket while it holds them, and are deleted only once every record
they carry has an outcome (left in place otherwise), whatever fails."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from redrive.contracts.ledger import LeaseStatus, RunLease
from redrive.contracts.report import Report
from redrive.contracts.run import RunConfig, RunSource, S3Source
from redrive.contracts.vocab import FinalizeMode, MessageKind, Outcome
from redrive.core import failure_objects
from redrive.core.failure_objects import MAX_PAGE_OBJECTS, collect_failure_objects, hold_failure_objects
from redrive.core.plan_run import plan_run
from redrive.core.redrive import redrive_batch
from redrive.core.settle import settle_run
from redrive.errors import SettleIncomplete
from tests.fakes import FakeFailureBucket, FakeQueue, FakeStateStore, MemoryStore, UnpacedLimiter, memory_run
from tests.unit.test_core_finalize import RUN, FailingTarget, requeued_markers, run_config, s3_destination_body

FAILURE_BUCKET = "orders-failures"
PREFIX = "aws/lambda/"
SOURCE = S3Source(bucket=FAILURE_BUCKET, prefix=PREFIX, lock_prefix=PREFIX)


def key(n: int, shard: str = "shardId-000000000001") -> str:
    """A key as the destination names objects (one ESM, one shard, one day)."""
    return f"{PREFIX}f89f8514-cdd9-4602-9e1f-01a5b77d449b/{shard}/2026/11/22/2026-11-22T03.12.{n:02d}-{n:04d}"


def s3_config(**kwargs: Any) -> RunConfig:
    config: RunConfig = run_config(**kwargs)
    return config.model_copy(update={"source": RunSource(s3=SOURCE)})


class S3Run:
    """A run whose source is a fake failure bucket, through the real core steps."""

    def __init__(self, objects: dict[str, str], max_messages: int = 100) -> None:
        self.bucket = FakeFailureBucket(objects, bucket=FAILURE_BUCKET)
        self.before = dict(objects)
        self.store = MemoryStore()
        self.data = memory_run(RUN, self.store)
        self.state = FakeStateStore()
        self.dlq = FakeQueue()
        self.config = s3_config().model_copy(update={"max_messages": max_messages})
        self.target = FailingTarget()
        self.state.open_lease(
            RunLease(
                run_id=RUN,
                execution_arn=self.config.execution_arn,
                queue_arn=self.config.lock_key,
                dlq_url=self.config.dlq_url,
                bucket=self.config.bucket,
            )
        )
        self.state.acquire_lock(self.config.lock_key, self.config.execution_arn)

    def collect(self) -> S3Run:
        collect_failure_objects(self.bucket, self.data, self.state, SOURCE, self.config.max_messages)
        return self

    def plan_and_redrive(self) -> S3Run:
        plan_run(self.config, self.data, None)
        plan = self.data.plan()
        assert plan is not None
        for batch_id in plan.batches:
            redrive_batch(
                run=self.config,
                batch_id=batch_id,
                data=self.data,
                claims=self.state,
                target=self.target,
                limiter=UnpacedLimiter(),
                clock=lambda: 1000.0,
            )
        return self

    def settle(self, mode: FinalizeMode, with_bucket: bool = True) -> Report:
        return settle_run(
            run=self.config,
            mode=mode,
            data=self.data,
            dlq=self.dlq,
            state_store=self.state,
            now=2000.0,
            objects=self.bucket if with_bucket else None,
        )

    def assert_nothing_lost(self, report: Report) -> None:
        """Every object is still in its bucket, byte for byte, or finished: each of its
        records redriven, discarded, or back in the DLQ as a self-contained message."""
        lease = self.state.lease(RUN)
        assert lease is not None and lease.status is LeaseStatus.SETTLED
        assert self.config.lock_key not in self.state.locks
        requeued = {m.record_id for m in requeued_markers(self.dlq)}
        plan = self.data.plan()
        outcomes = {r.record_id: r.outcome for r in report.records}
        for object_key, body in self.before.items():
            if object_key in self.bucket.objects:
                assert self.bucket.objects[object_key] == body
                continue
            assert plan is not None and plan.message_records.get(object_key), f"{object_key} deleted with no records"
            for record_id in plan.message_records[object_key]:
                finished = outcomes[record_id] in (Outcome.REDRIVEN, Outcome.DISCARDED)
                assert finished or record_id in requeued, f"{record_id} of deleted {object_key} is nowhere"


def order(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"o-{n}", "amount": n, **extra}


class TestCollect:
    def test_each_object_is_one_message_named_by_its_key_and_none_is_deleted(self) -> None:
        run = S3Run({key(1): s3_destination_body({5: order(5), 6: order(6)}), key(2): "not json"})
        result = collect_failure_objects(run.bucket, run.data, run.state, SOURCE, 100)
        assert result.messages == 2
        assert result.kinds == {MessageKind.S3_DESTINATION: 1, MessageKind.UNRECOGNISED: 1}
        assert run.bucket.objects == run.before and run.bucket.deleted == []
        held = run.data.held_messages(1)
        assert set(held) == {key(1), key(2)}
        assert held[key(1)].failure_object is not None and held[key(1)].failure_object.key == key(1)
        assert held[key(2)].body == "not json"
        inline = run.data.store.list_keys(run.data.paths.fetched)
        assert len(inline) == 1 and "inline-" in inline[0]

    def test_only_the_prefix_is_read(self) -> None:
        run = S3Run({key(1): s3_destination_body({5: order(5)}), "elsewhere/x": "{}", f"{PREFIX}folder/": ""})
        held = hold_failure_objects(run.bucket, run.data, run.state, SOURCE, 100)
        assert set(held) == {key(1)}

    def test_pages_of_ten_and_max_messages(self) -> None:
        run = S3Run({key(n): s3_destination_body({n: order(n)}) for n in range(25)})
        held = hold_failure_objects(run.bucket, run.data, run.state, SOURCE, 23)
        assert len(held) == 23
        lease = run.state.lease(RUN)
        assert lease is not None and lease.pages == 3
        sizes = [len(run.data.store.get_json(run.data.paths.message_page(n))["messages"]) for n in (1, 2, 3)]
        assert sizes == [MAX_PAGE_OBJECTS, MAX_PAGE_OBJECTS, 3]

    def test_a_large_object_is_alone_on_its_page(self) -> None:
        big = s3_destination_body({1: order(1, note="x" * (5 * 1024 * 1024))})
        run = S3Run(
            {key(0): s3_destination_body({0: order(0)}), key(1): big, key(2): s3_destination_body({2: order(2)})}
        )
        hold_failure_objects(run.bucket, run.data, run.state, SOURCE, 100)
        pages = [run.data.store.get_json(run.data.paths.message_page(n))["messages"] for n in (1, 2, 3)]
        assert [[m["messageId"] for m in page] for page in pages] == [[key(0)], [key(1)], [key(2)]]

    def test_a_run_holds_at_most_max_run_bytes_and_leaves_the_rest_in_the_bucket(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        bodies = {key(n): s3_destination_body({n: order(n, note="x" * 1000)}) for n in range(6)}
        size = len(next(iter(bodies.values())))
        monkeypatch.setattr(failure_objects, "MAX_RUN_BYTES", 3 * size)
        run = S3Run(bodies)
        held = hold_failure_objects(run.bucket, run.data, run.state, SOURCE, 100)
        assert sorted(held) == [key(0), key(1), key(2)]
        assert run.bucket.reads == [key(0), key(1), key(2)], "nothing more is read"
        retried = hold_failure_objects(run.bucket, run.data, run.state, SOURCE, 100)
        assert sorted(retried) == sorted(held), "a retry counts what it holds"
        monkeypatch.setattr(failure_objects, "MAX_RUN_BYTES", 1)
        alone = S3Run(bodies)
        assert list(hold_failure_objects(alone.bucket, alone.data, alone.state, SOURCE, 100)) == [key(0)]

    def test_a_retried_collect_keeps_what_it_holds_and_reads_the_rest(self) -> None:
        run = S3Run({key(n): s3_destination_body({n: order(n)}) for n in range(15)})
        hold_failure_objects(run.bucket, run.data, run.state, SOURCE, 10)
        run.bucket.reads.clear()
        held = hold_failure_objects(run.bucket, run.data, run.state, SOURCE, 15)
        assert len(held) == 15
        assert sorted(run.bucket.reads) == sorted(key(n) for n in range(10, 15)), "held objects are not read again"

    def test_an_object_gone_since_the_listing_is_skipped(self) -> None:
        run = S3Run({key(1): s3_destination_body({1: order(1)}), key(2): s3_destination_body({2: order(2)})})
        real_read = run.bucket.read

        def read_after_someone_deleted_key_2(object_key: str) -> Any:
            run.bucket.objects.pop(key(2), None)
            return real_read(object_key)

        run.bucket.read = read_after_someone_deleted_key_2  # type: ignore[method-assign]
        assert set(hold_failure_objects(run.bucket, run.data, run.state, SOURCE, 100)) == {key(1)}

    def test_a_closed_lease_holds_nothing(self) -> None:
        run = S3Run({key(1): s3_destination_body({1: order(1)})})
        run.state.close_lease(RUN)
        assert hold_failure_objects(run.bucket, run.data, run.state, SOURCE, 100) == {}
        assert run.bucket.objects == run.before


class TestSettle:
    def test_finished_objects_are_deleted_and_the_rest_stay(self) -> None:
        objects = {
            key(1): s3_destination_body({5: order(5), 6: order(6)}),
            key(2): s3_destination_body({7: order(7), 8: order(8, fail=True)}),
            key(3): "not a failure record",
        }
        run = S3Run(objects).collect().plan_and_redrive()
        report = run.settle(FinalizeMode.COMPLETE)
        assert report.completed
        assert set(run.bucket.objects) == {key(3)}, "the unrecognised object stays; both finished ones go"
        assert sorted(run.bucket.deleted) == [key(1), key(2)]
        [marker] = requeued_markers(run.dlq)
        assert marker.record is not None and marker.record.sequence_number == "8"
        assert len(run.dlq.sent) == 1, "nothing is sent for an object that stays in its bucket"
        assert report.counts.returned_messages == 1 and report.counts.requeued_records == 1
        run.assert_nothing_lost(report)

    @pytest.mark.parametrize("mode", [FinalizeMode.DRY_RUN, FinalizeMode.REJECTED])
    def test_nothing_redriven_leaves_every_object_and_sends_nothing(self, mode: FinalizeMode) -> None:
        run = S3Run({key(1): s3_destination_body({5: order(5)}), key(2): "odd"}).collect()
        plan_run(run.config, run.data, None)
        report = run.settle(mode)
        assert run.bucket.objects == run.before and run.bucket.deleted == [] and run.dlq.sent == []
        run.assert_nothing_lost(report)

    def test_released_part_way_the_finished_object_goes_and_the_unreached_one_stays(self) -> None:
        run = S3Run({key(1): s3_destination_body({1: order(1)}), key(2): s3_destination_body({2: order(2)})})
        run.collect()
        run.config = run.config.model_copy(update={"redrive": run.config.redrive.model_copy(update={"batch_size": 1})})
        plan_run(run.config, run.data, None)
        plan = run.data.plan()
        assert plan is not None and len(plan.batches) == 2
        redrive_batch(
            run=run.config,
            batch_id=plan.batches[0],
            data=run.data,
            claims=run.state,
            target=run.target,
            limiter=UnpacedLimiter(),
            clock=lambda: 1000.0,
        )
        report = run.settle(FinalizeMode.RELEASE)
        assert len(run.bucket.objects) == 1 and run.dlq.sent == []
        run.assert_nothing_lost(report)

    def test_a_delete_s3_refuses_leaves_the_settle_incomplete_and_the_next_one_finishes(self) -> None:
        objects = {key(1): s3_destination_body({5: order(5), 6: order(6, fail=True)})}
        run = S3Run(objects).collect().plan_and_redrive()
        run.bucket.fail_deletes = {key(1)}
        with pytest.raises(SettleIncomplete, match="did not delete"):
            run.settle(FinalizeMode.COMPLETE)
        report = run.data.report()
        assert report is not None and not report.completed
        assert key(1) in run.bucket.objects
        assert len(requeued_markers(run.dlq)) == 1, "the failed record is in the DLQ before its object goes"
        run.bucket.fail_deletes = set()
        final = run.settle(FinalizeMode.COMPLETE)
        assert final.completed and run.bucket.objects == {}
        assert Counter(m.record_id for m in requeued_markers(run.dlq)) == {final.records[1].record_id: 1}
        run.assert_nothing_lost(final)

    def test_a_delete_that_raises_is_retried_by_the_next_settle(self) -> None:
        run = S3Run({key(1): s3_destination_body({5: order(5)})}).collect().plan_and_redrive()
        run.bucket.raise_on_delete = ConnectionError("S3 went away")
        with pytest.raises(SettleIncomplete, match="ConnectionError"):
            run.settle(FinalizeMode.COMPLETE)
        assert key(1) in run.bucket.objects
        run.bucket.raise_on_delete = None
        assert run.settle(FinalizeMode.COMPLETE).completed and run.bucket.objects == {}

    def test_requeues_that_fail_keep_the_object(self) -> None:
        class BrokenQueue(FakeQueue):
            def send(self, body: str, message_attributes: Any = None) -> str:
                raise ConnectionError("SQS went away")

        run = S3Run({key(1): s3_destination_body({5: order(5, fail=True)})}).collect().plan_and_redrive()
        run.dlq = BrokenQueue()
        with pytest.raises(SettleIncomplete):
            run.settle(FinalizeMode.COMPLETE)
        assert run.bucket.objects == run.before, "the object stays until its failed record is in the DLQ"

    def test_without_the_bucket_port_finished_objects_are_not_forgotten(self) -> None:
        run = S3Run({key(1): s3_destination_body({5: order(5)})}).collect().plan_and_redrive()
        with pytest.raises(SettleIncomplete, match="no S3 source"):
            run.settle(FinalizeMode.COMPLETE, with_bucket=False)
        assert run.bucket.objects == run.before


def test_the_stored_page_names_the_object() -> None:
    run = S3Run({key(1): s3_destination_body({5: order(5)})})
    hold_failure_objects(run.bucket, run.data, run.state, SOURCE, 100)
    [stored] = run.data.store.get_json(run.data.paths.message_page(1))["messages"]
    assert stored["messageId"] == key(1)
    assert stored["failureObject"] == {"bucket": FAILURE_BUCKET, "key": key(1), "etag": None}
    assert json.loads(stored["body"])["KinesisBatchInfo"]["batchSize"] == 1
