"""Contracts of the state machine's input and of the run configuration it carries.

The run input is either the alarm event (shaped by the EventBridge rule's
InputTransformer) or an operator's JSON (``events/manual-start.json``). Both become a
:class:`RunConfig`, the only thing later steps read from the state.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import InvalidInput
from .paths import RunPaths
from .vocab import Ordering, Target, Trigger


class _Strict(BaseModel):
    """Unknown fields and coerced types ("dryRun": "no", "maxMessages": "5") are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class RedriveInput(_Strict):
    target: Target | None = Field(default=None, strict=False)  # an enum from its JSON string
    rate_per_second: float | None = Field(default=None, alias="ratePerSecond", gt=0, le=10000)
    concurrency: int | None = Field(default=None, ge=1, le=40)
    batch_size: int | None = Field(default=None, alias="batchSize", ge=1, le=500)
    queue_url: str | None = Field(default=None, alias="queueUrl", min_length=1)
    function_name: str | None = Field(default=None, alias="functionName", min_length=1)
    ordering: Ordering | None = Field(default=None, strict=False)


S3_FAILURE_PREFIX = "aws/lambda/"
"""Where an event source mapping's S3 on-failure destination writes: objects named
``aws/lambda/<ESM UUID>/<shardId>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<random UUID>``."""


class S3SourceInput(_Strict):
    """An S3 on-failure destination to read instead of the DLQ."""

    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = Field(default=S3_FAILURE_PREFIX, max_length=512)


class SourceInput(_Strict):
    s3: S3SourceInput


class FetchInput(_Strict):
    """How hard Fetch may read a shard. The live consumer reads the same shards, and a shard
    serves at most 5 GetRecords calls a second (Kinesis): Fetch takes 2 by default."""

    get_records_per_second: int | None = Field(default=None, alias="getRecordsPerSecondPerShard", ge=1, le=5)
    throttle_budget_seconds: int | None = Field(default=None, alias="throttleBudgetSeconds", ge=1, le=40)


# The longest a run waits for a decision, from the run input or the stack's default (the
# template's ApprovalTimeoutSeconds MaxValue): the DLQ lock's lease outlasts it.
LONGEST_APPROVAL_WAIT_SECONDS = 7 * 24 * 3600


class ApprovalInput(_Strict):
    skip: bool | None = None
    timeout_seconds: int | None = Field(default=None, alias="timeoutSeconds", ge=1, le=LONGEST_APPROVAL_WAIT_SECONDS)


class ManualInput(_Strict):
    """What an operator may put in the execution input (every field optional)."""

    trigger: Trigger = Field(default=Trigger.MANUAL, strict=False)
    dlq_url: str | None = Field(default=None, alias="dlqUrl", min_length=1)
    source: SourceInput | None = None
    max_messages: int | None = Field(default=None, alias="maxMessages", ge=1, le=100000)
    dry_run: bool = Field(default=False, alias="dryRun")
    rules: list[dict[str, Any]] = Field(default_factory=list)
    redrive: RedriveInput = Field(default_factory=RedriveInput)
    approval: ApprovalInput = Field(default_factory=ApprovalInput)
    fetch: FetchInput = Field(default_factory=FetchInput)
    alarm_name: str | None = Field(default=None, alias="alarmName")
    alarm_time: str | None = Field(default=None, alias="alarmTime")
    alarm_reason: str | None = Field(default=None, alias="alarmReason")
    comment: str | None = None


NO_DYNAMODB_STREAM_TARGET = (
    "the stream target cannot redrive DynamoDB Streams records: a DynamoDB stream takes no records, it writes "
    "them for item changes, and writing the old NewImage again either changes nothing (DynamoDB then writes no "
    "stream record, so nothing reaches the consumer) or overwrites newer data with stale data; use the invoke "
    "or queue target"
)


