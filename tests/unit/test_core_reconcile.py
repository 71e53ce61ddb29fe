"""reconcile_run / reconcile_all: every ended run is settled and its lock freed; nothing else is touched."""

from __future__ import annotations

import pytest

from redrive.contracts.ledger import LeaseStatus, RunLease
from redrive.contracts.run import RunConfig
from redrive.contracts.vocab import FinalizeMode
from redrive.core.reconcile import RunReconciled, ended_error, reconcile_all, reconcile_run
from redrive.core.run_data import RunData
from redrive.core.settle import settle_run
from tests.fakes import FakeExecutions, FakeQueue, FakeStateStore, MemoryStore, memory_run
from tests.unit.test_core_finalize import Run, Settled, assert_nothing_lost, begin, run_config, standard_run

RUN = "run-1"


class Ledger:
    """Runs sharing one state table, one bucket and one DLQ, as the reconciler sees them."""

    def __init__(self) -> None:
        self.executions = FakeExecutions()
        self.state = FakeStateStore()
        self.store = MemoryStore()
        self.sink = FakeQueue()
        self.settled: list[tuple[str, FinalizeMode, object]] = []

    def data_of(self, lease: RunLease) -> RunData:
        return memory_run(lease.run_id, self.store)

    def settle(self, run: RunConfig, mode: FinalizeMode, error: dict[str, object]) -> object:
        self.settled.append((run.run_id, mode, error))
        return settle_run(
            run=run,
            mode=mode,
            data=memory_run(run.run_id, self.store),
            dlq=self.sink,
            state_store=self.state,
            now=2000.0,
            error=error,
        )

    def reconcile(self, run_id: str, cause: str | None = None) -> RunReconciled:
        lease = self.state.lease(run_id)
        assert lease is not None
        return reconcile_run(
            lease,
            executions=self.executions,
            state_store=self.state,
            data_of=self.data_of,
            settle=self.settle,
            cause=cause,
        )

    def reconcile_all(self) -> list[RunReconciled]:
        return reconcile_all(
            executions=self.executions, state_store=self.state, data_of=self.data_of, settle=self.settle
        )

    def status(self, run_id: str) -> LeaseStatus:
        lease = self.state.lease(run_id)
        assert lease is not None
        return lease.status


def adopt(run: Run) -> Ledger:
    """A ledger over a harness run: its state table, bucket and DLQ, and its run.json written."""
    ledger = Ledger()
    ledger.state, ledger.store, ledger.sink = run.state, run.store, run.dlq
    run.data.put(run.data.paths.run_config, run.config)
    return ledger


def ended(run: Run, status: str) -> Ledger:
    ledger = adopt(run)
    ledger.executions.statuses[run.config.execution_arn] = status
    return ledger


def test_a_running_execution_is_left_alone() -> None:
    run = standard_run().planned().redrive(only=1)
    ledger = ended(run, "RUNNING")
    result = ledger.reconcile(RUN)
    assert (result.outcome, result.status) == ("running", "RUNNING")
    assert ledger.settled == [] and run.dlq.sent == []
    assert ledger.status(RUN) is LeaseStatus.OPEN  # not even closed: the run goes on
    assert run.state.locks[run.config.dlq_arn] == run.config.execution_arn
    assert run.data.disposition() is None and run.data.report() is None


@pytest.mark.parametrize("status", ["ABORTED", "FAILED", "TIMED_OUT"])
def test_an_ended_execution_is_released_and_its_lock_freed(status: str) -> None:
    run = standard_run().planned().redrive(only=1)
    ledger = ended(run, status)
    result = ledger.reconcile(RUN, cause="an operator stopped it")
    assert result.outcome == "settled"
    [(run_id, mode, error)] = ledger.settled
    assert (run_id, mode) == (RUN, FinalizeMode.RELEASE)
    assert error == ended_error(status, "an operator stopped it")
    assert ledger.status(RUN) is LeaseStatus.SETTLED
    assert run.config.dlq_arn not in run.state.locks
    report = run.data.report()
    assert report is not None and report.completed and report.mode is FinalizeMode.RELEASE
    assert report.error == {"Error": f"Execution{status.title().replace('_', '')}", "Cause": "an operator stopped it"}
    assert run.dlq.sent
    assert_nothing_lost(run, run.dlq, Settled.of(report, run.data), FinalizeMode.RELEASE)


