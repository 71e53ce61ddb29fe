"""Slices and rounds (core/lanes.py): a lane's slices never run at once, none is unbounded."""

from __future__ import annotations

import pytest

from redrive.contracts.vocab import Source
from redrive.core.lanes import (
    MAX_ROUNDS,
    MAX_SLICE_BATCHES,
    SLICE_SECONDS,
    TooManyRounds,
    lane_of,
    rounds_of,
    slice_batches,
)
from redrive.core.plan_run import plan_run
from tests.fakes import MemoryStore, memory_run, run_config

from .test_core_planning import BASE, group, kinesis


@pytest.mark.parametrize(
    ("batch", "lanes", "rate", "expected"),
    [(100, 2, 50.0, 25), (100, 1, 1000.0, MAX_SLICE_BATCHES), (100, 10, 10.0, 1), (10, 2, 10.0, 50), (1, 1, 0.01, 1)],
)
def test_a_slice_is_at_most_the_slice_time_of_one_lanes_sending(
    batch: int, lanes: int, rate: float, expected: int
) -> None:
    per_slice = slice_batches(batch, lanes, rate)
    assert per_slice == expected
    assert per_slice == 1 or per_slice * batch * lanes / rate <= SLICE_SECONDS


def test_round_r_is_the_rth_slice_of_every_lane() -> None:
    lanes = [[f"a{i}" for i in range(5)], ["b0"], [f"c{i}" for i in range(3)]]
    rounds = rounds_of(lanes, 2)
    assert [[(s.lane, s.batch_ids) for s in r] for r in rounds] == [
        [(0, ["a0", "a1"]), (1, ["b0"]), (2, ["c0", "c1"])],
        [(0, ["a2", "a3"]), (2, ["c2"])],
        [(0, ["a4"])],
    ]
    assert rounds_of([], 3) == []


def test_a_redrive_too_long_for_one_execution_is_refused_by_name() -> None:
    assert len(rounds_of([["b"] * MAX_ROUNDS], 1)) == MAX_ROUNDS
    with pytest.raises(TooManyRounds, match=r"raise redrive\.ratePerSecond"):
        rounds_of([["b"] * (MAX_ROUNDS + 1)], 1)


def test_a_keys_lane_is_stable_and_dynamodb_records_go_by_their_items_keys() -> None:
    record = kinesis(BASE)
    assert lane_of(record, 7) == lane_of(record.model_copy(update={"sequence_number": "9"}), 7)
    item = record.model_copy(update={"source": Source.DYNAMODB, "keys": {"pk": {"S": "a"}}, "partition_key": None})
    moved = item.model_copy(update={"shard_id": "shardId-2", "sequence_number": "5"})
    assert lane_of(item, 5) == lane_of(moved, 5)
    assert {lane_of(kinesis(BASE + i), 4) for i in range(7)} == {0, 1, 2, 3}, "seven keys spread"


def test_plan_writes_the_round_manifests_and_returns_counts_only() -> None:
    store = MemoryStore()
    data = memory_run("run-1", store)
    records = [kinesis(BASE + s, {"id": s, "amount": s}) for s in range(30)]
    data.put(data.paths.fetched_group("g1"), group(records))
    run = run_config(batch_size=2, concurrency=2, rate_per_second=0.1)  # a lane: a batch every 40 s
    result = plan_run(run, data, None)
    answer = result.to_json()
    assert all(not isinstance(v, list) for v in answer.values()), "nothing in the state grows with the records"
    assert answer["roundsPrefix"] == data.paths.redrive_rounds and result.slice_batches == 2
    seen: dict[int, list[str]] = {}
    for index in range(result.rounds):
        items = store.get_json(data.paths.redrive_round(index))
        assert len({item["lane"] for item in items}) == len(items), "one slice per lane per round"
        for item in items:
            assert 1 <= len(item["batchIds"]) <= result.slice_batches
            seen.setdefault(item["lane"], []).extend(item["batchIds"])
    plan = data.plan()
    assert plan is not None
    assert [seen[lane] for lane in sorted(seen)] == plan.lanes
    assert result.batches == len(plan.batches) == sum(len(lane) for lane in plan.lanes) and result.lanes == 2
