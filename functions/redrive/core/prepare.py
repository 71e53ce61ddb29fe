"""Prepare: validate the input into a RunConfig and take the DLQ's run lock."""

from __future__ import annotations

import json
from typing import Any, Protocol

from pydantic import ValidationError

from ..errors import InvalidInput
from ..models import ApprovalSettings, RedriveSettings, RunConfig, describe_validation_error, parse_manual_input
from ..rules.base import RuleConfigError
from ..rules.engine import load_rules
from ..settings import Settings


class RunLock(Protocol):
    def acquire_lock(self, dlq_url: str, holder: str) -> str | None: ...


def execution_name(execution_arn: str) -> str:
    name = execution_arn.rsplit(":", 1)[-1]
    if not name:
        raise InvalidInput("executionArn: the state machine must pass $$.Execution.Id")
    return name


def merged_input(raw_input: Any, run_defaults: str) -> Any:
    """The template's run defaults (RUN_DEFAULTS) with the execution input on top."""
    try:
        defaults = json.loads(run_defaults or "{}")
    except json.JSONDecodeError as error:
        raise InvalidInput(f"RunDefaults (template parameter) is not JSON: {error.msg}") from None
    if not isinstance(defaults, dict):
        raise InvalidInput("RunDefaults (template parameter) must be a JSON object")
    if raw_input is None:
        raw_input = {}
    if not isinstance(raw_input, dict):
        return raw_input
    merged = {**defaults, **raw_input}
    for section in ("redrive", "approval"):
        if isinstance(defaults.get(section), dict) and isinstance(raw_input.get(section), dict):
            merged[section] = {**defaults[section], **raw_input[section]}
    return merged


def prepare_run(raw_input: Any, execution_arn: str, settings: Settings, lock: RunLock) -> RunConfig:
    manual = parse_manual_input(merged_input(raw_input, settings.run_defaults))
    try:
        load_rules(manual.rules)
    except RuleConfigError as error:
        raise InvalidInput(f"rules: {error}") from None
    requested = manual.redrive
    try:
        redrive = RedriveSettings(
            target=requested.target or settings.default_target,  # type: ignore[arg-type]
            ratePerSecond=requested.rate_per_second or settings.default_rate_per_second,
            concurrency=requested.concurrency or settings.default_concurrency,
            batchSize=requested.batch_size or settings.default_batch_size,
            queueUrl=requested.queue_url,
            functionName=requested.function_name,
        )
    except ValidationError as error:
        raise InvalidInput(describe_validation_error(error)) from None
    if manual.approval.skip and not settings.allow_skip_approval:
        raise InvalidInput(
            "approval.skip: this stack does not allow skipping approval (template parameter AllowSkipApproval)"
        )
    dlq_url = manual.dlq_url or settings.dlq_url
    if not dlq_url:
        raise InvalidInput("dlqUrl: no DLQ given in the input and none configured (DLQ_URL)")
    if not settings.bucket:
        raise InvalidInput("RUN_BUCKET is not configured for this function")
    config = RunConfig(
        runId=execution_name(execution_arn),
        executionArn=execution_arn,
        trigger=manual.trigger,
        dlqUrl=dlq_url,
        bucket=settings.bucket,
        maxMessages=manual.max_messages or settings.default_max_messages,
        dryRun=manual.dry_run,
        rules=manual.rules,
        redrive=redrive,
        approval=ApprovalSettings(
            skip=bool(manual.approval.skip),
            timeoutSeconds=manual.approval.timeout_seconds or settings.approval_timeout_seconds,
        ),
        comment=manual.comment,
    )
    holder = lock.acquire_lock(dlq_url, execution_arn)
    if holder is not None:
        config.locked = False
        config.lock_holder = holder
    return config
