"""Collect: DLQ messages into the run's S3 manifest, then grouped for the fetch."""

from __future__ import annotations

from typing import Any

from ..adapters import aws
from ..adapters.dlq import DeadLetterQueue
from ..adapters.store import S3Store
from ..core.collect import collect
from ..models import run_config_from_state


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run = run_config_from_state(event["run"])
    store = S3Store(aws.client("s3"), run.bucket)
    dlq = DeadLetterQueue(aws.client("sqs"), run.dlq_url)
    return collect(dlq, store, run.prefix, run.max_messages).to_state()
