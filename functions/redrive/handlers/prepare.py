"""Prepare: the run input (alarm event or operator JSON) becomes the run configuration,
and the run takes the DLQ's lock (a second run on the same DLQ ends cleanly).

The configuration is also written to S3 (``runs/<runId>/run.json``) so that the abort
handler can release the run if the execution is stopped where no Catch applies.
"""

from __future__ import annotations

import time
from typing import Any

from ..contracts.steps import PrepareEvent
from ..core.ports import Adapters
from ..core.prepare import prepare_run
from ..observability import logger, observed
from ..settings import PrepareSettings
from .wiring import adapters_or_aws


@observed
def handler(event: dict[str, Any], context: Any, adapters: Adapters | None = None) -> dict[str, Any]:
    ports = adapters_or_aws(adapters)
    settings = PrepareSettings.from_env()
    if settings.run_defaults_parameter:
        defaults = ports.run_defaults(settings.run_defaults_parameter).get()
        settings = settings.model_copy(update={"run_defaults": defaults})
    step = PrepareEvent.parse(event)
    state = ports.state_table(settings.state_table)
    run = prepare_run(step.input, step.execution_arn, settings, state, ports.queue_info(), now=time.time())
    if run.locked:
        ports.run_data(run.bucket, run.run_id).put(run.paths.run_config, run)
    logger.info("prepared", extra={"locked": run.locked, "lockHolder": run.lock_holder, "target": run.redrive.target})
    return run.to_state()
