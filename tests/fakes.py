"""In-memory fakes of the core's ports (redrive.core.ports), for unit tests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from redrive.contracts.ledger import LeaseStatus, RunLease
from redrive.contracts.messages import (
    RETURNED_ATTRIBUTE,
    DlqMessage,
    FailureObject,
    MessageAttribute,
    QueueDepth,
    QueueDescription,
    ReceivedMessage,
)
from redrive.contracts.paths import RunPaths
from redrive.contracts.report import ExecutionCounts
from redrive.core.run_data import RunData
from redrive.errors import AlreadyClaimed, Fenced, LockHeld

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-consumer-dlq"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:orders-consumer-dlq"


class MemoryStore:
    """An ObjectStore in a dict (values round-trip through JSON, as S3 would)."""

    def __init__(self) -> None:
        self.objects: dict[str, str] = {}

    def put_json(self, key: str, value: Any) -> None:
        self.objects[key] = json.dumps(value)

    def get_json(self, key: str) -> Any:
        return json.loads(self.objects[key])

    def exists(self, key: str) -> bool:
        return key in self.objects

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))


def memory_run(run_id: str = "run-1", store: MemoryStore | None = None) -> RunData:
    return RunData(store or MemoryStore(), RunPaths(run_id))


class FakeQueue:
    """A DLQ: MessageSource (receive, delete) and MessageSink (send)."""

    def __init__(self, bodies: Sequence[str] = (), page_size: int = 10) -> None:
        self.visible: list[ReceivedMessage] = []
        self.sent: list[tuple[str, dict[str, MessageAttribute] | None]] = []
        self.deleted: list[str] = []
        self.released: list[str] = []
        self.returned_by: list[str | None] = []
        self.page_size = page_size
        for body in bodies:
            self.add(body)

    def add(self, body: str, attributes: Mapping[str, MessageAttribute] | None = None) -> str:
        message_id = f"m-{len(self.visible) + len(self.deleted) + 1}"
        self.visible.append(
            ReceivedMessage(
                message_id=message_id,
                receipt_handle=f"rh-{message_id}",
                body=body,
                message_attributes=dict(attributes or {}),
            )
        )
        return message_id

    def receive(self, max_messages: int, wait_seconds: int = 0) -> list[ReceivedMessage]:
        return self.visible[: min(self.page_size, max_messages)]

    def delete(self, messages: Sequence[ReceivedMessage]) -> list[str]:
        ids = {m.message_id for m in messages}
        self.visible = [m for m in self.visible if m.message_id not in ids]
        self.deleted.extend(ids)
        return []

    def release(self, messages: Sequence[ReceivedMessage]) -> None:
        self.released.extend(m.message_id for m in messages)

    def send(self, body: str, message_attributes: Mapping[str, MessageAttribute] | None = None) -> str:
        """``sent`` keeps each message's own attributes; the returned marker a run adds goes
        to ``returned_by`` (the run id, or None when the message went back unmarked)."""
        own = {k: v for k, v in (message_attributes or {}).items() if k != RETURNED_ATTRIBUTE}
        marker = (message_attributes or {}).get(RETURNED_ATTRIBUTE)
        self.sent.append((body, own or None))
        self.returned_by.append(marker.string_value if marker is not None else None)
        return f"new-{len(self.sent)}"


class FakeStateStore:
    """The state table: DLQ locks, run leases, batch claims and the runs' pace, with
    DynamoDB's conditions."""

    def __init__(self) -> None:
        self.tat: dict[str, float] = {}
        self.reservations: list[tuple[str, float, float]] = []
        self.locks: dict[str, str] = {}
        self.leases: dict[str, RunLease] = {}
        self.claims: dict[tuple[str, str], str] = {}
        self.settlers: dict[str, str] = {}
        self.released: list[tuple[str, str]] = []
        self.left: dict[str, int] = {}

    # lock
    def acquire_lock(self, queue_arn: str, holder: str) -> None:
        current = self.locks.get(queue_arn)
        if current not in (None, holder):
            raise LockHeld(current)
        self.locks[queue_arn] = holder

    def release_lock(self, queue_arn: str, holder: str) -> bool:
        self.released.append((queue_arn, holder))
        if self.locks.get(queue_arn) == holder:
            del self.locks[queue_arn]
            return True
        return False

    def lock_holder(self, queue_arn: str) -> str | None:
        return self.locks.get(queue_arn)

    # returned messages left in the DLQ
    def record_left_in_place(self, queue_arn: str, count: int, run_id: str) -> None:
        self.left[queue_arn] = count

    def left_in_place(self, queue_arn: str) -> int:
        return self.left.get(queue_arn, 0)

    # leases
    def open_lease(self, lease: RunLease) -> None:
        existing = self.leases.get(lease.run_id)
        if existing is None:
            self.leases[lease.run_id] = lease.model_copy(deep=True)
        elif existing.execution_arn != lease.execution_arn:
            raise ValueError("another execution's run id")

    def lease(self, run_id: str) -> RunLease | None:
        lease = self.leases.get(run_id)
        return lease.model_copy(deep=True) if lease else None

    def _open(self, run_id: str, what: str) -> RunLease:
        lease = self.leases.get(run_id)
        if lease is None or lease.status is not LeaseStatus.OPEN:
            raise Fenced(f"run {run_id} may no longer {what}")
        return lease

    def register_page(self, run_id: str, number: int) -> None:
        lease = self._open(run_id, "take messages")
        if lease.pages != number - 1:
            raise Fenced(f"page {number} does not follow page {lease.pages}")
        lease.pages = number

    def begin_batch(self, run_id: str, batch_id: str, now: float | None = None) -> None:
        lease = self._open(run_id, "send")
        if (run_id, batch_id) in self.claims:
            raise AlreadyClaimed(batch_id, self.claims[(run_id, batch_id)])
        self.claims[(run_id, batch_id)] = "started"
        lease.in_flight[batch_id] = now if now is not None else 0.0

    def end_batch(self, run_id: str, batch_id: str) -> None:
        self.claims[(run_id, batch_id)] = "completed"
        self.leases[run_id].in_flight.pop(batch_id, None)

    def reserve(self, run_id: str, seconds: float, now: float) -> float:
        start = max(now, self.tat.get(run_id, now))
        self.tat[run_id] = start + seconds
        self.reservations.append((run_id, start, seconds))
        return start

    def close_lease(self, run_id: str) -> RunLease | None:
        lease = self.leases.get(run_id)
        if lease is not None and lease.status is LeaseStatus.OPEN:
            lease.status = LeaseStatus.CLOSED
        return self.lease(run_id)

    def begin_settle(self, run_id: str, token: str, seconds: float) -> bool:
        holder = self.settlers.get(run_id)
        if holder not in (None, token):
            return False
        self.settlers[run_id] = token
        return True

    def end_settle(self, run_id: str, token: str) -> None:
        if self.settlers.get(run_id) == token:
            del self.settlers[run_id]

    def mark_settled(self, run_id: str) -> None:
        if run_id in self.leases:
            self.leases[run_id].status = LeaseStatus.SETTLED

    def add_usage(self, run_id: str, billed_ms: int, megabyte_ms: int) -> None:
        lease = self.leases.get(run_id)
        if lease is not None:
            lease.invocations += 1
            lease.billed_ms += billed_ms
            lease.megabyte_ms += megabyte_ms

    def unsettled_runs(self) -> list[RunLease]:
        return [
            lease.model_copy(deep=True) for lease in self.leases.values() if lease.status is not LeaseStatus.SETTLED
        ]


