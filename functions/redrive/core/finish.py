"""The end of every run, whichever way it ends: settle, tell the operators, count.

Called by the Finalize step (complete, dry run, rejected, or release after a caught
error) and by the reconciler for an execution that ended outside any Catch.
"""

from __future__ import annotations

import logging
from typing import Any

from ..contracts.report import FinalizeOutput, ReportCounts
from ..contracts.run import RunConfig
from ..contracts.vocab import FinalizeMode
from ..errors import SettleIncomplete
from .notice import completion_notice
from .ports import ExecutionHistory, FailureObjects, MessageSink, MetricsSink, Notifier, StateStore
from .run_data import RunData
from .settle import SettleDeferred, settle_run

COUNTED = ("redriven", "discarded", "failed", "expired", "repaired", "unrecognised")
log = logging.getLogger(__name__)


def finish_run(
    run: RunConfig,
    mode: FinalizeMode,
    *,
    data: RunData,
    dlq: MessageSink,
    notifier: Notifier | None,
    metrics: MetricsSink,
    state_store: StateStore,
    now: float,
    error: Any = None,
    approval: dict[str, Any] | None = None,
    leave_to_reconciler: bool = False,
    objects: FailureObjects | None = None,
    history: ExecutionHistory | None = None,
) -> FinalizeOutput:
    """Settle the run, notify, count. With ``leave_to_reconciler`` (Release, after a caught
    error), a settle that must wait (a batch still in flight) or stopped (the DLQ refused a
    send) is left to the reconciler instead of failing this step: the run's messages are in
    its ledger, and the execution ends with the error that brought it here."""
    try:
        report = settle_run(
            run=run,
            mode=mode,
            data=data,
            dlq=dlq,
            state_store=state_store,
            now=now,
            error=error,
            approval=approval,
            objects=objects,
            history=history,
        )
    except (SettleDeferred, SettleIncomplete) as pending:
        if not leave_to_reconciler:
            raise
        log.warning("the reconciler will finish settling run %s: %s", run.run_id, pending)
        return FinalizeOutput(mode=mode, counts=ReportCounts(), report_key=data.paths.report, settled=False)
    if notifier is not None and report.counts.dlq_messages > 0:  # a run that held nothing tells nobody
        subject, body = completion_notice(run, report)
        try:
            notifier.publish(subject, body)
        except Exception as failure:  # the run is settled; a notice that cannot go out must not undo that
            log.warning("the completion notice was not published: %s: %s", type(failure).__name__, failure)
    for name in COUNTED:
        metrics.count(f"Records{name.capitalize()}", getattr(report.counts, name))
    return FinalizeOutput(mode=report.mode, counts=report.counts, report_key=data.paths.report)
