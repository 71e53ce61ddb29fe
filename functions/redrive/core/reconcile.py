"""The reconciler: every run whose execution has ended, whatever its status, gets its
messages back into the DLQ and its lock freed, without depending on a Catch, on the abort
event arriving in time, or on any handler having succeeded once.

It runs on each "Execution Status Change" event (for that execution) and on a schedule
(for every run not settled yet).
"""

from __future__ import annotations

from collections.abc import Callable

from ..contracts.base import Contract
from ..contracts.ledger import LeaseStatus, RunLease
from ..contracts.run import RunConfig
from ..contracts.vocab import FinalizeMode
from ..errors import SettleIncomplete
from .ports import ExecutionStatus, StateStore
from .run_data import RunData
from .settle import SettleDeferred, settle_without_config

Settle = Callable[[RunConfig, FinalizeMode, dict[str, object]], object]


class RunReconciled(Contract):
    run_id: str
    status: str
    outcome: str  # settled | deferred | incomplete | running | already settled
    why: str = ""


def ended_error(status: str, cause: str | None = None) -> dict[str, object]:
    """The error the report records: ``ExecutionAborted``, ``ExecutionTimedOut``, ..."""
    return {"Error": f"Execution{status.title().replace('_', '')}", "Cause": cause or status}


def reconcile_run(
    lease: RunLease,
    *,
    executions: ExecutionStatus,
    state_store: StateStore,
    data_of: Callable[[RunLease], RunData],
    settle: Settle,
    cause: str | None = None,
) -> RunReconciled:
    if lease.status is LeaseStatus.SETTLED:  # the usual end: Finalize settled it; nothing to ask
        return RunReconciled(run_id=lease.run_id, status="", outcome="already settled")
    status = executions.status(lease.execution_arn)
    if status == "RUNNING":
        return RunReconciled(run_id=lease.run_id, status=status, outcome="running")
    run = data_of(lease).run_config()
    if run is None:
        settle_without_config(lease, state_store)
        return RunReconciled(run_id=lease.run_id, status=status, outcome="settled", why="Prepare wrote no run")
    try:
        settle(run, FinalizeMode.RELEASE, ended_error(status, cause))
    except SettleDeferred as waiting:
        return RunReconciled(run_id=lease.run_id, status=status, outcome="deferred", why=str(waiting))
    except SettleIncomplete as stopped:
        return RunReconciled(run_id=lease.run_id, status=status, outcome="incomplete", why=str(stopped))
    return RunReconciled(run_id=lease.run_id, status=status, outcome="settled")


def reconcile_all(
    *,
    executions: ExecutionStatus,
    state_store: StateStore,
    data_of: Callable[[RunLease], RunData],
    settle: Settle,
) -> list[RunReconciled]:
    return [
        reconcile_run(lease, executions=executions, state_store=state_store, data_of=data_of, settle=settle)
        for lease in state_store.unsettled_runs()
    ]
