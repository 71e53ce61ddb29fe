"""The run's shared pace (StateTable.reserve) on moto's DynamoDB: slots tile the time at
the rate, whoever asks and however many ask at once."""

from __future__ import annotations

import threading
import uuid

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
