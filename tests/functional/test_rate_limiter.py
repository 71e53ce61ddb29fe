"""The run's shared pace (StateTable.reserve) on moto's DynamoDB: slots tile the time at
the rate, whoever asks and however many ask at once."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from redrive.adapters.state_table import StateTable
from redrive_local.engine import LocalEngine


@pytest.fixture
def table(engine: LocalEngine) -> StateTable:
    dynamodb = engine.client("dynamodb")
    name = f"pace-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return StateTable(dynamodb, name)


def test_an_idle_limiter_starts_now_a_busy_one_where_the_last_slot_ends(table: StateTable) -> None:
    assert table.reserve("run-a", 2.0, now=1000.0) == 1000.0
    assert table.reserve("run-a", 0.25, now=1000.5) == 1002.0
    assert table.reserve("run-a", 1.0, now=1001.0) == 1002.25
    assert table.reserve("run-a", 1.0, now=1010.0) == 1010.0, "idle time is not banked"
    assert table.reserve("run-b", 1.0, now=1000.0) == 1000.0, "each run has its own pace"


def test_concurrent_lanes_get_slots_that_never_overlap(table: StateTable) -> None:
    starts: list[float] = []
    lock = threading.Lock()

    def lane() -> None:
        for _ in range(10):
            start = table.reserve("run-c", 0.5, now=5000.0)
            with lock:
                starts.append(start)

    threads = [threading.Thread(target=lane) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(starts) == pytest.approx([5000.0 + 0.5 * i for i in range(60)])


class _CountingWrites:
    """The DynamoDB client, counting UpdateItem calls (a failed conditional write counts too)."""

    def __init__(self, dynamodb: Any) -> None:
        self._dynamodb = dynamodb
        self.updates = 0

    def update_item(self, **kwargs: Any) -> Any:
        self.updates += 1
        return self._dynamodb.update_item(**kwargs)


def test_a_run_sending_at_its_rate_reserves_with_one_write_a_batch(table: StateTable) -> None:
    """The write tried first is the one that won last: backlogged batch after batch, each
    reservation is one request (a failed conditional write is billed as well); the limiter
    going idle costs one failed write, then idle reservations are one each again."""
    counting = _CountingWrites(table.dynamodb)
    limiter = StateTable(counting, table.table)
    assert limiter.reserve("run-d", 1.0, now=2000.0) == 2000.0
    assert limiter.reserve("run-d", 1.0, now=2000.1) == 2001.0  # idle tried first, then backlogged
    before = counting.updates
    starts = [limiter.reserve("run-d", 1.0, now=2000.2) for _ in range(5)]
    assert starts == [2002.0, 2003.0, 2004.0, 2005.0, 2006.0]
    assert counting.updates - before == 5, "one write a reservation while backlogged"
    before = counting.updates
    assert limiter.reserve("run-d", 1.0, now=3000.0) == 3000.0, "idle again: the slot starts now"
    assert counting.updates - before == 2
    before = counting.updates
    assert limiter.reserve("run-d", 1.0, now=4000.0) == 4000.0
    assert counting.updates - before == 1, "idle after idle: one write"