def test_an_aborted_run_that_collected_nothing_yet_is_settled() -> None:
    run = standard_run()
    ledger = ended(run, "ABORTED")
    assert ledger.reconcile(RUN).outcome == "settled"
    assert ledger.status(RUN) is LeaseStatus.SETTLED
    assert run.config.dlq_arn not in run.state.locks
    assert run.dlq.sent == [] and len(run.dlq.still_there()) == len(run.messages)


def test_a_run_without_run_json_is_settled_without_config() -> None:
    ledger = Ledger()
    config = run_config()
    begin(ledger.state, config)  # Prepare opened the lease and took the lock, then died
    ledger.executions.statuses[config.execution_arn] = "FAILED"
    result = ledger.reconcile(RUN)
    assert (result.outcome, result.why) == ("settled", "Prepare wrote no run")
    assert ledger.settled == [] and ledger.sink.sent == []
    assert ledger.status(RUN) is LeaseStatus.SETTLED
    assert config.dlq_arn not in ledger.state.locks
    assert ledger.state.released == [(config.dlq_arn, config.execution_arn)]


def test_an_already_settled_run_sends_nothing() -> None:
    run = standard_run().planned().redrive()
    run.finalize(FinalizeMode.COMPLETE)
    ledger = ended(run, "SUCCEEDED")
    sent_before = list(run.dlq.sent)
    result = ledger.reconcile(RUN)
    assert result.outcome == "already settled"
    assert ledger.settled == [] and run.dlq.sent == sent_before


def test_a_deferred_settle_is_reported_and_sends_nothing() -> None:
    run = standard_run(batch_size=1).planned()
    run.state.begin_batch(RUN, run.batches[0], now=1950.0)  # a Lambda still sends it
    ledger = ended(run, "ABORTED")
    result = ledger.reconcile(RUN)
    assert result.outcome == "deferred" and run.batches[0] in result.why
    assert run.dlq.sent == []
    assert ledger.status(RUN) is LeaseStatus.CLOSED  # fenced; settled by a later pass


def test_an_incomplete_settle_is_reported_and_the_next_pass_finishes() -> None:
    run = standard_run().planned()
    ledger = ended(run, "FAILED")
    original = run.dlq.send
    calls = {"n": 0}

    def send_failing_once(*args: object, **kwargs: object) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("SQS went away")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    run.dlq.send = send_failing_once  # type: ignore[method-assign]
    first = ledger.reconcile(RUN)
    assert first.outcome == "incomplete" and "ConnectionError" in first.why
    assert ledger.status(RUN) is LeaseStatus.CLOSED
    assert run.config.dlq_arn not in run.state.locks  # freed before the sends
    [second] = ledger.reconcile_all()
    assert second.outcome == "settled"
    report = run.data.report()
    assert report is not None and report.completed
    assert_nothing_lost(run, run.dlq, Settled.of(report, run.data), FinalizeMode.RELEASE)


def test_reconcile_all_settles_each_ended_run_and_skips_the_running_and_the_settled() -> None:
    ledger = Ledger()
    configs = {name: run_config(name) for name in ("run-a", "run-b", "run-c", "run-d")}
    for name, config in configs.items():
        config.dlq_arn = f"arn:aws:sqs:us-east-1:123456789012:dlq-{name}"
        begin(ledger.state, config)
        if name != "run-d":  # run-d's Prepare died before run.json
            memory_run(name, ledger.store).put(memory_run(name).paths.run_config, config)
    ledger.executions.statuses = {
        configs["run-a"].execution_arn: "ABORTED",
        configs["run-b"].execution_arn: "RUNNING",
        configs["run-c"].execution_arn: "SUCCEEDED",
        configs["run-d"].execution_arn: "FAILED",
    }
    ledger.state.mark_settled("run-c")  # its lock is left held on purpose: settled runs are not looked at
    outcomes = {r.run_id: r.outcome for r in ledger.reconcile_all()}
    assert outcomes == {"run-a": "settled", "run-b": "running", "run-d": "settled"}
    assert set(ledger.state.locks) == {configs["run-b"].dlq_arn, configs["run-c"].dlq_arn}
    assert [s[0] for s in ledger.settled] == ["run-a"]
    # Once settled, a second pass has only the running one left.
    assert [(r.run_id, r.outcome) for r in ledger.reconcile_all()] == [("run-b", "running")]
