"""Contracts of the state machine's input and of the run configuration it carries.

The run input is either the alarm event (shaped by the EventBridge rule's
InputTransformer) or an operator's JSON (``events/manual-start.json``). Both become a
:class:`RunConfig`, the only thing later steps read from the state.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import InvalidInput

Target = Literal["invoke", "stream", "queue"]


class _Strict(BaseModel):
    """Unknown fields and coerced types ("dryRun": "no", "maxMessages": "5") are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class RedriveInput(_Strict):
    target: Target | None = None
    rate_per_second: float | None = Field(default=None, alias="ratePerSecond", gt=0, le=10000)
    concurrency: int | None = Field(default=None, ge=1, le=40)
    batch_size: int | None = Field(default=None, alias="batchSize", ge=1, le=500)
    queue_url: str | None = Field(default=None, alias="queueUrl", min_length=1)
    function_name: str | None = Field(default=None, alias="functionName", min_length=1)


class ApprovalInput(_Strict):
    skip: bool | None = None
    timeout_seconds: int | None = Field(default=None, alias="timeoutSeconds", ge=1, le=7 * 24 * 3600)


class ManualInput(_Strict):
    """What an operator may put in the execution input (every field optional)."""

    trigger: Literal["manual", "alarm"] = "manual"
    dlq_url: str | None = Field(default=None, alias="dlqUrl", min_length=1)
    max_messages: int | None = Field(default=None, alias="maxMessages", ge=1, le=100000)
    dry_run: bool = Field(default=False, alias="dryRun")
    rules: list[dict[str, Any]] = Field(default_factory=list)
    redrive: RedriveInput = Field(default_factory=RedriveInput)
    approval: ApprovalInput = Field(default_factory=ApprovalInput)
    alarm_name: str | None = Field(default=None, alias="alarmName")
    alarm_time: str | None = Field(default=None, alias="alarmTime")
    alarm_reason: str | None = Field(default=None, alias="alarmReason")
    comment: str | None = None


class RedriveSettings(BaseModel):
    target: Target
    rate_per_second: float = Field(alias="ratePerSecond")
    concurrency: int
    batch_size: int = Field(alias="batchSize")
    queue_url: str | None = Field(default=None, alias="queueUrl")
    function_name: str | None = Field(default=None, alias="functionName")

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="after")
    def _queue_needs_url(self) -> RedriveSettings:
        if self.target == "queue" and not self.queue_url:
            raise ValueError("redrive.queueUrl is required when redrive.target is 'queue'")
        if self.target == "stream" and self.batch_size > 500:
            raise ValueError("redrive.batchSize is at most 500 for the stream target (PutRecords limit)")
        return self


class ApprovalSettings(BaseModel):
    skip: bool = False
    timeout_seconds: int = Field(alias="timeoutSeconds")

    model_config = ConfigDict(populate_by_name=True)


class RunConfig(BaseModel):
    """The run, as every step after Prepare sees it (``$.run`` in the state)."""

    run_id: str = Field(alias="runId")
    execution_arn: str = Field(alias="executionArn")
    trigger: Literal["manual", "alarm"]
    dlq_url: str = Field(alias="dlqUrl")
    bucket: str
    max_messages: int = Field(alias="maxMessages")
    dry_run: bool = Field(alias="dryRun")
    rules: list[dict[str, Any]]
    redrive: RedriveSettings
    approval: ApprovalSettings
    locked: bool = True
    lock_holder: str | None = Field(default=None, alias="lockHolder")
    comment: str | None = None

    model_config = ConfigDict(populate_by_name=True)

    def to_state(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")

    @property
    def prefix(self) -> str:
        return f"runs/{self.run_id}/"


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem: ``field.path: what is wrong``."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "input"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "is not a known field"
        lines.append(f"{where}: {message}")
    return "; ".join(lines)


def parse_manual_input(event: Any) -> ManualInput:
    if not isinstance(event, dict):
        raise InvalidInput(f"input: the execution input must be a JSON object, not {type(event).__name__}")
    try:
        return ManualInput.model_validate(event)
    except ValidationError as error:
        raise InvalidInput(describe_validation_error(error)) from None


def run_config_from_state(state: Any) -> RunConfig:
    try:
        return RunConfig.model_validate(state)
    except ValidationError as error:
        raise InvalidInput("run: " + describe_validation_error(error)) from None
