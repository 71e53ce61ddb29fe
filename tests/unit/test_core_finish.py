"""finish_run: Release leaves a settle that must wait to the reconciler; Finalize does not."""

from __future__ import annotations

import pytest

from redrive.contracts.vocab import FinalizeMode
from redrive.core.finish import finish_run
from redrive.core.settle import SettleDeferred
from tests.fakes import FakeMetrics, FakeNotifier, FakeQueue, FakeStateStore, memory_run, open_run, run_config


def test_a_release_that_must_wait_for_a_batch_in_flight_is_left_to_the_reconciler() -> None:
    store = FakeStateStore()
    open_run(store, "run-1")
    store.begin_batch("run-1", "b00001", now=1_000.0)  # a Lambda still sending, no result yet
    run, data, dlq = run_config("run-1"), memory_run("run-1"), FakeQueue()
    arguments = {"data": data, "dlq": dlq, "notifier": FakeNotifier(), "metrics": FakeMetrics(), "state_store": store}

    with pytest.raises(SettleDeferred):
        finish_run(run, FinalizeMode.COMPLETE, now=1_010.0, **arguments)  # type: ignore[arg-type]

    output = finish_run(run, FinalizeMode.RELEASE, now=1_010.0, leave_to_reconciler=True, **arguments)  # type: ignore[arg-type]
    assert output.settled is False
    assert dlq.sent == [] and data.report() is None, "nothing settled yet: the reconciler will"
    assert store.leases["run-1"].status == "closed", "but the run is fenced"