def open_run(store: FakeStateStore, run_id: str = "run-1", queue_arn: str = QUEUE_ARN) -> RunLease:
    """A lease for ``run_id``, open, as Prepare leaves it."""
    lease = RunLease(
        run_id=run_id,
        execution_arn=f"arn:aws:states:us-east-1:123456789012:execution:m:{run_id}",
        queue_arn=queue_arn,
        dlq_url=QUEUE_URL,
        bucket="stream-redrive-runs",
    )
    store.open_lease(lease)
    return lease


class FakeQueues:
    def __init__(self, fifo: bool = False) -> None:
        self.fifo = fifo

    def describe(self, queue_url: str) -> QueueDescription:
        name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        return QueueDescription(
            queue_url=queue_url, queue_arn=f"arn:aws:sqs:us-east-1:123456789012:{name}", fifo=self.fifo
        )


FakeClaims = FakeStateStore
FakeLock = FakeStateStore


class FakeRunDefaults:
    def __init__(self, value: str = "{}") -> None:
        self.value = value
        self.reads = 0

    def get(self) -> str:
        self.reads += 1
        return self.value


class FakeNotifier:
    def __init__(self, confirmed: int = 1) -> None:
        self.published: list[tuple[str, str]] = []
        self.topic_arn = "arn:aws:sns:us-east-1:123456789012:operators"
        self.confirmed = confirmed

    def publish(self, subject: str, body: str) -> None:
        self.published.append((subject, body))

    def confirmed_subscribers(self) -> int:
        return self.confirmed


