"""Rehearsal scenarios: what the stream holds, how the consumer is set up, and the run.

A scenario file is JSON (see events/scenarios/). Problems with it are reported as
:class:`ScenarioError` naming the file and the field, before anything starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ScenarioError(Exception):
    """The scenario file is missing, not JSON, or not a valid scenario."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Source(_Strict):
    type: Literal["kinesis", "dynamodb"]
    shards: int = Field(default=1, ge=1, le=16)


class Consumer(_Strict):
    batch_size: int = Field(default=10, alias="batchSize", ge=1, le=10000)
    maximum_retry_attempts: int = Field(default=2, alias="maximumRetryAttempts", ge=-1, le=10000)
    bisect_batch_on_function_error: bool = Field(default=True, alias="bisectBatchOnFunctionError")
    report_batch_item_failures: bool = Field(default=False, alias="reportBatchItemFailures")
    maximum_record_age_in_seconds: int = Field(default=-1, alias="maximumRecordAgeInSeconds", ge=-1, le=604800)


class Record(_Strict):
    partition_key: str | None = Field(default=None, alias="partitionKey", min_length=1, max_length=256)
    data: Any = None
    text: str | None = None
    item: dict[str, Any] | None = None


class Scenario(_Strict):
    description: str = ""
    source: Source
    consumer: Consumer = Field(default_factory=Consumer)
    records: list[Record] = Field(min_length=1)
    trim: list[int] = Field(default_factory=list)
    extra_dlq_messages: list[str] = Field(default_factory=list, alias="extraDlqMessages")
    run: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _records_match_source(self) -> Scenario:
        for index, record in enumerate(self.records):
            if self.source.type == "dynamodb":
                if record.item is None:
                    raise ValueError(f"records[{index}]: a DynamoDB scenario record needs 'item'")
                if not isinstance(record.item.get("pk"), str):
                    raise ValueError(f"records[{index}].item: needs a string 'pk' (the table's partition key)")
            else:
                if record.item is not None:
                    raise ValueError(f"records[{index}]: 'item' is for DynamoDB scenarios; use 'data' or 'text'")
                if record.partition_key is None:
                    raise ValueError(f"records[{index}]: needs 'partitionKey'")
                if (record.data is None) == (record.text is None):
                    raise ValueError(f"records[{index}]: give exactly one of 'data' or 'text'")
        for position in self.trim:
            if not 0 <= position < len(self.records):
                raise ValueError(f"trim: {position} is not a record index (0..{len(self.records) - 1})")
        return self

    def template_parameters(self) -> dict[str, str]:
        c = self.consumer
        return {
            "ExampleSourceType": self.source.type,
            "ExampleShardCount": str(self.source.shards),
            "ExampleBatchSize": str(c.batch_size),
            "ExampleMaximumRetryAttempts": str(c.maximum_retry_attempts),
            "ExampleMaximumRecordAgeInSeconds": str(c.maximum_record_age_in_seconds),
            "ExampleBisectBatchOnFunctionError": str(c.bisect_batch_on_function_error).lower(),
            "ExampleReportBatchItemFailures": str(c.report_batch_item_failures).lower(),
        }


def load_scenario(path: Path) -> Scenario:
    if not path.is_file():
        raise ScenarioError(f"{path}: no such scenario file")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file (a scenario is UTF-8 JSON)") from None
    except json.JSONDecodeError as error:
        raise ScenarioError(f"{path}: not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    try:
        return Scenario.model_validate(raw)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(p) for p in item["loc"]) or "scenario"
            message = "is not a known field" if item["type"] == "extra_forbidden" else item["msg"]
            problems.append(f"{where}: {message}")
        raise ScenarioError(f"{path}: " + "; ".join(problems)) from None
