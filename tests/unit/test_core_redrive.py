"""redrive_batch: at most once per run, the outcome durable before the pacing pause."""

from __future__ import annotations

from typing import Any

import pytest

from redrive.adapters.store import MemoryStore
from redrive.core.redrive import redrive_batch, slot_seconds

RUN = "run-1"
PREFIX = f"runs/{RUN}/"
BATCH = "b00001"
RESULT_KEY = f"{PREFIX}results/{BATCH}.json"


class FakeClock:
    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class FakeClaims:
    """The state table's batch markers: claim once, then report the earlier status."""

    def __init__(self) -> None:
        self.status: dict[tuple[str, str], str] = {}

    def claim_batch(self, run_id: str, batch_id: str) -> str | None:
        earlier = self.status.get((run_id, batch_id))
        if earlier is None:
            self.status[(run_id, batch_id)] = "started"
        return earlier

    def complete_batch(self, run_id: str, batch_id: str) -> None:
        self.status[(run_id, batch_id)] = "completed"


class FakeTarget:
    def __init__(self, clock: FakeClock, takes: float = 0.0, failed: dict[str, str] | None = None) -> None:
        self.clock = clock
        self.takes = takes
        self.failed = failed or {}
        self.sent: list[list[str]] = []

    def send(self, batch: dict[str, Any]) -> dict[str, str]:
        self.sent.append([r["recordId"] for r in batch["records"]])
        self.clock.now += self.takes
        return dict(self.failed)


class CrashingTarget(FakeTarget):
    def send(self, batch: dict[str, Any]) -> dict[str, str]:
        super().send(batch)
        raise TimeoutError("the Lambda timed out mid-send")


class FakeSleep:
    """Records each pause; the batch's result must already be in the store when it starts."""

    def __init__(self, store: MemoryStore, claims: FakeClaims) -> None:
        self.store = store
        self.claims = claims
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        assert self.store.exists(RESULT_KEY), "pacing pause before the result was stored"
        assert self.claims.status[(RUN, BATCH)] == "completed", "pacing pause before the claim was completed"
        self.pauses.append(seconds)


def setup(records: int = 4) -> tuple[MemoryStore, FakeClaims, FakeClock, FakeSleep]:
    store = MemoryStore()
    store.put_json(
        f"{PREFIX}batches/{BATCH}.json",
        {"batchId": BATCH, "records": [{"recordId": f"shardId-000000000000:{i}"} for i in range(records)]},
    )
    claims = FakeClaims()
    return store, claims, FakeClock(), FakeSleep(store, claims)


def run_once(
    store: MemoryStore,
    claims: FakeClaims,
    target: FakeTarget,
    clock: FakeClock,
    sleep: FakeSleep,
    concurrency: int = 2,
    rate: float = 4.0,
) -> dict[str, Any]:
    return redrive_batch(
        run_id=RUN,
        prefix=PREFIX,
        batch_id=BATCH,
        store=store,
        claims=claims,
        target=target,
        concurrency=concurrency,
        rate_per_second=rate,
        clock=clock,
        sleep=sleep,
    )


class TestSlotSeconds:
    @pytest.mark.parametrize(
        ("records", "concurrency", "rate", "seconds"),
        [(10, 1, 10.0, 1.0), (10, 2, 10.0, 2.0), (4, 2, 4.0, 2.0), (1, 1, 50.0, 0.02), (500, 40, 10000.0, 2.0)],
    )
    def test_records_times_concurrency_over_rate(
        self, records: int, concurrency: int, rate: float, seconds: float
    ) -> None:
        assert slot_seconds(records, concurrency, rate) == pytest.approx(seconds)

    def test_concurrent_slots_keep_the_run_under_the_rate(self) -> None:
        # `concurrency` iterations each holding a slot deliver at most rate records a second.
        records, concurrency, rate = 7, 3, 20.0
        assert concurrency * records / slot_seconds(records, concurrency, rate) == pytest.approx(rate)


class TestPacing:
    def test_sleeps_for_what_is_left_of_the_slot(self) -> None:
        store, claims, clock, sleep = setup(records=4)
        target = FakeTarget(clock, takes=0.5)
        answer = run_once(store, claims, target, clock, sleep, concurrency=2, rate=4.0)
        assert answer == {"batchId": BATCH, "repeated": False, "failed": 0}
        assert sleep.pauses == [pytest.approx(2.0 - 0.5)]
        result = store.get_json(RESULT_KEY)
        assert result["startedAt"] == 1000.0
        assert result["sentAt"] == 1000.5
        assert result["finishedAt"] == 1002.0
        assert result["records"] == 4
        assert result["sent"] is True
        assert result["failed"] == {}
        assert claims.status[(RUN, BATCH)] == "completed"

    def test_no_sleep_when_the_send_took_longer_than_the_slot(self) -> None:
        store, claims, clock, sleep = setup(records=4)
        target = FakeTarget(clock, takes=3.0)
        run_once(store, claims, target, clock, sleep, concurrency=2, rate=4.0)
        assert sleep.pauses == []
        assert store.get_json(RESULT_KEY)["finishedAt"] == 1003.0

    def test_failures_are_recorded_and_counted(self) -> None:
        store, claims, clock, sleep = setup(records=3)
        failed = {"shardId-000000000000:1": "consumer failed again (ValueError: bad)"}
        target = FakeTarget(clock, failed=failed)
        answer = run_once(store, claims, target, clock, sleep)
        assert answer["failed"] == 1
        assert store.get_json(RESULT_KEY)["failed"] == failed
        assert target.sent == [[f"shardId-000000000000:{i}" for i in range(3)]]


class TestAtMostOnce:
    def test_a_completed_batch_is_not_sent_again(self) -> None:
        store, claims, clock, sleep = setup()
        target = FakeTarget(clock, failed={"shardId-000000000000:2": "x"})
        run_once(store, claims, target, clock, sleep)
        first = store.get_json(RESULT_KEY)
        again = run_once(store, claims, target, clock, sleep)
        assert again == {"batchId": BATCH, "repeated": True, "failed": 1}
        assert len(target.sent) == 1
        assert store.get_json(RESULT_KEY) == first
        assert len(sleep.pauses) == 1

    def test_an_interrupted_batch_is_not_sent_again_and_every_record_fails(self) -> None:
        store, claims, clock, sleep = setup(records=3)
        crashing = CrashingTarget(clock)
        with pytest.raises(TimeoutError):
            run_once(store, claims, crashing, clock, sleep)
        assert not store.exists(RESULT_KEY)
        assert claims.status[(RUN, BATCH)] == "started"

        retry_target = FakeTarget(clock)
        answer = run_once(store, claims, retry_target, clock, sleep)
        assert answer == {"batchId": BATCH, "repeated": True, "failed": 3}
        assert retry_target.sent == []
        result = store.get_json(RESULT_KEY)
        assert result["sent"] is False
        assert set(result["failed"]) == {f"shardId-000000000000:{i}" for i in range(3)}
        assert all("interrupted" in reason for reason in result["failed"].values())
        assert result["records"] == 3

    def test_claims_are_per_run_and_batch(self) -> None:
        store, claims, clock, sleep = setup()
        claims.status[("another-run", BATCH)] = "completed"
        claims.status[(RUN, "b00002")] = "completed"
        target = FakeTarget(clock)
        assert run_once(store, claims, target, clock, sleep)["repeated"] is False
        assert len(target.sent) == 1
