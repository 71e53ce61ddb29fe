"""Plan: classify every fetched record, apply the run's rules, write batches to S3."""

from __future__ import annotations

from typing import Any

from ..adapters import aws
from ..adapters.store import S3Store
from ..core.plan_run import plan_run
from ..models import run_config_from_state
from ..settings import Settings


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run = run_config_from_state(event["run"])
    settings = Settings.from_env()
    return plan_run(run, S3Store(aws.client("s3"), run.bucket), settings.consumer_function)
