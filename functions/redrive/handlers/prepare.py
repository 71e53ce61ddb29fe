"""Prepare: the run input (alarm event or operator JSON) becomes the run configuration,
and the run takes the DLQ's lock (a second run on the same DLQ ends cleanly)."""

from __future__ import annotations

from typing import Any

from ..adapters import aws
from ..adapters.state_table import StateTable
from ..core.prepare import prepare_run
from ..settings import Settings


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    table = StateTable(aws.client("dynamodb"), settings.state_table)
    return prepare_run(event.get("input"), event.get("executionArn", ""), settings, table).to_state()
