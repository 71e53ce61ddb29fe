"""Finalize: outcomes, the DLQ put right, archives, report, notice, lock released.

Called by the state machine: ``mode`` complete, dry-run, rejected, or release after a
caught error.
"""

from __future__ import annotations

from typing import Any

from ..contracts.steps import FinalizeEvent
from ..contracts.vocab import FinalizeMode
from ..core.ports import Adapters
from ..core.redrive import explain_map_run_failure
from ..observability import logger, observed
from ..settings import FinalizeSettings
from .wiring import adapters_or_aws, finish


@observed
def handler(event: dict[str, Any], context: Any, adapters: Adapters | None = None) -> dict[str, Any]:
    ports = adapters_or_aws(adapters)
    settings = FinalizeSettings.from_env()
    step = FinalizeEvent.parse(event)
    if step.error:
        step.error = explain_map_run_failure(step.error, ports.run_data(step.run.bucket, step.run.run_id))
    error = step.error.to_json() if step.error else None
    approval = step.approval.model_dump(mode="json", by_alias=True, exclude_unset=True) if step.approval else None
    release = step.mode is FinalizeMode.RELEASE
    result = finish(ports, step.run, step.mode, settings, error, approval, leave_to_reconciler=release)
    if step.error:
        result.cause = step.error.one_line()
    logger.info("run finished", extra={"mode": step.mode, "counts": result.counts.to_json()})
    return result.to_json()