class FakeMetrics:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def count(self, name: str, value: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + value


class FakeApprovals:
    """The approval items of the state table, with the same conditions as the adapter."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def put_request(
        self,
        decision_id: str,
        task_token: str,
        run_id: str,
        summary: dict[str, Any],
        expires_at: int,
        execution_arn: str,
    ) -> None:
        assert decision_id not in self.items
        self.items[decision_id] = {
            "status": "pending",
            "taskToken": task_token,
            "runId": run_id,
            "executionArn": execution_arn,
            "summary": summary,
            "expiresAt": expires_at,
        }

    def get(self, decision_id: str) -> Any:
        from redrive.contracts.approval import PendingApproval

        item = self.items.get(decision_id)
        return PendingApproval.model_validate(item) if item else None

    def begin_deciding(self, decision_id: str, lease: str, until: int, now: int) -> bool:
        item = self.items[decision_id]
        lapsed = item["status"] == "deciding" and item["decidingUntil"] <= now
        if item["status"] != "pending" and not lapsed:
            return False
        item.update(status="deciding", decidingLease=lease, decidingUntil=until)
        return True

    def record_decision(self, decision_id: str, decision: str, decided_by: str, comment: str, now: int) -> None:
        item = self.items[decision_id]
        item.pop("decidingLease", None)
        item.pop("decidingUntil", None)
        item.update(status=decision, decidedBy=decided_by, comment=comment, decidedAt=now)

    def _if_held(self, decision_id: str, lease: str, **update: Any) -> None:
        item = self.items[decision_id]
        if item["status"] == "deciding" and item.get("decidingLease") == lease:
            item.pop("decidingLease", None)
            item.pop("decidingUntil", None)
            item.update(update)

    def release(self, decision_id: str, lease: str) -> None:
        self._if_held(decision_id, lease, status="pending")

    def close(self, decision_id: str, lease: str, reason: str) -> None:
        self._if_held(decision_id, lease, status="closed", closedReason=reason)


class FakeShardReader:
    """A stream shard as a list of records: read_range returns those inside the range."""

    def __init__(self, records: Sequence[Any]) -> None:
        self.records = list(records)

    def read_ranges(self, stream_arn: str, shard_id: str, ranges: list[Any], sink: Any = None) -> Any:
        from redrive.adapters.streams import RangeRead

        read = RangeRead(get_records_calls=1)
        for start, end, limit in ranges:
            inside = [
                r for r in self.records if r.shard_id == shard_id and int(start) <= int(r.sequence_number) <= int(end)
            ][:limit]
            (sink or read.records.extend)(inside)
        return read


class FakeTarget:
    """Delivers every batch; remembers what it got."""

    def __init__(self, failed: Mapping[str, str] | None = None) -> None:
        self.batches: list[Any] = []
        self.failed = dict(failed or {})

    def send(self, batch: Any) -> dict[str, str]:
        self.batches.append(batch)
        return {r.record_id: self.failed[r.record_id] for r in batch.records if r.record_id in self.failed}


class FakeCallback:
    """SendTaskSuccess that answers with ``failures`` (exceptions, in order) before it succeeds."""

    def __init__(self, failures: Sequence[BaseException] = ()) -> None:
        self.successes: list[tuple[str, str]] = []
        self.failures = list(failures)
        self.calls = 0
        self.during: Any = None  # called inside a call, before it answers (a concurrent request)

    def send_task_success(self, taskToken: str, output: str) -> Any:
        self.calls += 1
        if self.during is not None:
            during, self.during = self.during, None
            during()
        if self.failures:
            raise self.failures.pop(0)
        self.successes.append((taskToken, output))
        return {}


class FakeExecutions:
    """DescribeExecution's status per execution ARN (``default`` unless set)."""

    def __init__(self, default: str = "RUNNING") -> None:
        self.statuses: dict[str, str] = {}
        self.looked_up: list[str] = []
        self.default = default

    def status(self, execution_arn: str) -> str:
        self.looked_up.append(execution_arn)
        return self.statuses.get(execution_arn, self.default)


class FakeFailureBucket:
    """An S3 on-failure destination's bucket (FailureObjects): objects by key, in key order.

    ``fail_deletes`` makes delete report those keys undeleted; ``raise_on_delete`` makes it raise."""

    def __init__(self, objects: Mapping[str, str] | None = None, bucket: str = "orders-failures") -> None:
        self.bucket = bucket
        self.objects: dict[str, str] = dict(objects or {})
        self.deleted: list[str] = []
        self.reads: list[str] = []
        self.fail_deletes: set[str] = set()
        self.raise_on_delete: Exception | None = None

    def list_keys(self, prefix: str, limit: int) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix) and not k.endswith("/"))[:limit]

    def read(self, key: str) -> DlqMessage | None:
        self.reads.append(key)
        if key not in self.objects:
            return None
        return DlqMessage(
            message_id=key, body=self.objects[key], failure_object=FailureObject(bucket=self.bucket, key=key)
        )

    def delete(self, keys: Sequence[str]) -> list[str]:
        if self.raise_on_delete is not None:
            raise self.raise_on_delete
        failed = [k for k in keys if k in self.fail_deletes]
        for key in keys:
            if key not in self.fail_deletes:
                self.objects.pop(key, None)
                self.deleted.append(key)
        return failed


