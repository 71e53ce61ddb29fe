"""Redrive: one batch to the target in its slot of the run's pace, at most once per run."""

from __future__ import annotations

from typing import Any

from ..contracts.steps import RedriveEvent
from ..core.ports import Adapters
from ..core.redrive import redrive_batch
from ..observability import logger, observed
from ..settings import RedriveSettings
from .wiring import adapters_or_aws


@observed
def handler(event: dict[str, Any], context: Any, adapters: Adapters | None = None) -> dict[str, Any]:
    ports = adapters_or_aws(adapters)
    settings = RedriveSettings.from_env()
    step = RedriveEvent.parse(event)
    run = step.run
    table = ports.state_table(settings.state_table)
    result = redrive_batch(
        run=run,
        batch_id=step.batch_id,
        slot_start=step.slot.slot_start,
        data=ports.run_data(run.bucket, run.run_id),
        claims=table,
        limiter=table,
        target=ports.target(run.redrive.target, run.redrive.queue_url, settings.region),
    )
    logger.info("redrove batch", extra=result.to_json())
    return result.to_json()
