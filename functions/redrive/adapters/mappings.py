"""The consumers' event source mappings (ListEventSourceMappings), read by Plan: an invoke
of the redrive carries no more records than the consumer's own mapping would send it."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import aws_error_code

log = logging.getLogger(__name__)


def _unqualified(function: str) -> str:
    """The function's name, from a name, a name with a qualifier, or an ARN with or without one."""
    if function.startswith("arn:"):
        parts = function.split(":")
        return parts[6] if len(parts) > 6 else function
    return function.split(":", 1)[0]


class LambdaMappings:
    def __init__(self, lambda_client: Any) -> None:
        self.client = lambda_client
        self._known: dict[tuple[str, str], int | None] = {}

    def batch_size(self, function: str, stream_arn: str) -> int | None:
        key = (function, stream_arn)
        if key not in self._known:
            self._known[key] = self._read(function, stream_arn)
        return self._known[key]

    def _read(self, function: str, stream_arn: str) -> int | None:
        # Listed by stream alone and matched here by the function's name: ListEventSourceMappings
        # takes FunctionName as a name or an ARN, and a mapping's FunctionArn may be qualified.
        name = _unqualified(function)
        sizes: list[int] = []
        kwargs: dict[str, Any] = {"EventSourceArn": stream_arn}
        try:
            while True:
                page = self.client.list_event_source_mappings(**kwargs)
                sizes.extend(
                    int(mapping["BatchSize"])
                    for mapping in page.get("EventSourceMappings", [])
                    if _unqualified(str(mapping.get("FunctionArn", ""))) == name and mapping.get("BatchSize")
                )
                marker = page.get("NextMarker")
                if not marker:
                    break
                kwargs["Marker"] = marker
        except (ClientError, BotoCoreError) as error:
            # The run goes on without it: Plan falls back to the pointers' batch sizes.
            log.warning(
                "could not read the event source mappings of %s on %s: %s",
                function,
                stream_arn,
                aws_error_code(error) or type(error).__name__,
            )
            return None
        return max(sizes) if sizes else None