class FakeArrivals:
    """The DlqArrivals port: a DLQ depth set by the test, the fake state store, started runs."""

    def __init__(self, state: FakeStateStore, queue_arn: str = QUEUE_ARN) -> None:
        self.state = state
        self.queue_arn = queue_arn
        self.visible = 0
        self.in_flight = 0
        self.started: list[dict[str, str]] = []

    def depth(self, queue_url: str) -> QueueDepth:
        return QueueDepth(queue_arn=self.queue_arn, visible=self.visible, in_flight=self.in_flight)

    def lock_holder(self, queue_arn: str) -> str | None:
        return self.state.lock_holder(queue_arn)

    def left_in_place(self, queue_arn: str) -> int:
        return self.state.left_in_place(queue_arn)

    def record_left_in_place(self, queue_arn: str, count: int, run_id: str) -> None:
        self.state.record_left_in_place(queue_arn, count, run_id)

    def start_run(self, run_input: dict[str, str]) -> str:
        self.started.append(run_input)
        return f"arn:aws:states:us-east-1:123456789012:execution:redrive:started-{len(self.started)}"


class FakeHistory:
    """ExecutionHistory: the counts per execution ARN (``default`` unless set), or a failure."""

    def __init__(self, default: ExecutionCounts | None = None) -> None:
        self.default = default or ExecutionCounts(executions=1, largest_history=40, state_transitions=15)
        self.by_arn: dict[str, ExecutionCounts] = {}
        self.failure: Exception | None = None
        self.asked: list[str] = []

    def counts(self, execution_arn: str) -> ExecutionCounts:
        self.asked.append(execution_arn)
        if self.failure is not None:
            raise self.failure
        return self.by_arn.get(execution_arn, self.default)


class FakeMappings:
    """Event source mappings' batch sizes by (function, stream ARN); unknown ones are None."""

    def __init__(self) -> None:
        self.sizes: dict[tuple[str, str], int] = {}
        self.asked: list[tuple[str, str]] = []

    def batch_size(self, function: str, stream_arn: str) -> int | None:
        self.asked.append((function, stream_arn))
        return self.sizes.get((function, stream_arn))


