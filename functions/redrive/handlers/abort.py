"""Abort: an execution that was aborted, timed out or failed outside a Catch still gets
its messages back into the DLQ.

An abort skips every Catch, so the state machine cannot clean up after itself. This
function is the target of an EventBridge rule on the state machine's "Step Functions
Execution Status Change" events. It finds the run that Prepare recorded in S3 and, unless
Finalize already ran, releases it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from ..adapters import aws
from ..adapters.store import S3Store
from ..core.prepare import execution_name
from ..models import run_config_from_state
from ..settings import Settings
from .finalize import finish

logger = Logger(service="stream-redrive")
ENDED_BADLY = {"ABORTED", "TIMED_OUT", "FAILED"}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    detail = event.get("detail") or {}
    status = detail.get("status")
    if status not in ENDED_BADLY:
        return {"released": False, "why": f"status {status} needs no release"}
    settings = Settings.from_env()
    store = S3Store(aws.client("s3"), settings.bucket)
    prefix = f"runs/{execution_name(detail['executionArn'])}/"
    if not store.exists(f"{prefix}run.json"):
        return {"released": False, "why": "the run never took its DLQ lock: nothing to release"}
    if store.exists(f"{prefix}report.json"):
        return {"released": False, "why": "the run was already finalized"}
    run = run_config_from_state(store.get_json(f"{prefix}run.json"))
    error = {"Error": f"Execution{status.title().replace('_', '')}", "Cause": detail.get("cause") or status}
    logger.info("releasing run after the execution ended", extra={"runId": run.run_id, "status": status})
    result = finish(run, "release", error, settings)
    return {"released": True, **result}
