"""Redrive: one batch to the target, at most once per run, paced."""

from __future__ import annotations

from typing import Any

from ..adapters import aws
from ..adapters.state_table import StateTable
from ..adapters.store import S3Store
from ..adapters.targets import InvokeTarget, QueueTarget, RedriveTarget, StreamTarget
from ..core.redrive import redrive_batch
from ..models import RunConfig, run_config_from_state
from ..settings import Settings


def target_for(run: RunConfig, settings: Settings) -> RedriveTarget:
    if run.redrive.target == "invoke":
        return InvokeTarget(aws.client("lambda"), settings.region)
    if run.redrive.target == "stream":
        return StreamTarget(aws.client("kinesis"), aws.client("dynamodb"))
    return QueueTarget(aws.client("sqs"), run.redrive.queue_url or "")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run = run_config_from_state(event["run"])
    settings = Settings.from_env()
    return redrive_batch(
        run_id=run.run_id,
        prefix=run.prefix,
        batch_id=event["batchId"],
        store=S3Store(aws.client("s3"), run.bucket),
        claims=StateTable(aws.client("dynamodb"), settings.state_table),
        target=target_for(run, settings),
        concurrency=run.redrive.concurrency,
        rate_per_second=run.redrive.rate_per_second,
    )
