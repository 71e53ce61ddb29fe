"""Prepare: validate the input into a RunConfig and take the DLQ's run lock."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..contracts.ledger import RunLease
from ..contracts.paths import RUNS_PREFIX, run_id_from_execution_arn
from ..contracts.run import (
    NO_DYNAMODB_STREAM_TARGET,
    ApprovalSettings,
    FetchSettings,
    ManualInput,
    RedriveSettings,
    RunConfig,
    RunSource,
    S3Source,
    describe_validation_error,
    parse_manual_input,
)
from ..contracts.vocab import Ordering, Target
from ..errors import InvalidInput, LockHeld
from ..rules.base import RuleConfigError
from ..rules.engine import load_rules
from ..rules.registry import RuleRegistry
from .lanes import SLICE_SECONDS, lane_cycle_seconds
from .overrides import check_dlq, check_function, check_redrive_queue
from .ports import QueueInfo, StateStore

if TYPE_CHECKING:
    from ..settings import PrepareSettings


def execution_name(execution_arn: str) -> str:
    name = run_id_from_execution_arn(execution_arn)
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


def check_slot_fits(redrive: RedriveSettings) -> None:
    """Refuse a pace at which one batch of a lane could not end inside its child workflow.

    With ``concurrency`` lanes sharing ``ratePerSecond``, a lane sends a batch every
    ``batchSize * concurrency / ratePerSecond`` seconds; a slice (one Express child, at most
    5 minutes) holds at least one batch, so that cycle must fit in SLICE_SECONDS.
    """
    cycle = lane_cycle_seconds(redrive.batch_size, redrive.concurrency, redrive.rate_per_second)
    if cycle <= SLICE_SECONDS:
        return
    lowest_rate = redrive.batch_size * redrive.concurrency / SLICE_SECONDS
    raise InvalidInput(
        "redrive.batchSize, redrive.concurrency, redrive.ratePerSecond: each lane would send one batch every "
        f"{cycle:g} s (batchSize {redrive.batch_size} * concurrency {redrive.concurrency} / "
        f"ratePerSecond {redrive.rate_per_second:g}), more than the {SLICE_SECONDS:g} s a redrive slice may take "
        f"(its child workflow ends at 5 minutes); raise ratePerSecond to at least {lowest_rate:.4g}, "
        "or lower batchSize or concurrency"
    )


def default_batch_size(default: int, concurrency: int, rate_per_second: float) -> int:
    """The stack's default batch size, made smaller when the pace is so slow that a lane's
    batch would not fit a slice (an explicit ``batchSize`` is never changed, only checked)."""
    fitting = int(SLICE_SECONDS * rate_per_second / concurrency)
    return max(1, min(default, fitting))


def prepare_run(
    raw_input: Any,
    execution_arn: str,
    settings: PrepareSettings,
    state: StateStore,
    queues: QueueInfo,
    now: float,
) -> RunConfig:
    """The run's configuration, its lease opened and the DLQ's lock taken (or, when another
    run holds it, ``locked`` false and the lease settled at once: this run holds nothing).

    The lease is opened before the lock is taken, so a Prepare that fails in between leaves
    a lease the reconciler finds, and a lock it frees."""
    manual = parse_manual_input(merged_input(raw_input, settings.run_defaults))
    try:
        load_rules(manual.rules, registry=RuleRegistry(settings.rule_modules))
    except RuleConfigError as error:
        raise InvalidInput(f"rules: {error}") from None
    redrive = redrive_settings(manual, settings)
    if manual.approval.skip and not settings.allow_skip_approval:
        raise InvalidInput(
            "approval.skip: this stack does not allow skipping approval (template parameter AllowSkipApproval)"
        )
    dlq_url = manual.dlq_url or settings.dlq_url
    if not dlq_url:
        raise InvalidInput("dlqUrl: no DLQ given in the input and none configured (DLQ_URL)")
    if manual.dlq_url:
        check_dlq(manual.dlq_url, settings.dlq_url, settings.allowed_dlq_arns)
    queue = queues.describe(dlq_url)
    if queue.fifo:
        raise InvalidInput(
            f"dlqUrl: {dlq_url} is a FIFO queue; failure records come from event source mappings, "
            "which send them to standard queues, and messages cannot go back to a FIFO queue without a group id"
        )
    source = run_source(manual, settings)
    config = RunConfig(
        run_id=execution_name(execution_arn),
        execution_arn=execution_arn,
        trigger=manual.trigger,
        dlq_url=dlq_url,
        dlq_arn=queue.queue_arn,
        bucket=settings.bucket,
        max_messages=manual.max_messages or settings.default_max_messages,
        dry_run=manual.dry_run,
        rules=manual.rules,
        redrive=redrive,
        approval=ApprovalSettings(
            skip=bool(manual.approval.skip),
            timeout_seconds=manual.approval.timeout_seconds or settings.approval_timeout_seconds,
        ),
        fetch=fetch_settings(manual),
        comment=manual.comment,
        source=source,
    )
    take_the_dlq(config, state, now)
    return config


def run_source(manual: ManualInput, settings: PrepareSettings) -> RunSource | None:
    """The run's S3 source, when the input names one: only the stack's failure bucket under
    its prefix (the functions' roles grant nothing else), and never the run data itself."""
    if manual.source is None:
        return None
    s3 = manual.source.s3
    if not settings.failure_bucket:
        raise InvalidInput(
            "source.s3: this stack reads no S3 on-failure destination (template parameter FailureBucketName is empty)"
        )
    if s3.bucket != settings.failure_bucket:
        raise InvalidInput(
            f"source.s3.bucket: this stack may read only its failure bucket {settings.failure_bucket!r} "
            f"(template parameter FailureBucketName), not {s3.bucket!r}"
        )
    if s3.prefix.startswith("/"):
        raise InvalidInput(f"source.s3.prefix: S3 keys do not start with '/' ({s3.prefix!r}); AWS writes aws/lambda/")
    if s3.bucket == settings.bucket and (s3.prefix.startswith(RUNS_PREFIX) or RUNS_PREFIX.startswith(s3.prefix)):
        raise InvalidInput(
            f"source.s3.prefix: {s3.prefix!r} would read the run data under {RUNS_PREFIX} of the run bucket; "
            "name the prefix the event source mapping writes to (aws/lambda/...)"
        )
    if not s3.prefix.startswith(settings.failure_prefix):
        raise InvalidInput(
            f"source.s3.prefix: this stack may read only under {settings.failure_prefix!r} of its failure bucket "
            f"(template parameter FailureBucketPrefix), not {s3.prefix!r}"
        )
    return RunSource(s3=S3Source(bucket=s3.bucket, prefix=s3.prefix, lock_prefix=settings.failure_prefix))


def redrive_settings(manual: ManualInput, settings: PrepareSettings) -> RedriveSettings:
    """The run's redrive settings: the input's, else the stack's defaults; a pace at which
    a lane's batch would not fit its slice is refused."""
    requested = manual.redrive
    rate = requested.rate_per_second or settings.default_rate_per_second
    concurrency = requested.concurrency or settings.default_concurrency
    try:
        redrive = RedriveSettings(
            target=requested.target or settings.default_target,
            rate_per_second=rate,
            concurrency=concurrency,
            batch_size=requested.batch_size or default_batch_size(settings.default_batch_size, concurrency, rate),
            batch_size_is_default=requested.batch_size is None,
            queue_url=requested.queue_url,
            function_name=requested.function_name,
            ordering=requested.ordering or Ordering.ORDERED,
        )
    except ValidationError as error:
        raise InvalidInput(describe_validation_error(error)) from None
    if redrive.function_name:
        check_function(redrive.function_name, settings.consumer_function, settings.allowed_consumer_function_arns)
    if redrive.target is Target.QUEUE and redrive.queue_url:
        check_redrive_queue(redrive.queue_url, settings.redrive_queue_arn)
    check_slot_fits(redrive)
    if redrive.target is Target.STREAM and settings.source_stream_arn.split(":")[2:3] == ["dynamodb"]:
        raise InvalidInput(f"redrive.target: {NO_DYNAMODB_STREAM_TARGET} (this stack protects a DynamoDB stream)")
    return redrive


def fetch_settings(manual: ManualInput) -> FetchSettings:
    defaults = FetchSettings()
    return FetchSettings(
        get_records_per_second=manual.fetch.get_records_per_second or defaults.get_records_per_second,
        throttle_budget_seconds=manual.fetch.throttle_budget_seconds or defaults.throttle_budget_seconds,
    )


def take_the_dlq(config: RunConfig, state: StateStore, now: float) -> None:
    """Open the run's lease, then take the lock of what it collects from (the DLQ, or the S3
    source's prefix); when another run holds it, the run is not locked and its lease is
    settled at once (it holds nothing)."""
    state.open_lease(
        RunLease(
            run_id=config.run_id,
            execution_arn=config.execution_arn,
            queue_arn=config.lock_key,
            dlq_url=config.dlq_url,
            bucket=config.bucket,
            opened_at=now,
        )
    )
    try:
        state.acquire_lock(config.lock_key, config.execution_arn)
    except LockHeld as held:
        config.locked = False
        config.lock_holder = held.holder
        state.close_lease(config.run_id)
        state.mark_settled(config.run_id)