class RedriveSettings(BaseModel):
    target: Target
    rate_per_second: float = Field(alias="ratePerSecond")
    concurrency: int
    batch_size: int = Field(alias="batchSize")
    # True when batchSize is the stack's default (the input named none): an invoked consumer
    # then gets batches no larger than its own mapping sent (core/planning.py).
    batch_size_is_default: bool = Field(default=False, alias="batchSizeIsDefault")
    queue_url: str | None = Field(default=None, alias="queueUrl")
    function_name: str | None = Field(default=None, alias="functionName")
    ordering: Ordering = Ordering.ORDERED

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="after")
    def _queue_needs_url(self) -> RedriveSettings:
        if self.target is Target.QUEUE and not self.queue_url:
            raise ValueError("redrive.queueUrl is required when redrive.target is 'queue'")
        if self.target is Target.STREAM and self.batch_size > 500:
            raise ValueError("redrive.batchSize is at most 500 for the stream target (PutRecords limit)")
        return self


class FetchSettings(BaseModel):
    """Fetch's GetRecords pace per shard, and how long a read may wait out throttles in all
    (within the Fetch function's 60 s timeout; then ShardReadThrottled, and the run releases)."""

    get_records_per_second: int = Field(default=2, alias="getRecordsPerSecondPerShard")
    throttle_budget_seconds: int = Field(default=30, alias="throttleBudgetSeconds")

    model_config = ConfigDict(populate_by_name=True)


class ApprovalSettings(BaseModel):
    skip: bool = False
    timeout_seconds: int = Field(alias="timeoutSeconds")

    model_config = ConfigDict(populate_by_name=True)


class S3Source(BaseModel):
    """A run's S3 source: the on-failure destination's bucket and the prefix it reads.

    ``lock_prefix`` is the stack's whole failure prefix (FailureBucketPrefix): every
    S3-sourced run of the stack takes the same lock, whatever narrower prefix it reads, so two
    runs never hold the same object (``aws/lambda/`` and ``aws/lambda/<uuid>/`` overlap)."""

    bucket: str
    prefix: str
    lock_prefix: str = Field(alias="lockPrefix")

    model_config = ConfigDict(populate_by_name=True)

    @property
    def arn(self) -> str:
        """What the run locks: the objects under the stack's failure prefix."""
        return f"arn:aws:s3:::{self.bucket}/{self.lock_prefix}"


class RunSource(BaseModel):
    s3: S3Source


class RunConfig(BaseModel):
    """The run, as every step after Prepare sees it (``$.run`` in the state)."""

    run_id: str = Field(alias="runId")
    execution_arn: str = Field(alias="executionArn")
    trigger: Trigger
    dlq_url: str = Field(alias="dlqUrl")
    dlq_arn: str = Field(alias="dlqArn")
    bucket: str
    max_messages: int = Field(alias="maxMessages")
    dry_run: bool = Field(alias="dryRun")
    rules: list[dict[str, Any]]
    redrive: RedriveSettings
    approval: ApprovalSettings
    source: RunSource | None = None  # None: the DLQ is the source (and where messages go back)
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    locked: bool = True
    lock_holder: str | None = Field(default=None, alias="lockHolder")
    comment: str | None = None

    model_config = ConfigDict(populate_by_name=True)

    def to_state(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")

    @property
    def paths(self) -> RunPaths:
        return RunPaths(self.run_id)

    @property
    def source_label(self) -> str:
        """Where the run's messages come from, for people: the DLQ's URL, or the S3 prefix."""
        return f"s3://{self.source.s3.bucket}/{self.source.s3.prefix}" if self.source else self.dlq_url

    @property
    def lock_key(self) -> str:
        """What one run at a time may collect from: the DLQ's ARN, or the S3 source's prefix."""
        return self.source.s3.arn if self.source else self.dlq_arn


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


__all__ = [
    "NO_DYNAMODB_STREAM_TARGET",
    "ApprovalInput",
    "ApprovalSettings",
    "FetchInput",
    "FetchSettings",
    "ManualInput",
    "RedriveInput",
    "RedriveSettings",
    "RunConfig",
    "RunSource",
    "S3Source",
    "S3SourceInput",
    "SourceInput",
    "describe_validation_error",
    "parse_manual_input",
    "run_config_from_state",
]
