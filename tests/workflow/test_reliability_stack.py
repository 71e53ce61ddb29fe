"""The reliability suite on the local stack: generated DLQ bodies through the whole workflow.

Each run is one rehearsal (template deployed, records written, the consumer's mapping
failing on the poison ones) whose DLQ also holds bodies drawn from
tests/reliability/strategies.py. The workflow runs to its end (complete, dry run, rejected),
or is stopped with StopExecution while Collect pages through the DLQ or while the redrive
sends, and the reconciler settles it as its schedule comes round. Then the ledger must
balance: every message is back in the DLQ as it was, finished (all its records redriven,
discarded or expired), or split into its records, each of the unfinished ones sent back
once; no record reached the consumer twice; the DLQ's lock is free.

Every figure goes into the reliability suite's tally (tests/reliability/tally.py), so
``make reliability`` prints them in its one line. ``REDRIVE_RELIABILITY=full`` runs at
least 500 generated bodies; the default is one run of 30.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, settings

from redrive.adapters.store import S3Store
from redrive.contracts.messages import REDRIVE_MARKER
from redrive.contracts.paths import RunPaths
from redrive.contracts.report import Report
from redrive.contracts.vocab import FinalizeMode, Outcome
from redrive.core.run_data import RunData
from redrive_local import workarounds
from redrive_local.engine import LocalEngine
from redrive_local.inspect import queue_bodies
from redrive_local.rehearsal import Rehearsal
from tests.reliability import strategies as gen
from tests.reliability.profiles import LEVEL
from tests.reliability.tally import TALLY
from tests.support.rules import AMOUNT_AS_NUMBER, DROP_TEST_EVENTS

from .conftest import kinesis_scenario, s3_keys

pytestmark = pytest.mark.reliability

SQS_MAX_BYTES = 256 * 1024
# What SQS accepts in a body: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
SQS_REFUSED = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
FAULT_TIMEOUT = 60.0
REPORT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Run:
    """One rehearsal: how many generated bodies, the seed that draws them, and how it ends."""

    name: str
    bodies: int
    seed: int
    ending: str  # complete | dry-run | rejected | stop-in-collect | stop-in-redrive


RUNS = {
    "default": [Run("complete", 30, 1, "complete")],
    "full": [
        Run("complete", 100, 11, "complete"),
        Run("stop-in-collect", 100, 12, "stop-in-collect"),
        Run("stop-in-redrive", 100, 13, "stop-in-redrive"),
        Run("rejected", 100, 14, "rejected"),
        Run("dry-run", 100, 15, "dry-run"),
        Run("complete-2", 100, 16, "complete"),
    ],
}[LEVEL]


# --- the bodies ----------------------------------------------------------------------------
def sqs_safe(text: str) -> str | None:
    """The body as a writer could put it on SQS (refused characters replaced), or None."""
    text = SQS_REFUSED.sub("\ufffd", text)
    if not text or len(text.encode("utf-8")) > SQS_MAX_BYTES:
        return None
    return text


def generated_bodies(count: int, seed: int) -> list[str]:
    """``count`` bodies of :func:`strategies.any_body`, the same ones for the same seed.

    Hypothesis draws them (no shrinking: every example it tries is kept until there are
    enough), from a seeded random and without its example database."""
    bodies: list[str] = []

    def enough(case: tuple[str | None, str]) -> bool:
        if len(bodies) < count:
            text = sqs_safe(case[1])
            if text is not None:
                bodies.append(text)
        return len(bodies) >= count

    drawing = settings(
        database=None,
        deadline=None,
        phases=[Phase.generate],
        max_examples=count * 20,
        suppress_health_check=list(HealthCheck),
    )
    find(gen.any_body(), enough, settings=drawing, random=random.Random(seed))
    return bodies


def tag(run: Run) -> str:
    """What the ids of a run's real records start with."""
    return f"{run.name}-{run.seed}-"


def stream_records(run: Run) -> list[dict[str, Any]]:
    """Real records: good ones, and poison ones the consumer gives up on at once (each
    leaves a pointer in the DLQ): repairable, discardable and unrepairable."""
    records: list[dict[str, Any]] = []
    for i in range(6):
        records.append({"partitionKey": f"r{i}", "data": {"id": f"{tag(run)}fix-{i}", "amount": str(i + 1)}})
    records.append({"partitionKey": "t", "data": {"id": f"{tag(run)}test", "type": "test", "amount": "x"}})
    records.append({"partitionKey": "u", "data": {"amount": 3}})  # no id: held, sent back
    records.append({"partitionKey": "g", "data": {"id": f"{tag(run)}good", "amount": 7}})
    return records


