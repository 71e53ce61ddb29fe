"""Plan: classify every fetched record, apply the run's rules, write batches to S3."""

from __future__ import annotations

from typing import Any

from ..contracts.steps import RunStep
from ..core.plan_run import plan_run
from ..core.ports import Adapters
from ..observability import logger, observed
from ..settings import PlanSettings
from .wiring import adapters_or_aws


@observed
def handler(event: dict[str, Any], context: Any, adapters: Adapters | None = None) -> dict[str, Any]:
    ports = adapters_or_aws(adapters)
    settings = PlanSettings.from_env()
    run = RunStep.parse(event).run
    result = plan_run(
        run,
        ports.run_data(run.bucket, run.run_id),
        settings.consumer_function,
        settings.rule_modules,
        mappings=ports.consumer_mappings(),
    )
    logger.info("planned", extra=result.to_json())
    return result.to_json()
