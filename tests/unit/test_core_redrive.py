"""redrive_batch: at most once per run, in its slot of the run's shared pace, never sleeping."""

from __future__ import annotations

import bisect
import heapq
import time
from typing import Any

import pytest

from redrive.contracts.plan import Batch
from redrive.contracts.run import ApprovalSettings, RedriveSettings, RunConfig
from redrive.contracts.steps import StepError
from redrive.core.redrive import BURST_SECONDS, MAP_RUN_FAILED, explain_map_run_failure, redrive_batch, slot_seconds
from tests.fakes import FakeClaims, MemoryStore, memory_run, open_run

RUN = "run-1"
PREFIX = f"runs/{RUN}/"
BATCH = "b00001"
RESULT_KEY = f"{PREFIX}results/{BATCH}.json"


class FakeClock:
    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class FakeTarget:
    def __init__(self, clock: FakeClock, takes: float = 0.0, failed: dict[str, str] | None = None) -> None:
        self.clock = clock
        self.takes = takes
        self.failed = failed or {}
        self.sent: list[list[str]] = []

    def send(self, batch: Batch) -> dict[str, str]:
        self.sent.append([r.record_id for r in batch.records])
        self.clock.now += self.takes
        return dict(self.failed)


class CrashingTarget(FakeTarget):
    def send(self, batch: Batch) -> dict[str, str]:
        super().send(batch)
        raise TimeoutError("the Lambda timed out mid-send")


@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    """The function never sleeps: waiting is the child workflow's Wait state."""

    def forbidden(seconds: float) -> None:
        raise AssertionError(f"redrive_batch slept {seconds} s")

    monkeypatch.setattr(time, "sleep", forbidden)


def put_batch(store: MemoryStore, batch_id: str = BATCH, records: int = 4) -> None:
    batch = Batch(
        batch_id=batch_id,
        lane=0,
        target="invoke",
        source="kinesis",
        stream_arn="arn:aws:kinesis:us-east-1:123456789012:stream/orders",
        shard_id="shardId-000000000000",
        records=[
            {"source": "kinesis", "shardId": "shardId-000000000000", "sequenceNumber": f"{batch_id[1:]}{i}"}
            for i in range(records)
        ],
    )
    memory_run(RUN, store).put(f"{PREFIX}batches/{batch_id}.json", batch)


def setup(records: int = 4) -> tuple[MemoryStore, FakeClaims, FakeClock]:
    store = MemoryStore()
    put_batch(store, BATCH, records)
    claims = FakeClaims()
    open_run(claims, RUN)
    return store, claims, FakeClock()


def config(rate: float = 4.0, concurrency: int = 2) -> RunConfig:
    return RunConfig(
        run_id=RUN,
        execution_arn=f"arn:aws:states:us-east-1:123456789012:execution:m:{RUN}",
        trigger="manual",
        dlq_url="https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
        dlq_arn="arn:aws:sqs:us-east-1:123456789012:dlq",
        bucket="b",
        max_messages=10,
        dry_run=False,
        rules=[],
        redrive=RedriveSettings(target="invoke", rate_per_second=rate, concurrency=concurrency, batch_size=10),
        approval=ApprovalSettings(timeout_seconds=60),
    )


def run_once(
    store: MemoryStore,
    claims: FakeClaims,
    target: FakeTarget,
    clock: FakeClock,
    rate: float = 4.0,
    batch_id: str = BATCH,
    slot_start: float | None = None,
) -> dict[str, Any]:
    output = redrive_batch(
        run=config(rate),
        batch_id=batch_id,
        slot_start=slot_start,
        data=memory_run(RUN, store),
        claims=claims,
        limiter=claims,
        target=target,
        clock=clock,
    )
    return output.model_dump(mode="json", by_alias=True, exclude={"fenced"})


def test_a_batchs_slot_is_its_records_over_the_rate() -> None:
    assert slot_seconds(10, 10.0) == pytest.approx(1.0)
    assert slot_seconds(100, 1000.0) == pytest.approx(0.1)
    assert slot_seconds(500, 10.0) == pytest.approx(50.0)


