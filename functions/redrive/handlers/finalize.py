"""Finalize: outcomes, the DLQ put right, archives, report, notice, lock released.

Called by the state machine (``mode`` complete, dry-run or release after a caught
error) and, for an execution that was aborted or timed out, from abort.py.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from ..adapters import aws
from ..adapters.dlq import DeadLetterQueue
from ..adapters.state_table import StateTable
from ..adapters.store import S3Store
from ..core.finalize import Mode, finalize_run
from ..core.notice import completion_notice
from ..models import RunConfig, run_config_from_state
from ..settings import Settings

logger = Logger(service="stream-redrive")


def finish(
    run: RunConfig,
    mode: Mode,
    error: dict[str, Any] | None,
    settings: Settings,
    approval: dict[str, Any] | None = None,
) -> dict[str, Any]:
    store = S3Store(aws.client("s3"), run.bucket)
    result = finalize_run(
        mode=mode,
        run_id=run.run_id,
        prefix=run.prefix,
        bucket=run.bucket,
        store=store,
        dlq=DeadLetterQueue(aws.client("sqs"), run.dlq_url),
        error=error,
        redrive_settings=run.redrive.model_dump(by_alias=True),
        approval=approval,
    )
    counts = result.report["counts"]
    if settings.topic_arn:
        subject, body = completion_notice(run, result.report)
        aws.client("sns").publish(TopicArn=settings.topic_arn, Subject=subject, Message=body)
    metrics = Metrics(namespace="StreamRedrive", service="stream-redrive")
    for name in ("redriven", "discarded", "failed", "expired", "repaired", "unrecognised"):
        metrics.add_metric(name=f"Records{name.capitalize()}", unit=MetricUnit.Count, value=counts[name])
    metrics.flush_metrics()
    StateTable(aws.client("dynamodb"), settings.state_table).release_lock(run.dlq_url, run.execution_arn)
    logger.info("run finished", extra={"runId": run.run_id, "mode": mode, "counts": counts})
    return {"mode": mode, "counts": counts, "reportKey": f"{run.prefix}report.json"}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run = run_config_from_state(event["run"])
    error = event.get("error")
    if isinstance(error, dict) and isinstance(error.get("Cause"), str):
        with contextlib.suppress(json.JSONDecodeError):
            error = {**error, "Cause": json.loads(error["Cause"])}
    return finish(run, event.get("mode", "complete"), error, Settings.from_env(), event.get("approval"))
