"""Reconcile: every run whose execution has ended gets its messages back and its lock freed.

The target of two EventBridge rules: the state machine's "Step Functions Execution Status
Change" events (that execution's run, at once) and a schedule (every run not settled
yet: an event that never came, a settle that was deferred or stopped half-way).
"""

from __future__ import annotations

import time
from typing import Any

from ..contracts.ledger import RunLease
from ..contracts.paths import run_id_from_execution_arn
from ..contracts.steps import ExecutionStatusChange
from ..core.ports import Adapters
from ..core.reconcile import reconcile_all, reconcile_run
from ..observability import logger, observed
from ..settings import ReconcileSettings
from .wiring import adapters_or_aws, finish


@observed
def handler(event: dict[str, Any], context: Any, adapters: Adapters | None = None) -> dict[str, Any]:
    ports = adapters_or_aws(adapters)
    settings = ReconcileSettings.from_env()
    state = ports.state_table(settings.state_table)
    common: dict[str, Any] = {
        "executions": ports.executions(),
        "state_store": state,
        "data_of": lambda lease: ports.run_data(lease.bucket, lease.run_id),
        "settle": lambda run, mode, error: finish(ports, run, mode, settings, error),
    }
    if event.get("detail-type") == "Step Functions Execution Status Change":
        detail = ExecutionStatusChange.parse(event).detail
        lease: RunLease | None = state.lease(run_id_from_execution_arn(detail.execution_arn))
        if lease is None:
            return {"reconciled": [], "why": "the execution opened no run"}
        results = [reconcile_run(lease, cause=detail.cause, **common)]
    else:
        results = reconcile_all(**common)
    for result in results:
        logger.info("reconciled", extra=result.to_json())
    return {"reconciled": [r.to_json() for r in results], "at": int(time.time())}
