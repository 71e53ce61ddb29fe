"""Collect: DLQ messages (or, for an S3-sourced run, the failure destination's objects)
into the run's S3 manifest, then grouped for the fetch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..contracts.steps import RunStep
from ..contracts.vocab import Trigger
from ..core.collect import CollectResult, collect
from ..core.failure_objects import collect_failure_objects
from ..core.ports import Adapters
from ..observability import logger, observed
from ..settings import StateTableSettings
from .wiring import adapters_or_aws


def remaining_seconds(context: Any) -> Callable[[], float] | None:
    """The function's time left, from the Lambda context (None without one: a test)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return lambda: float(remaining()) / 1000


@observed
def handler(event: dict[str, Any], context: Any, adapters: Adapters | None = None) -> dict[str, Any]:
    ports = adapters_or_aws(adapters)
    settings = StateTableSettings.from_env()
    run = RunStep.parse(event).run
    data, state = ports.run_data(run.bucket, run.run_id), ports.state_table(settings.state_table)
    result: CollectResult
    if run.source is not None:
        source = run.source.s3
        result = collect_failure_objects(ports.failure_objects(source.bucket), data, state, source, run.max_messages)
    else:
        by_alarm = run.trigger is Trigger.ALARM
        result = collect(
            ports.dlq(run.dlq_url),
            data,
            state,
            run.max_messages,
            time_left=remaining_seconds(context),
            leave_returned=by_alarm,
            record_left=(lambda count: state.record_left_in_place(run.dlq_arn, count, run.run_id))
            if by_alarm
            else None,
        )
    logger.info("collected", extra=result.to_json())
    return result.to_json()