class TestPacing:
    def test_a_free_limiter_sends_at_once(self) -> None:
        store, claims, clock = setup(records=4)
        target = FakeTarget(clock, takes=0.5)
        answer = run_once(store, claims, target, clock, rate=4.0)
        assert answer == {"batchId": BATCH, "repeated": False, "failed": 0, "waitSeconds": 0, "slotStart": 1000.0}
        result = store.get_json(RESULT_KEY)
        assert (result["startedAt"], result["sentAt"], result["slotStart"]) == (1000.0, 1000.5, 1000.0)
        assert result["finishedAt"] == 1001.0, "the end of its slot: 4 records at 4/s"
        assert result["records"] == 4 and result["sent"] is True and result["failed"] == {}
        assert claims.claims[(RUN, BATCH)] == "completed"
        assert claims.tat[RUN] == 1001.0

    def test_a_slot_ahead_is_waited_for_by_the_workflow_unclaimed(self) -> None:
        store, claims, clock = setup(records=4)
        claims.reserve(RUN, 2.5, 1000.0)  # other lanes hold the next 2.5 s
        target = FakeTarget(clock)
        answer = run_once(store, claims, target, clock)
        assert answer["waitSeconds"] == 2 and answer["slotStart"] == 1002.5
        assert target.sent == [] and not store.exists(RESULT_KEY)
        assert (RUN, BATCH) not in claims.claims, "no claim across a Wait: settle would wait for it"
        assert claims.leases[RUN].in_flight == {}

        clock.now += 2  # the Wait state's 2 s; the call again carries the slot, reserving nothing more
        again = run_once(store, claims, target, clock, slot_start=answer["slotStart"])
        assert again["waitSeconds"] == 0 and len(target.sent) == 1
        assert claims.tat[RUN] == 1003.5, "one slot per batch"
        assert store.get_json(RESULT_KEY)["finishedAt"] == 1003.5

    def test_a_slot_less_than_a_second_ahead_is_sent_now(self) -> None:
        """A Wait state waits whole seconds: a slot due sooner goes at once (the burst)."""
        store, claims, clock = setup(records=4)
        claims.reserve(RUN, BURST_SECONDS - 0.01, 1000.0)
        answer = run_once(store, claims, FakeTarget(clock), clock)
        assert answer["waitSeconds"] == 0
        assert store.get_json(RESULT_KEY)["finishedAt"] == pytest.approx(1000.99 + 1.0)

    def test_failures_are_recorded_and_counted(self) -> None:
        store, claims, clock = setup(records=3)
        failed = {"shardId-000000000000:00011": "consumer failed again (ValueError: bad)"}
        target = FakeTarget(clock, failed=failed)
        answer = run_once(store, claims, target, clock)
        assert answer["failed"] == 1
        assert store.get_json(RESULT_KEY)["failed"] == failed


def simulate(rate: float, lanes: int, batches_per_lane: int, batch: int, latency: float) -> tuple[float, float]:
    """Every lane a child sending its batches one after another through redrive_batch, the
    Wait states as events on one clock; returns achieved/target (records over first send to
    the end of the last slot) and the most records sent in any 1 s over the rate."""
    store, claims, clock = MemoryStore(), FakeClaims(), FakeClock()
    open_run(claims, RUN)
    queue: list[tuple[float, int, int, float | None]] = []
    for lane in range(lanes):
        for k in range(batches_per_lane):
            put_batch(store, f"b{lane:02d}{k:03d}", batch)
        heapq.heappush(queue, (1000.0 + lane * 0.001, lane, 0, None))
    target = FakeTarget(clock)
    while queue:
        at, lane, k, slot = heapq.heappop(queue)
        clock.now = at
        answer = run_once(store, claims, target, clock, rate=rate, batch_id=f"b{lane:02d}{k:03d}", slot_start=slot)
        if answer["waitSeconds"]:
            heapq.heappush(queue, (at + answer["waitSeconds"] + latency, lane, k, answer["slotStart"]))
        elif k + 1 < batches_per_lane:
            heapq.heappush(queue, (at + latency, lane, k + 1, None))
    results = [store.get_json(key) for key in store.list_keys(f"{PREFIX}results/")]
    span = max(r["finishedAt"] for r in results) - min(r["startedAt"] for r in results)
    achieved = sum(r["records"] for r in results) / span
    sends = sorted(r["startedAt"] for r in results)
    busiest = max(batch * (bisect.bisect_left(sends, start + 1.0) - i) for i, start in enumerate(sends))
    return achieved / rate, busiest / rate


@pytest.mark.parametrize("rate", [10.0, 50.0, 200.0, 1000.0])
@pytest.mark.parametrize("lanes", [1, 2, 10])
def test_the_shared_limiter_keeps_the_run_within_09_and_10_of_its_rate(rate: float, lanes: int) -> None:
    batch = 10 if rate < 100 else 100
    per_lane = max(2, int(20 * rate / batch / lanes))  # about 20 s of sending
    ratio, busiest = simulate(rate, lanes, per_lane, batch, latency=0.08)
    assert 0.9 <= ratio <= 1.0, ratio
    assert busiest <= 2.0 + batch / rate, "in any second at most the rate's share, one second early and a batch"


