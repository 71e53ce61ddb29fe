"""Logging, tracing and metrics for every handler, in one place (Powertools).

Each handler is wrapped by :func:`observed`: the Lambda context and the run id (a
correlation id taken from the event) go on every log line, the invocation is traced, the
metrics it adds are flushed as EMF when it returns, and its duration (rounded up to the
millisecond, as Lambda bills it, times its memory size) is added to the run's lease in the
state table, so the run's report can say what its functions were billed.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from .contracts.paths import run_id_from_execution_arn

SERVICE = "stream-redrive"
NAMESPACE = "StreamRedrive"


class _CurrentStdout(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time of the write, not at import: on
    Lambda that is the same stream; the local runtime gives each invocation its own."""

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stdout

    @stream.setter
    def stream(self, value: object) -> None:
        pass


logger = Logger(service=SERVICE, logger_handler=_CurrentStdout())
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def run_id_of(event: Any) -> str | None:
    """The run an event belongs to: ``run.runId``, or the execution's name."""
    if not isinstance(event, dict):
        return None
    run = event.get("run")
    if isinstance(run, dict) and isinstance(run.get("runId"), str):
        return str(run["runId"])
    arn = event.get("executionArn") or (event.get("detail") or {}).get("executionArn")
    return run_id_from_execution_arn(arn) if isinstance(arn, str) and arn else None


class PowertoolsMetrics:
    """The MetricsSink port over the shared Powertools Metrics."""

    def count(self, name: str, value: int) -> None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def record_usage(event: Any, context: Any, adapters: Any, seconds: float) -> None:
    """Add this invocation's billed duration to its run's lease, if the event names a run and
    the function has the state table. Never fails the invocation: a usage not recorded is
    logged and the report counts one invocation fewer."""
    run_id = run_id_of(event)
    table = os.environ.get("STATE_TABLE")
    if not run_id or not table:
        return
    billed_ms = max(1, math.ceil(seconds * 1000))
    memory_mb = int(getattr(context, "memory_limit_in_mb", 0) or 0)
    try:
        if adapters is None:
            from .adapters.aws import AwsAdapters

            adapters = AwsAdapters()
        adapters.state_table(table).add_usage(run_id, billed_ms, billed_ms * memory_mb)
    except Exception as failure:
        logger.warning("the invocation's duration was not recorded: %s: %s", type(failure).__name__, failure)


def observed(handler: Handler) -> Handler:
    """Logger with the Lambda context and the run id, Tracer, and Metrics for one handler.

    Keyword arguments reach the handler (``adapters=`` in unit tests); Lambda passes none."""

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any, **ports: Any) -> Any:
        logger.set_correlation_id(run_id_of(event))
        started = time.monotonic()
        try:
            return handler(event, context, **ports)
        finally:
            record_usage(event, context, ports.get("adapters"), time.monotonic() - started)

    traced = tracer.capture_lambda_handler(wrapper, capture_response=False)
    with_context = logger.inject_lambda_context(traced, clear_state=True)
    return cast(Handler, metrics.log_metrics(with_context))
