"""Each function's environment, read into a validated model at the edge.

Every variable a function reads is a field here; a required one that is missing or empty
fails the invocation at once with a :class:`ConfigurationError` naming it (a deployment
problem, never reported as bad input). Read per invocation (a handful of lookups): the
local runtime runs several functions in one process, each with its own environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .contracts.run import LONGEST_APPROVAL_WAIT_SECONDS
from .contracts.vocab import Target
from .errors import ConfigurationError
from .rules.registry import parse_module_list

Required = Field(min_length=1)


class FunctionSettings(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")

    region: str = Field(default="us-east-1", alias="AWS_REGION")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        env = os.environ if env is None else env
        values = {name: value for name, value in env.items() if value != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = []
            for item in error.errors():
                name = str(item["loc"][0]) if item["loc"] else "?"
                what = "is not set" if item["type"] == "missing" else f"is invalid: {item['msg']}"
                problems.append(f"{name} {what}")
            raise ConfigurationError(f"{cls.__name__}: " + "; ".join(problems)) from None


class StateTableSettings(FunctionSettings):
    state_table: str = Field(alias="STATE_TABLE", min_length=1)


class RuleSettings(FunctionSettings):
    """Where Python rules come from: the modules the template's RuleModules lists."""

    rule_modules: tuple[str, ...] = Field(default=(), alias="RULE_MODULES")

    @field_validator("rule_modules", mode="before")
    @classmethod
    def _split_modules(cls, value: object) -> object:
        return parse_module_list(value) if isinstance(value, str) else value


class PrepareSettings(StateTableSettings, RuleSettings):
    dlq_url: str = Field(default="", alias="DLQ_URL")
    bucket: str = Field(alias="RUN_BUCKET", min_length=1)
    failure_bucket: str = Field(default="", alias="FAILURE_BUCKET")  # an S3 on-failure destination runs may read
    failure_prefix: str = Field(default="aws/lambda/", alias="FAILURE_PREFIX")  # ... under this prefix only
    default_max_messages: int = Field(default=1000, alias="DEFAULT_MAX_MESSAGES", ge=1)
    default_rate_per_second: float = Field(default=50, alias="DEFAULT_RATE_PER_SECOND", gt=0)
    default_concurrency: int = Field(default=2, alias="DEFAULT_CONCURRENCY", ge=1)
    default_batch_size: int = Field(default=500, alias="DEFAULT_REDRIVE_BATCH_SIZE", ge=1)
    default_target: Target = Field(default=Target.INVOKE, alias="DEFAULT_TARGET")
    source_stream_arn: str = Field(default="", alias="SOURCE_STREAM_ARN")
    # The SSM parameter holding the run defaults (the handler reads it into run_defaults).
    run_defaults_parameter: str = Field(default="", alias="RUN_DEFAULTS_PARAMETER")
    run_defaults: str = "{}"
    approval_timeout_seconds: int = Field(
        default=86400, alias="APPROVAL_TIMEOUT_SECONDS", ge=1, le=LONGEST_APPROVAL_WAIT_SECONDS
    )
    allow_skip_approval: bool = Field(default=False, alias="ALLOW_SKIP_APPROVAL")
    # The Redrive function's Timeout: a batch's pacing pause must fit in it (Prepare checks).
    redrive_timeout_seconds: int = Field(default=300, alias="REDRIVE_TIMEOUT_SECONDS", ge=61, le=900)
    # What a run input may override, as the template's parameters grant it in IAM.
    consumer_function: str = Field(default="", alias="CONSUMER_FUNCTION_ARN")
    allowed_dlq_arns: tuple[str, ...] = Field(default=(), alias="ALLOWED_DLQ_ARNS")
    allowed_consumer_function_arns: tuple[str, ...] = Field(default=(), alias="ALLOWED_CONSUMER_FUNCTION_ARNS")
    redrive_queue_arn: str = Field(default="", alias="REDRIVE_QUEUE_ARN")

    @field_validator("allowed_dlq_arns", "allowed_consumer_function_arns", mode="before")
    @classmethod
    def _split_arns(cls, value: object) -> object:
        return tuple(a.strip() for a in value.split(",") if a.strip()) if isinstance(value, str) else value


class PlanSettings(RuleSettings):
    consumer_function: str | None = Field(default=None, alias="CONSUMER_FUNCTION_ARN")


class RedriveSettings(StateTableSettings):
    pass


class FinalizeSettings(StateTableSettings):
    topic_arn: str | None = Field(default=None, alias="TOPIC_ARN")


class ReconcileSettings(FinalizeSettings):
    pass


class ArrivalsSettings(StateTableSettings):
    dlq_url: str = Field(alias="DLQ_URL", min_length=1)
    state_machine_arn: str = Field(alias="STATE_MACHINE_ARN", min_length=1)
    alarm_name: str = Field(alias="ALARM_NAME", min_length=1)
    alarm_threshold: int = Field(default=1, alias="ALARM_THRESHOLD", ge=1)


class SigningSettings(StateTableSettings):
    approval_secret_arn: str = Field(alias="APPROVAL_SECRET_ARN", min_length=1)


class RequestApprovalSettings(SigningSettings):
    topic_arn: str = Field(alias="TOPIC_ARN", min_length=1)
    approval_url: str = Field(alias="APPROVAL_URL", min_length=1)


class ApprovalApiSettings(SigningSettings):
    pass