# --- watching the consumer -------------------------------------------------------------------
class Deliveries:
    """Every record the consumer function accepted (an invocation without a function error
    and without the record among its batchItemFailures), by (stream, eventID)."""

    def __init__(self, engine: LocalEngine, function_name: str) -> None:
        self.engine = engine
        self.function_name = function_name
        self.accepted: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def invoke(self, fn: Any, event: Any) -> tuple[str, bool, str]:
        payload, errored, logs = self.engine.runtime.invoke(fn, event)
        if fn.function_name == self.function_name and not errored:
            records = (json.loads(event) if isinstance(event, str) else event).get("Records", [])
            answer = json.loads(payload) if payload else None
            failed = {f.get("itemIdentifier") for f in (answer or {}).get("batchItemFailures", [])}
            with self._lock:
                for record in records:
                    sequence = (record.get("kinesis") or {}).get("sequenceNumber") or (
                        record.get("dynamodb") or {}
                    ).get("SequenceNumber")
                    if sequence not in failed:
                        self.accepted[(str(record.get("eventSourceARN")), str(record.get("eventID")))] += 1
        return payload, errored, logs

    def __enter__(self) -> Deliveries:
        workarounds.set_lambda_invoker(self.invoke)
        return self

    def __exit__(self, *exc: object) -> None:
        workarounds.set_lambda_invoker(self.engine.runtime.invoke)


# --- the ledger ------------------------------------------------------------------------------
@dataclass
class Ledger:
    """What one run did with each message, and what went wrong."""

    lost: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # back more often than it was there, or sent back twice
    delivered_twice: list[str] = field(default_factory=list)
    lock_leaks: list[str] = field(default_factory=list)
    finished: int = 0
    split: int = 0
    returned: int = 0

    def problems(self) -> list[str]:
        return [
            *(f"lost: {x}" for x in self.lost),
            *(f"extra: {x}" for x in self.extra),
            *(f"delivered twice: {x}" for x in self.delivered_twice),
            *(f"lock: {x}" for x in self.lock_leaks),
        ]


