"""Fetch: one shard's pointer ranges read back from the stream into S3."""

from __future__ import annotations

from typing import Any

from ..contracts.steps import FetchEvent
from ..core.fetch import fetch_group
from ..core.ports import Adapters
from ..observability import logger, observed
from .wiring import adapters_or_aws


@observed
def handler(event: dict[str, Any], context: Any, adapters: Adapters | None = None) -> dict[str, Any]:
    ports = adapters_or_aws(adapters)
    step = FetchEvent.parse(event)
    data = ports.run_data(step.run.bucket, step.run.run_id)
    source = data.group(step.group_id).source
    result = fetch_group(step.group_id, data, ports.shard_reader(source, step.run.fetch))
    logger.info("fetched", extra=result.to_json())
    return result.to_json()
