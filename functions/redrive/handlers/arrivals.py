"""DlqArrivals: on a schedule, a run for failures that arrived while the alarm stayed in ALARM."""

from __future__ import annotations

from typing import Any

from ..core.arrivals import start_run_for_new_failures
from ..core.ports import Adapters
from ..observability import logger, observed
from ..settings import ArrivalsSettings
from .wiring import adapters_or_aws


@observed
def handler(event: dict[str, Any], context: Any, adapters: Adapters | None = None) -> dict[str, Any]:
    ports = adapters_or_aws(adapters)
    settings = ArrivalsSettings.from_env()
    checked = start_run_for_new_failures(
        ports.arrivals(settings.state_table, settings.state_machine_arn),
        settings.dlq_url,
        settings.alarm_threshold,
        settings.alarm_name,
    )
    logger.info("arrivals checked", extra=checked.to_json())
    return checked.to_json()
