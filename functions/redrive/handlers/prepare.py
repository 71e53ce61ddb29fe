"""Prepare: the run input (alarm event or operator JSON) becomes the run configuration,
and the run takes the DLQ's lock (a second run on the same DLQ ends cleanly).

The configuration is also written to S3 (``runs/<runId>/run.json``) so that the abort
handler can release the run if the execution is stopped where no Catch applies.
"""

from __future__ import annotations

from typing import Any

from ..adapters import aws
from ..adapters.state_table import StateTable
from ..adapters.store import S3Store
from ..core.prepare import prepare_run
from ..settings import Settings


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    table = StateTable(aws.client("dynamodb"), settings.state_table)
    run = prepare_run(event.get("input"), event.get("executionArn", ""), settings, table)
    if run.locked:
        S3Store(aws.client("s3"), run.bucket).put_json(f"{run.prefix}run.json", run.to_state())
    return run.to_state()
