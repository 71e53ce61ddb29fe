"""Every port the core talks through. Adapters (boto3) implement them; tests pass fakes.

The core imports no adapter, handler, boto3 or ``os``: it gets what it needs as one of
these, as an argument.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..contracts.ledger import RunLease
from ..contracts.messages import DlqMessage, MessageAttribute, QueueDepth, QueueDescription, ReceivedMessage
from ..contracts.plan import Batch
from ..contracts.records import StreamRecord
from ..contracts.report import ExecutionCounts
from ..contracts.vocab import Source, Target

if TYPE_CHECKING:
    from ..contracts.run import FetchSettings
    from .run_data import RunData


class ObjectStore(Protocol):
    """The run bucket: JSON objects by key."""

    def put_json(self, key: str, value: Any) -> None: ...
    def get_json(self, key: str) -> Any: ...
    def exists(self, key: str) -> bool: ...
    def list_keys(self, prefix: str) -> list[str]: ...


class MessageSource(Protocol):
    """The DLQ as Collect sees it."""

    def receive(self, max_messages: int, wait_seconds: int = 0) -> list[ReceivedMessage]:
        """Up to ``max_messages`` (at most 10); ``wait_seconds`` above 0 is a long poll, which
        asks every SQS server and waits that long for a message to arrive."""
        ...

    def delete(self, messages: Sequence[ReceivedMessage]) -> list[str]:
        """Delete by receipt handle; return the ids that could not be deleted."""
        ...

    def release(self, messages: Sequence[ReceivedMessage]) -> None:
        """Make received messages visible again at once (they stay in the DLQ)."""
        ...


class MessageSink(Protocol):
    """The DLQ as Finalize sees it: messages go back."""

    def send(self, body: str, message_attributes: Mapping[str, MessageAttribute] | None = None) -> str: ...


class Dlq(MessageSource, MessageSink, Protocol):
    """The DLQ with both faces."""


class FailureObjects(Protocol):
    """An S3 on-failure destination's bucket, as an S3-sourced run collects and finishes it."""

    def list_keys(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` object keys under ``prefix``, in S3's (lexicographic) order."""
        ...

    def read(self, key: str) -> DlqMessage | None:
        """The object as a run's message (key as id, content as body); None once it is gone."""
        ...

    def delete(self, keys: Sequence[str]) -> list[str]:
        """Delete the objects; return the keys S3 did not delete."""
        ...


class RunLock(Protocol):
    def acquire_lock(self, queue_arn: str, holder: str) -> None:
        """Take the DLQ's lock; LockHeld (naming the holder) if another run has it."""
        ...

    def release_lock(self, queue_arn: str, holder: str) -> bool: ...


class ReturnedLog(Protocol):
    """How many returned messages the last alarm-started run left in a DLQ."""

    def record_left_in_place(self, queue_arn: str, count: int, run_id: str) -> None: ...
    def left_in_place(self, queue_arn: str) -> int: ...


class DlqArrivals(ReturnedLog, Protocol):
    """What the DlqArrivals check reads and does."""

    def depth(self, queue_url: str) -> QueueDepth:
        """The queue's ARN and its approximate visible, in-flight and delayed counts."""
        ...

    def lock_holder(self, queue_arn: str) -> str | None: ...
    def start_run(self, run_input: dict[str, str]) -> str:
        """StartExecution of the state machine with ``run_input``; the execution ARN."""
        ...


class RunLeases(Protocol):
    """Each run's lease (contracts/ledger.py): every side effect is fenced by it."""

    def open_lease(self, lease: RunLease) -> None: ...
    def lease(self, run_id: str) -> RunLease | None: ...
    def register_page(self, run_id: str, number: int) -> None:
        """Fenced once the lease is closed."""
        ...

    def begin_batch(self, run_id: str, batch_id: str) -> None:
        """AlreadyClaimed if claimed before in this run; Fenced once the lease is closed."""
        ...

    def end_batch(self, run_id: str, batch_id: str) -> None: ...
    def close_lease(self, run_id: str) -> RunLease | None: ...
    def begin_settle(self, run_id: str, token: str, seconds: float) -> bool:
        """One settler at a time: False while another holds the settle lease."""
        ...

    def end_settle(self, run_id: str, token: str) -> None: ...
    def mark_settled(self, run_id: str) -> None: ...
    def unsettled_runs(self) -> list[RunLease]: ...
    def add_usage(self, run_id: str, billed_ms: int, megabyte_ms: int) -> None:
        """One invocation of the run's functions, added to its lease (nothing if there is none)."""
        ...


class RateLimiter(Protocol):
    """The run's pace, shared by every lane (virtual scheduling: a theoretical arrival time)."""

    def reserve(self, run_id: str, seconds: float, now: float) -> float:
        """Reserve the run's next ``seconds`` of sending and return when that slot starts:
        ``max(now, end of the last slot reserved)``, atomically among concurrent callers."""
        ...


class StateStore(RunLock, RunLeases, ReturnedLog, RateLimiter, Protocol):
    """The state table: the DLQ lock, the leases, the batch claims, what alarm runs left and the run's pace."""


class QueueInfo(Protocol):
    def describe(self, queue_url: str) -> QueueDescription:
        """The queue's ARN and type; InvalidInput if there is no such queue."""
        ...


class RunDefaultsSource(Protocol):
    """Where the stack's run defaults (JSON text) are kept: an SSM parameter on AWS."""

    def get(self) -> str: ...


class ExecutionStatus(Protocol):
    def status(self, execution_arn: str) -> str:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED."""
        ...


class ExecutionHistory(Protocol):
    def counts(self, execution_arn: str) -> ExecutionCounts:
        """The run's executions (the parent and its map runs' children) and their histories,
        every list read page by page."""
        ...


class RedriveTarget(Protocol):
    def send(self, batch: Batch) -> dict[str, str]:
        """Deliver ``batch``; return {recordId: reason} for the records that failed."""
        ...


class ConsumerMappings(Protocol):
    """The consumers' event source mappings, as Plan sizes the batches it invokes with."""

    def batch_size(self, function: str, stream_arn: str) -> int | None:
        """The largest ``BatchSize`` of the mappings that feed ``function`` (name or ARN, a
        qualifier or not) from ``stream_arn``; None when there is none or it cannot be read."""
        ...


class ShardReader(Protocol):
    def read_ranges(
        self,
        stream_arn: str,
        shard_id: str,
        ranges: list[tuple[str, str, int | None]],
        sink: Callable[[list[StreamRecord]], None] | None = None,
    ) -> RangeReadResult:
        """Disjoint ``(start, end, limit)`` ranges of one shard, their records given to
        ``sink`` page by page as the read goes."""
        ...


class RangeReadResult(Protocol):
    @property
    def records(self) -> list[StreamRecord]: ...
    @property
    def get_records_calls(self) -> int: ...
    @property
    def throttled(self) -> int: ...
    @property
    def start_trimmed(self) -> bool: ...
    @property
    def stream_missing(self) -> bool: ...
    @property
    def iterators_renewed(self) -> int: ...


class Approvals(Protocol):
    """Pending approvals (the task token stays server side).

    Deciding is three steps so that nothing is lost when Step Functions cannot be reached:
    take a short ``deciding`` lease, send the decision, and only then record it (or give
    the lease back, or close the approval when the run is no longer waiting)."""

    def put_request(
        self,
        decision_id: str,
        task_token: str,
        run_id: str,
        summary: dict[str, Any],
        expires_at: int,
        execution_arn: str,
    ) -> None: ...
    def get(self, decision_id: str) -> Any: ...
    def begin_deciding(self, decision_id: str, lease: str, until: int, now: int) -> bool:
        """Mark the approval ``deciding`` under ``lease`` until ``until``, if it is pending (or
        its last lease ran out); False, changing nothing, otherwise."""
        ...

    def record_decision(self, decision_id: str, decision: str, decided_by: str, comment: str, now: int) -> None:
        """Step Functions took the decision: store it, who made it and why."""
        ...

    def release(self, decision_id: str, lease: str) -> None:
        """Back to ``pending`` if ``lease`` still holds it (the decision was not delivered)."""
        ...

    def close(self, decision_id: str, lease: str, reason: str) -> None:
        """``closed`` with ``reason`` if ``lease`` still holds it (the run is no longer waiting)."""
        ...


class TaskCallback(Protocol):
    def send_task_success(self, taskToken: str, output: str) -> Any: ...


class Notifier(Protocol):
    """The operators' topic."""

    @property
    def topic_arn(self) -> str: ...
    def publish(self, subject: str, body: str) -> None: ...
    def confirmed_subscribers(self) -> int:
        """How many subscriptions are confirmed (an unconfirmed email one reaches no one)."""
        ...


class MetricsSink(Protocol):
    def count(self, name: str, value: int) -> None: ...


class Adapters(Protocol):
    """What the handlers build their ports with (boto3 on AWS, fakes in unit tests)."""

    def run_data(self, bucket: str, run_id: str) -> RunData: ...
    def dlq(self, queue_url: str) -> Dlq: ...
    def failure_objects(self, bucket: str) -> FailureObjects: ...
    def state_table(self, table: str) -> StateStore: ...
    def queue_info(self) -> QueueInfo: ...
    def run_defaults(self, parameter_name: str) -> RunDefaultsSource: ...
    def executions(self) -> ExecutionStatus: ...
    def execution_history(self) -> ExecutionHistory: ...
    def approvals(self, table: str) -> Approvals: ...
    def notifier(self, topic_arn: str) -> Notifier: ...
    def shard_reader(self, source: Source, fetch: FetchSettings | None = None) -> ShardReader: ...
    def consumer_mappings(self) -> ConsumerMappings: ...
    def target(self, target: Target, queue_url: str | None, region: str) -> RedriveTarget: ...
    def signing_key(self, secret_arn: str) -> bytes: ...
    def arrivals(self, table: str, state_machine_arn: str) -> DlqArrivals: ...
    def task_callback(self) -> TaskCallback: ...
