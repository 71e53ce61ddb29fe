"""Plan step: fetched records (and records that travelled with their messages) to a plan,
the batches, and the round manifests the Redrive Distributed Maps read."""

from __future__ import annotations

from ..contracts.plan import PlanResult
from ..contracts.run import RunConfig
from ..rules.engine import load_rules
from ..rules.registry import RuleRegistry
from .lanes import rounds_of, slice_batches
from .planning import plan_records
from .ports import ConsumerMappings
from .run_data import RunData


def plan_run(
    run: RunConfig,
    data: RunData,
    default_function: str | None,
    rule_modules: tuple[str, ...] = (),
    mappings: ConsumerMappings | None = None,
) -> PlanResult:
    """``rule_modules`` are the deployment's rule modules (RULE_MODULES), the same Prepare
    checked with; ``mappings`` size the invokes when the batch size is the stack's default.

    Every batch and every round manifest is in S3 before the plan (and so before the answer
    the state machine acts on): a retried Plan writes the same objects again."""
    redrive = run.redrive
    plan = plan_records(
        data.fetched_groups(),
        load_rules(run.rules, registry=RuleRegistry(rule_modules)),
        target=redrive.target,
        batch_size=redrive.batch_size,
        function_override=redrive.function_name,
        default_function=default_function,
        concurrency=redrive.concurrency,
        ordering=redrive.ordering,
        follow_consumer_batch=redrive.batch_size_is_default,
        mappings=mappings,
    )
    for batch in plan.batches:
        data.put(data.paths.batch(batch.batch_id), batch)
    document = plan.document()
    per_slice = slice_batches(redrive.batch_size, len(document.lanes), redrive.rate_per_second)
    rounds = rounds_of(document.lanes, per_slice)
    for index, slices in enumerate(rounds):
        data.put(data.paths.redrive_round(index), slices)
    data.put(data.paths.plan, document)
    return PlanResult(
        rounds=len(rounds),
        rounds_prefix=data.paths.redrive_rounds,
        batches=len(plan.batches),
        lanes=len(document.lanes),
        slice_batches=per_slice,
        ordering=redrive.ordering,
        records=document.summary.records,
        to_redrive=sum(len(batch.records) for batch in plan.batches),
        expired=document.summary.expired,
        by_action=document.summary.by_action,
        get_records_calls=document.summary.get_records_calls,
    )
