"""The DlqArrivals check: a run for new failures while the alarm stays in ALARM, none for
messages earlier runs returned and left in the DLQ."""

from __future__ import annotations

import pytest

from redrive.core.arrivals import start_run_for_new_failures
from redrive.handlers import arrivals as handler
from tests.fakes import QUEUE_ARN, FakeAdapters, FakeArrivals, FakeLambdaContext, FakeStateStore

DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-consumer-dlq"


def check(arrivals: FakeArrivals, threshold: int = 1) -> str | None:
    return start_run_for_new_failures(arrivals, DLQ_URL, threshold, "stack-dlq-depth").started


def test_only_messages_earlier_runs_left_start_nothing() -> None:
    arrivals = FakeArrivals(FakeStateStore())
    arrivals.state.record_left_in_place(QUEUE_ARN, 3, "run-1")
    arrivals.visible = 3
    assert check(arrivals) is None and arrivals.started == []


def test_a_new_failure_beside_them_starts_one_run_as_the_alarm_would() -> None:
    arrivals = FakeArrivals(FakeStateStore())
    arrivals.state.record_left_in_place(QUEUE_ARN, 3, "run-1")
    arrivals.visible, arrivals.in_flight = 3, 1
    assert check(arrivals) is not None
    (started,) = arrivals.started
    assert started["trigger"] == "alarm" and started["alarmName"] == "stack-dlq-depth"
    assert "1 message(s) arrived" in started["alarmReason"]


def test_nothing_starts_while_a_run_holds_the_dlq_or_below_the_threshold() -> None:
    arrivals = FakeArrivals(FakeStateStore())
    arrivals.visible = 2
    arrivals.state.acquire_lock(QUEUE_ARN, "exec-1")
    assert check(arrivals) is None
    arrivals.state.release_lock(QUEUE_ARN, "exec-1")
    assert check(arrivals, threshold=5) is None
    assert check(arrivals, threshold=2) is not None


def test_the_handler_reads_its_settings_and_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "STATE_TABLE": "table",
        "DLQ_URL": DLQ_URL,
        "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:redrive",
        "ALARM_NAME": "stack-dlq-depth",
        "ALARM_THRESHOLD": "1",
    }.items():
        monkeypatch.setenv(name, value)
    adapters = FakeAdapters()
    adapters.dlq_arrivals.visible = 1
    result = handler.handler({"detail-type": "Scheduled Event"}, FakeLambdaContext(), adapters=adapters)
    assert result["started"] and result["depth"] == 1