class FakeAdapters:
    """Every port the handlers build, as in-memory fakes (redrive.core.ports.Adapters)."""

    def __init__(self, shard_records: Sequence[Any] = (), signing_key: bytes = b"test-key") -> None:
        self.store = MemoryStore()
        self.queues: dict[str, FakeQueue] = {}
        self.buckets: dict[str, FakeFailureBucket] = {}
        self.state = FakeStateStore()
        self.queue_descriptions = FakeQueues()
        self.execution_statuses = FakeExecutions()
        self.histories = FakeHistory()
        self.approvals_store = FakeApprovals()
        self.published = FakeNotifier()
        self.reader = FakeShardReader(shard_records)
        self.delivered = FakeTarget()
        self.callback = FakeCallback()
        self.defaults = FakeRunDefaults()
        self.key = signing_key
        self.dlq_arrivals = FakeArrivals(self.state)
        self.mappings = FakeMappings()

    def run_data(self, bucket: str, run_id: str) -> RunData:
        return RunData(self.store, RunPaths(run_id))

    def dlq(self, queue_url: str) -> FakeQueue:
        return self.queues.setdefault(queue_url, FakeQueue())

    def failure_objects(self, bucket: str) -> FakeFailureBucket:
        return self.buckets.setdefault(bucket, FakeFailureBucket(bucket=bucket))

    def state_table(self, table: str) -> FakeStateStore:
        return self.state

    def queue_info(self) -> FakeQueues:
        return self.queue_descriptions

    def executions(self) -> FakeExecutions:
        return self.execution_statuses

    def execution_history(self) -> FakeHistory:
        return self.histories

    def run_defaults(self, parameter_name: str) -> FakeRunDefaults:
        return self.defaults

    def approvals(self, table: str) -> FakeApprovals:
        return self.approvals_store

    def notifier(self, topic_arn: str) -> FakeNotifier:
        return self.published

    def shard_reader(self, source: Any, fetch: Any = None) -> FakeShardReader:
        return self.reader

    def consumer_mappings(self) -> FakeMappings:
        return self.mappings

    def target(self, target: Any, queue_url: str | None, region: str) -> FakeTarget:
        return self.delivered

    def signing_key(self, secret_arn: str) -> bytes:
        return self.key

    def task_callback(self) -> FakeCallback:
        return self.callback

    def arrivals(self, table: str, state_machine_arn: str) -> FakeArrivals:
        return self.dlq_arrivals


class FakeLambdaContext:
    """The attributes of the Lambda context the handlers' Powertools decorators read."""

    function_name = "test-function"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/test-function"
    log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def run_config(
    run_id: str = "run-1",
    *,
    rules: Sequence[Mapping[str, Any]] = (),
    batch_size: int = 10,
    rate_per_second: float = 1000,
    concurrency: int = 1,
    max_messages: int = 100,
    dlq_url: str = QUEUE_URL,
    bucket: str = "stream-redrive-runs",
) -> Any:
    """A RunConfig as Prepare makes it, for tests of the steps after it."""
    from redrive.contracts.run import ApprovalSettings, RedriveSettings, RunConfig

    name = dlq_url.rstrip("/").rsplit("/", 1)[-1]
    return RunConfig(
        run_id=run_id,
        execution_arn=f"arn:aws:states:us-east-1:123456789012:execution:redrive:{run_id}",
        trigger="manual",
        dlq_url=dlq_url,
        dlq_arn=f"arn:aws:sqs:us-east-1:123456789012:{name}",
        bucket=bucket,
        max_messages=max_messages,
        dry_run=False,
        rules=[dict(rule) for rule in rules],
        redrive=RedriveSettings(
            target="invoke", rate_per_second=rate_per_second, concurrency=concurrency, batch_size=batch_size
        ),
        approval=ApprovalSettings(timeout_seconds=3600),
    )


class UnpacedLimiter:
    """A limiter whose every slot starts now: for tests about what a batch does, not when."""

    def reserve(self, run_id: str, seconds: float, now: float) -> float:
        return now
