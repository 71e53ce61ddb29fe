"""The base every contract model shares: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

import json
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

SequenceNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,129}$")]
"""A Kinesis or DynamoDB Streams sequence number: a decimal string of at most 129 digits
(AWS documents the pattern ``0|([1-9]\\d{0,128})``; leading zeros are accepted here)."""


class Contract(BaseModel):
    """A model of the workflow's state or of an S3 artefact.

    Fields are camelCase in JSON (``streamArn``) and snake_case in Python; unknown fields
    are ignored (an artefact written by a newer version still reads)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def parse(cls, data: Any) -> Self:
        return cls.model_validate(data)


def validation_summary(error: ValidationError, limit: int = 3) -> str:
    """One line naming the first problems: ``field.path: what is wrong``."""
    parts = []
    for item in error.errors()[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "value"
        parts.append(f"{where}: {item['msg']}")
    more = len(error.errors()) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
