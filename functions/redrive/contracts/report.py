"""``report.json``: what happened to every message and record of a run."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import Contract
from .messages import Pointer
from .plan import PlanSummary
from .vocab import FinalizeMode, Ordering, Outcome, RecordClass, Target


class ReportRecord(Contract):
    record_id: str | None
    source: str | None = None
    shard_id: str | None = None
    sequence_number: str | None = None
    partition_key: str | None = None
    data: Any = None
    original_data: Any = None
    text: str | None = None
    record_class: RecordClass = Field(alias="class")
    outcome: Outcome
    repaired: bool = False
    rule: str | None = None
    reason: str | None = None
    batch_id: str | None = None
    pointer: Pointer | None = None
    message_id: str | None = None


class ReportCounts(Contract):
    dlq_messages: int = 0
    pointers: int = 0
    records_fetched: int = 0
    expired: int = 0
    repaired: int = 0
    discarded: int = 0
    redriven: int = 0
    failed: int = 0
    planned: int = 0
    unrecognised: int = 0
    returned_messages: int = 0
    requeued_records: int = 0


class UnrecognisedMessage(Contract):
    message_id: str
    reason: str | None = None


class RedriveTiming(Contract):
    started_at: float
    finished_at: float
    records: int
    achieved_per_second: float | None = None


class ExecutionCounts(Contract):
    """What Step Functions recorded of a run's executions: the parent and, for a Distributed
    Map, every child its map runs started (ListMapRuns, DescribeMapRun, ListExecutions)."""

    executions: int = 1  # the parent and every child execution
    largest_history: int = 0  # the most events any one readable execution recorded
    state_transitions: int = 0  # StateEntered events over the readable executions
    unreadable_executions: int = 0  # children with no history to read (EXPRESS: no GetExecutionHistory)
    api_calls: int = 0  # the Step Functions calls it took to count them


class LambdaUsage(Contract):
    """What the run's own functions recorded of their invocations (the observability
    decorator adds each one's duration to the run's lease), up to the settle that reads it."""

    invocations: int = 0
    billed_ms: int = 0  # each invocation's handler time rounded up to the millisecond, summed
    megabyte_ms: int = 0  # each invocation's billed ms times its memory size in MB, summed


class RunMetrics(Contract):
    """``report.json``'s ``metrics``, counted when the run was settled: an execution that is
    still running then (Finalize settles from inside it) has recorded every event but its last
    few (Finalize's end and the Succeed state's)."""

    history_events: int | None = None  # the most events any one execution of the run recorded
    executions: int | None = None
    unreadable_executions: int = 0
    state_transitions: int | None = None
    lambda_invocations: int = 0
    lambda_billed_seconds: float = 0.0
    lambda_gb_seconds: float = 0.0
    get_records_calls: int = 0
    error: str | None = None  # why the executions could not be counted (the report is written all the same)

    @classmethod
    def of(
        cls, executions: ExecutionCounts | None, usage: LambdaUsage, get_records_calls: int, error: str | None = None
    ) -> RunMetrics:
        return cls(
            history_events=executions.largest_history if executions else None,
            executions=executions.executions if executions else None,
            unreadable_executions=executions.unreadable_executions if executions else 0,
            state_transitions=executions.state_transitions if executions else None,
            lambda_invocations=usage.invocations,
            lambda_billed_seconds=usage.billed_ms / 1000,
            lambda_gb_seconds=usage.megabyte_ms / 1024 / 1000,
            get_records_calls=get_records_calls,
            error=error,
        )


class Report(Contract):
    run_id: str
    mode: FinalizeMode
    finished_at: float
    error: Any = None
    approval: dict[str, Any] | None = None
    counts: ReportCounts
    records: list[ReportRecord] = Field(default_factory=list)
    unrecognised: list[UnrecognisedMessage] = Field(default_factory=list)
    summary: PlanSummary | None = None
    redrive: RedriveTiming | None = None
    target: Target | None = None
    rate_per_second: float | None = None
    concurrency: int | None = None
    batch_size: int | None = None  # the run's batchSize (asked for, or the stack's default)
    ordering: Ordering | None = None  # which redrive ran: per-key order kept, or none
    get_records_calls: int = 0
    metrics: RunMetrics | None = None
    completed: bool = False


class FinalizeOutput(Contract):
    mode: FinalizeMode
    counts: ReportCounts
    report_key: str
    cause: str | None = None  # after a caught error: what failed, in one line (no stack trace)
    settled: bool = True  # False: the reconciler finishes it (a batch still in flight, a send refused)