def own_marker(body: str, run_id: str) -> dict[str, Any] | None:
    """The streamRedrive marker of a record this run sent back on its own, if the body is one."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    marker = value.get(REDRIVE_MARKER) if isinstance(value, dict) else None
    return marker if isinstance(marker, dict) and marker.get("runId") == run_id else None


def check_ledger(before: list[str], after: list[str], data: RunData, report: Report, pages: int) -> Ledger:
    """Counter(after, less this run's single records) + Counter(finished) + Counter(split)
    == Counter(before), where a message is finished when all its records were redriven or
    discarded (or, in complete mode, when its pointer's records all expired), and split when
    its records that did not finish are each back in the DLQ on their own, once."""
    out = Ledger()
    run_id = data.paths.run_id
    plan = data.plan()
    held = data.held_messages(pages)
    outcomes = {r.record_id: r.outcome for r in report.records if r.record_id}
    expired = Counter(r.message_id for r in report.records if r.outcome is Outcome.EXPIRED and r.message_id)

    requeued: Counter[str] = Counter()
    back: Counter[str] = Counter()
    for body in after:
        marker = own_marker(body, run_id)
        if marker is None:
            back[body] += 1
        else:
            requeued[str(marker.get("recordId"))] += 1
    out.extra.extend(f"record {rid} sent back {n} times" for rid, n in requeued.items() if n > 1)

    # Messages the run never took must still be there; the ones it took are back whole,
    # finished, or split.
    unclaimed = back - (Counter(before) - Counter(m.body for m in held.values()))
    for body, n in ((Counter(before) - Counter(m.body for m in held.values())) - back).items():
        out.lost.append(f"{n} x {body[:80]!r}: never taken by the run, and not in the DLQ")
    named: set[str] = set()
    for message_id, message in held.items():
        rids = plan.message_records.get(message_id, []) if plan else []
        named.update(rids)
        if unclaimed[message.body] > 0:
            unclaimed[message.body] -= 1
            out.returned += 1
            continue
        if not rids:
            if expired[message_id] and report.mode is FinalizeMode.COMPLETE:
                out.finished += 1
            else:
                out.lost.append(f"{message_id} {message.body[:80]!r}: not back, and none of its records finished")
            continue
        unfinished = [rid for rid in rids if outcomes.get(rid) not in (Outcome.REDRIVEN, Outcome.DISCARDED)]
        missing = [rid for rid in unfinished if rid not in requeued]
        out.lost.extend(f"{message_id}/{rid} ({outcomes.get(rid)}): not finished, and not sent back" for rid in missing)
        if unfinished:
            out.split += 1
        else:
            out.finished += 1
    out.extra.extend(f"{n} x {body[:80]!r}: back more often than it was there" for body, n in unclaimed.items() if n)
    out.extra.extend(f"record {rid} sent back, but no message of the run names it" for rid in set(requeued) - named)
    return out


# --- one run ---------------------------------------------------------------------------------
def run_input(run: Run) -> dict[str, Any]:
    settings_: dict[str, Any] = {"rules": [DROP_TEST_EVENTS, AMOUNT_AS_NUMBER], "approval": {"skip": True}}
    if run.ending == "dry-run":
        settings_["dryRun"] = True
    if run.ending == "rejected":
        del settings_["approval"]
    if run.ending == "stop-in-redrive":
        settings_["redrive"] = {"ratePerSecond": 2, "concurrency": 1, "batchSize": 1}
    return settings_


def wait_until(what: str, condition: Callable[[], bool], engine: LocalEngine, timeout: float = FAULT_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def state_item(engine: LocalEngine, table: str, key: str) -> dict[str, Any] | None:
    item = engine.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True)
    return item.get("Item")


def completed_report(engine: LocalEngine, data: RunData) -> Report:
    """The run's report once Finalize or the reconciler completed it (schedules come round)."""
    deadline = time.monotonic() + REPORT_TIMEOUT
    stack = engine.stack_of(data.store.bucket)  # type: ignore[attr-defined]
    while time.monotonic() < deadline:
        report = data.report()
        if report is not None and report.completed:
            return report
        engine.fire_schedules(stack)
        time.sleep(0.1)
    raise AssertionError(f"no completed report for run {data.paths.run_id}")


def inject(run: Run, engine: LocalEngine, rehearsal: Rehearsal, arn: str) -> int:
    """StopExecution at AWS timing; returns the faults injected (0 when the run ended first)."""
    run_id = arn.rsplit(":", 1)[-1]
    table = rehearsal.stack.resources["RunStateTable"] if rehearsal.stack else ""
    bucket = rehearsal.outputs["RunBucketName"]
    sfn = engine.client("stepfunctions")
    if run.ending == "stop-in-collect":

        def collecting() -> bool:
            item = state_item(engine, table, f"run#{run_id}")
            return item is not None and int(item.get("pages", {}).get("N", "0")) >= 1

        wait_until("Collect's first page", collecting, engine)
    elif run.ending == "stop-in-redrive":
        wait_until("the first redrive result", lambda: bool(s3_keys(engine, bucket, f"runs/{run_id}/results/")), engine)
    else:
        return 0
    if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
        return 0
    sfn.stop_execution(executionArn=arn, error="ReliabilityFault", cause=run.ending)
    return 1


@pytest.fixture(autouse=True)
def _tallied(request: pytest.FixtureRequest) -> Iterator[None]:
    """This folder is not the reliability suite's, whose conftest moves a test's counts
    into the totals: do it here, the same way."""
    yield
    TALLY.close_test(expected_to_fail=request.node.get_closest_marker("xfail") is not None)


@pytest.mark.parametrize("run", RUNS, ids=[run.name for run in RUNS])
def test_generated_bodies_through_the_whole_workflow_lose_nothing(engine: LocalEngine, run: Run) -> None:
    bodies = generated_bodies(run.bodies, run.seed)
    assert len(bodies) == run.bodies
    rehearse(engine, run, bodies)


def refused_pointer(start: str, shard_id: str) -> str:
    """A DynamoDB Streams pointer whose start or shard id the SDK refuses to send."""
    arn = gen.dynamodb_arn("us-east-1", "123456789012", "elsewhere")
    body = gen.pointer_dict("dynamodb", arn, shard_id, int(start), int(start) + 3, 2, "arn:aws:lambda:x")
    return gen.dumps(body)


def test_a_pointer_whose_range_the_sdk_refuses_does_not_fail_the_run(engine: LocalEngine) -> None:
    """Found by the test above: a DynamoDB Streams sequence number shorter than 21 digits (or
    a shard id shorter than 28 characters) made GetShardIterator raise ParamValidationError,
    which failed Fetch, so one such message failed every run of its DLQ."""
    bodies = [
        refused_pointer("5", "shardId-00000001763781236915-4b0a9c2e"),
        refused_pointer("12345678901234567890123", "shard-1"),
    ]
    described, report = rehearse(engine, Run("refused-start", len(bodies), 0, "complete"), bodies)
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    assert report.counts.expired == 4


def rehearse(engine: LocalEngine, run: Run, bodies: list[str]) -> tuple[dict[str, Any], Report]:
    """One rehearsal with ``bodies`` added to its DLQ, ended as ``run`` says, then checked."""
    scenario = kinesis_scenario(stream_records(run), extraDlqMessages=bodies)
    approve = "reject" if run.ending == "rejected" else "auto"
    rehearsal = Rehearsal(scenario, trigger="manual", engine=engine, approve=approve)
    rehearsal.extra_parameters = {"AllowSkipApproval": "true"}
    rehearsal.prepare()
    outputs = rehearsal.outputs
    dlq_url = outputs["DeadLetterQueueUrl"]
    table = rehearsal.stack.resources["RunStateTable"] if rehearsal.stack else ""
    consumer = outputs["ExampleConsumerFunction"].rsplit(":", 1)[-1]
    before = queue_bodies(dlq_url)
    assert Counter(bodies) <= Counter(before), "every generated body reached the DLQ"

    with Deliveries(engine, consumer) as deliveries:
        arn = rehearsal.start(run_input(run))
        faults = inject(run, engine, rehearsal, arn)
        described = rehearsal.operator.wait(arn, drain_stream=False)
    run_id = arn.rsplit(":", 1)[-1]
    data = RunData(S3Store(engine.client("s3"), outputs["RunBucketName"]), RunPaths(run_id))
    report = completed_report(engine, data)
    rehearsal.operator.wait_settled(arn)
    after = queue_bodies(dlq_url)
    lease = state_item(engine, table, f"run#{run_id}") or {}
    pages = int(lease.get("pages", {}).get("N", "0"))

    ledger = check_ledger(before, after, data, report, pages)
    twice = [f"{stream}/{event_id} {n} times" for (stream, event_id), n in deliveries.accepted.items() if n > 1]
    ledger.delivered_twice.extend(twice)
    sink = {str(item.get("id")) for item in rehearsal.processed_by_consumer()}
    ours = [r for r in report.records if isinstance(r.data, dict) and str(r.data.get("id")).startswith(tag(run))]
    for row in ours:
        if row.outcome is Outcome.REDRIVEN and str(row.data["id"]) not in sink:
            ledger.lost.append(f"record {row.record_id}: reported redriven, not in the consumer's table")
    queue_arn = engine.client("sqs").get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    lock_key = f"lock#{queue_arn['Attributes']['QueueArn']}"
    if state_item(engine, table, lock_key) is not None:
        ledger.lock_leaks.append(f"{lock_key} still held after the run settled")
    if lease.get("status", {}).get("S") != "settled":
        ledger.lock_leaks.append(f"run#{run_id} is {lease.get('status')}, not settled")

    TALLY.current.inputs += len(before)
    TALLY.current.stacked += len(bodies)
    TALLY.current.faults += faults
    TALLY.current.lost += len(ledger.lost)
    TALLY.current.delivered_twice += len(ledger.delivered_twice)
    TALLY.current.lock_leaks += len(ledger.lock_leaks)

    problems = ledger.problems()
    assert not problems, f"{run.name} ({described['status']}, {report.mode}): " + "\n".join(problems[:20])
    expected_mode = {
        "complete": FinalizeMode.COMPLETE,
        "dry-run": FinalizeMode.DRY_RUN,
        "rejected": FinalizeMode.REJECTED,
    }.get(run.ending, FinalizeMode.RELEASE if faults else None)
    if expected_mode is not None:
        assert report.mode is expected_mode, (report.mode, described.get("error"), described.get("cause"))
    assert ledger.finished + ledger.split + ledger.returned == len(data.held_messages(pages))
    if run.ending == "complete" and run.name != "refused-start":
        redriven = {str(r.data["id"]) for r in ours if r.outcome is Outcome.REDRIVEN}
        assert {f"{tag(run)}fix-{i}" for i in range(6)} <= redriven, "the repaired records reached the consumer"
        assert ledger.finished and ledger.split, (ledger.finished, ledger.split, ledger.returned)
    return described, report