class TestAtMostOnce:
    def test_a_completed_batch_is_not_sent_again(self) -> None:
        store, claims, clock = setup()
        target = FakeTarget(clock, failed={"shardId-000000000000:00012": "x"})
        run_once(store, claims, target, clock)
        first = store.get_json(RESULT_KEY)
        again = run_once(store, claims, target, clock, slot_start=clock.now)
        assert again == {"batchId": BATCH, "repeated": True, "failed": 1, "waitSeconds": 0, "slotStart": None}
        assert len(target.sent) == 1
        assert store.get_json(RESULT_KEY) == first

    def test_an_interrupted_batch_is_not_sent_again_and_every_record_fails(self) -> None:
        store, claims, clock = setup(records=3)
        with pytest.raises(TimeoutError):
            run_once(store, claims, CrashingTarget(clock), clock)
        assert not store.exists(RESULT_KEY)
        assert claims.leases[RUN].in_flight == {}, "nothing in flight: the claim stays, so a retry sends nothing"

        retry_target = FakeTarget(clock)
        answer = run_once(store, claims, retry_target, clock, slot_start=clock.now)
        assert answer["repeated"] is True and answer["failed"] == 3
        assert retry_target.sent == []
        result = store.get_json(RESULT_KEY)
        assert result["sent"] is False and result["records"] == 3
        assert all("interrupted" in reason for reason in result["failed"].values())

    def test_claims_are_per_run_and_batch(self) -> None:
        store, claims, clock = setup()
        claims.claims[("another-run", BATCH)] = "completed"
        claims.claims[(RUN, "b00002")] = "completed"
        target = FakeTarget(clock)
        assert run_once(store, claims, target, clock)["repeated"] is False
        assert len(target.sent) == 1


def test_a_closed_run_sends_nothing() -> None:
    """Fencing: once the run's lease is closed (the execution ended), nothing is sent."""
    store, claims, clock = setup()
    claims.close_lease(RUN)
    target = FakeTarget(clock)
    answer = run_once(store, claims, target, clock)
    assert answer["failed"] == 0 and answer["repeated"] is False
    assert target.sent == []
    assert not store.exists(RESULT_KEY)


def test_a_target_that_raises_leaves_nothing_in_flight() -> None:
    store, claims, clock = setup()
    with pytest.raises(TimeoutError):
        run_once(store, claims, CrashingTarget(clock), clock)
    assert claims.leases[RUN].in_flight == {}


def test_a_send_that_raises_says_why_for_the_map_runs_failure() -> None:
    """The Distributed Map reports only that a child failed; Release gets the batch's reason."""
    store, claims, clock = setup()
    with pytest.raises(TimeoutError):
        run_once(store, claims, CrashingTarget(clock), clock)
    data = memory_run(RUN, store)
    generic = StepError(error=MAP_RUN_FAILED, cause="The specified tolerated failure threshold was exceeded")
    explained = explain_map_run_failure(generic, data)
    assert explained.one_line() == (
        "States.ExceedToleratedFailureThreshold: The specified tolerated failure threshold was exceeded; "
        f"batch {BATCH}: TimeoutError: the Lambda timed out mid-send"
    )
    other = StepError(error="States.Timeout", cause="x")
    assert explain_map_run_failure(other, data) == other


def test_the_achieved_rate_runs_from_the_first_slot_to_the_end_of_the_last() -> None:
    from redrive.contracts.redrive import BatchResult
    from redrive.core.finalize import redrive_timing

    def result(batch_id: str, slot: float, started: float) -> BatchResult:
        return BatchResult(
            batch_id=batch_id,
            started_at=started,
            sent_at=started + 0.01,
            finished_at=max(started + 0.01, slot + 1.0),
            records=10,
            sent=True,
            slot_start=slot,
        )

    # Two slots of 1 s (10 records at 10/s), the first sent 0.2 s after it began.
    timing = redrive_timing({"b1": result("b1", 100.0, 100.2), "b2": result("b2", 101.0, 100.5)})
    assert timing is not None
    assert (timing.started_at, timing.finished_at) == (100.0, 102.0)
    assert timing.achieved_per_second == pytest.approx(10.0)
