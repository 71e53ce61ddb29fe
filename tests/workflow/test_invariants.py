"""DESIGN.md's invariants, each shown on the local stack through the real path."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from redrive_local.engine import LocalEngine
from redrive_local.inspect import queue_bodies
from redrive_local.rehearsal import Rehearsal
from tests.support.executions import wait_for_execution
from tests.support.rules import AMOUNT_AS_NUMBER, DROP_TEST_EVENTS

from .conftest import kinesis_scenario, run_id_of, s3_json, s3_keys

MIXED = [
    {"partitionKey": "a", "data": {"id": "m-1", "amount": "5"}},  # repairable
    {"partitionKey": "b", "data": {"amount": 1}},  # unrepairable
    {"partitionKey": "c", "data": {"id": "m-3", "type": "test", "amount": "x"}},  # discardable
    {"partitionKey": "d", "data": {"id": "m-4", "amount": 4}},  # good
]


RULE_MODULE = "tests.support.rule_module"


def prepared(
    engine: LocalEngine,
    records: list[dict[str, Any]],
    run: dict[str, Any] | None = None,
    parameters: dict[str, str] | None = None,
    **extra: Any,
) -> Rehearsal:
    """A stack whose runs may skip approval (approval has its own tests) and that lists
    the test rule module (and ``parameters``), records written, the consumer's failures in the DLQ."""
    rehearsal = Rehearsal(kinesis_scenario(records, run, **extra), trigger="manual", engine=engine)
    rehearsal.extra_parameters = {"AllowSkipApproval": "true", "RuleModules": RULE_MODULE, **(parameters or {})}
    rehearsal.prepare()
    return rehearsal


def start(rehearsal: Rehearsal, run_input: dict[str, Any]) -> str:
    """Start by hand, without waiting for anyone's approval."""
    return rehearsal.start({**run_input, "approval": {"skip": True}})


def finished_report(engine: LocalEngine, bucket: str, run_id: str, timeout: float = 30) -> dict[str, Any]:
    """The run's report once Finalize (or the reconciler) has put the DLQ right; the
    reconciler's schedule comes round while we wait, as it would on AWS."""
    deadline = time.monotonic() + timeout
    key = f"runs/{run_id}/report.json"
    stack = engine.stack_of(bucket)
    while time.monotonic() < deadline:
        if key in s3_keys(engine, bucket, f"runs/{run_id}/"):
            report: dict[str, Any] = s3_json(engine, bucket, key)
            if report.get("completed"):
                return report
        engine.fire_schedules(stack)
        time.sleep(0.1)
    logs = [log for name, log in engine.runtime.logs if "Reconcile" in name][-3:]
    raise AssertionError(f"no completed report for run {run_id}; the reconciler said: {logs}")


# --- 1. Nothing is lost ------------------------------------------------------------------


def test_a_dry_run_plans_and_returns_every_message_as_it_was(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, MIXED, extraDlqMessages=["not a pointer"])
    report = rehearsal.redrive({"dryRun": True, "rules": [DROP_TEST_EVENTS, AMOUNT_AS_NUMBER]})
    assert report["execution"]["status"] == "SUCCEEDED"
    assert Counter(report["dlq"]["after"]) == Counter(report["dlq"]["before"])
    assert {r["outcome"] for r in report["records"]} == {"planned"}
    assert {r["rule"] for r in report["records"]} == {"amount-as-number", "drop-test-events", None}
    assert [item["id"] for item in report["consumer"]["processed"]] == ["m-4"], "nothing was redriven"
    plan = s3_json(engine, rehearsal.outputs["RunBucketName"], f"runs/{run_id_of(report)}/plan.json")
    assert plan["summary"]["byAction"] == {"redrive": 2, "discard": 1}


def test_a_python_rule_registered_by_the_stacks_rule_modules(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, MIXED)
    report = rehearsal.redrive({"dryRun": True, "rules": [{"python": "drop-test-orders"}]})
    assert report["execution"]["status"] == "SUCCEEDED", report["execution"].get("cause")
    decided = [(r["data"]["id"], r["rule"], r["reason"]) for r in report["records"] if r["rule"]]
    assert decided == [("m-3", "drop-test-orders", "a test order, dropped by a registered Python rule")]


def test_a_failing_redrive_returns_every_message(engine: LocalEngine) -> None:
    missing_queue = "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue"
    # The stack allows the queue (IAM and Prepare would refuse it otherwise); it does not exist.
    rehearsal = prepared(
        engine, MIXED, parameters={"RedriveQueueArn": "arn:aws:sqs:us-east-1:123456789012:no-such-queue"}
    )
    report = rehearsal.redrive({"redrive": {"target": "queue", "queueUrl": missing_queue}})
    assert report["execution"]["status"] == "FAILED"
    assert report["execution"]["error"] == "RedriveFailed"
    cause = report["execution"]["cause"]
    assert "\n" not in cause and "stackTrace" not in cause and "/work/" not in cause, "one line, no stack trace"
    assert "QueueDoesNotExist" in report["execution"]["cause"] or "NonExistentQueue" in report["execution"]["cause"]
    assert Counter(report["dlq"]["after"]) == Counter(report["dlq"]["before"])
    run_report = s3_json(engine, rehearsal.outputs["RunBucketName"], f"runs/{run_id_of(report)}/report.json")
    assert run_report["mode"] == "release"
    assert run_report["counts"]["returnedMessages"] == len(report["dlq"]["before"])


def test_an_aborted_run_returns_what_it_did_not_finish(engine: LocalEngine) -> None:
    records = [{"partitionKey": f"p{i}", "data": {"id": f"ab-{i}", "amount": str(i)}} for i in range(6)]
    rehearsal = prepared(engine, records)
    before = queue_bodies(rehearsal.outputs["DeadLetterQueueUrl"])
    slow = {"rules": [AMOUNT_AS_NUMBER], "redrive": {"ratePerSecond": 2, "concurrency": 1, "batchSize": 1}}
    arn = start(rehearsal, slow)
    run_id = arn.rsplit(":", 1)[-1]
    bucket = rehearsal.outputs["RunBucketName"]
    deadline = time.monotonic() + 30
    while not s3_keys(engine, bucket, f"runs/{run_id}/results/") and time.monotonic() < deadline:
        time.sleep(0.05)
    engine.client("stepfunctions").stop_execution(executionArn=arn, error="OperatorAbort", cause="test")
    described = wait_for_execution(engine.client("stepfunctions"), arn)
    assert described["status"] == "ABORTED", (described.get("error"), described.get("cause"))
    report = finished_report(engine, bucket, run_id)
    assert report["mode"] == "release"
    assert report["error"]["Error"] == "ExecutionAborted"

    # Every record written has exactly one outcome, and an abort leaves only two.
    outcome_of = {r["sequenceNumber"]: r["outcome"] for r in report["records"]}
    assert len(outcome_of) == len(report["records"]) == len(records), "one outcome per record"
    assert set(outcome_of) == {sequence for _, sequence in rehearsal.written}
    assert set(outcome_of.values()) <= {"redriven", "failed"}
    redriven = {sequence for sequence, outcome in outcome_of.items() if outcome == "redriven"}
    assert redriven and redriven != set(outcome_of), "the abort came mid-redrive"
    processed = {item["id"] for item in rehearsal.processed_by_consumer()}
    assert {r["data"]["id"] for r in report["records"] if r["outcome"] == "redriven"} <= processed

    # What the DLQ holds now: whole messages put back as they were, and records re-queued
    # one by one (from messages of which some records finished).
    after = queue_bodies(rehearsal.outputs["DeadLetterQueueUrl"])
    requeued = [json.loads(b)["streamRedrive"]["record"]["sequenceNumber"] for b in after if "streamRedrive" in b]
    whole = [b for b in after if "streamRedrive" not in b]
    assert len(requeued) == len(set(requeued)), "a record is re-queued at most once"
    assert not redriven & set(requeued), "a record redriven is never also re-queued"

    covered = {body: records_in_pointer(body, outcome_of) for body in before}
    assert all(covered.values()), "every message of the DLQ held records of the stream"
    for body in whole:
        assert not covered[body] & redriven, "a message put back whole holds no record that was redriven"
    finished = [b for b in before if covered[b] <= redriven]
    partly = [b for b in before if covered[b] & redriven and not covered[b] <= redriven]
    untouched = [b for b in before if not covered[b] & redriven]
    assert Counter(whole) == Counter(untouched), "a message none of whose records finished goes back as it was"
    assert Counter(whole) + Counter(finished) + Counter(partly) == Counter(before)
    assert set(requeued) == {s for b in partly for s in covered[b] - redriven}


def records_in_pointer(body: str, outcome_of: dict[str, str]) -> set[str]:
    """The sequence numbers of the run's records that a Kinesis failure pointer covers (one shard)."""
    info = json.loads(body)["KinesisBatchInfo"]
    start, end = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
    return {sequence for sequence in outcome_of if start <= int(sequence) <= end}


# --- 2. At most one redrive of a batch per run -------------------------------------------


def reopen_lease(engine: LocalEngine, rehearsal: Rehearsal, run_id: str) -> None:
    """The run's lease open again, as it is while the Redrive state runs (once the functions
    the execution's end started, the reconciler's among them, have returned)."""
    assert engine.runtime.wait_idle(timeout=30)
    table = rehearsal.stack.resources["RunStateTable"] if rehearsal.stack else ""
    engine.client("dynamodb").update_item(
        TableName=table,
        Key={"pk": {"S": f"run#{run_id}"}},
        UpdateExpression="SET #s = :open",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":open": {"S": "open"}},
    )


def test_a_batch_is_redriven_at_most_once_even_when_its_iteration_is_retried(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, MIXED[:1])
    report = rehearsal.redrive({"dryRun": True, "rules": [AMOUNT_AS_NUMBER]})
    run_state = json.loads(
        engine.client("stepfunctions").describe_execution(executionArn=report["execution"]["arn"])["output"]
    )["run"]
    reopen_lease(engine, rehearsal, run_state["runId"])
    redrive_fn = rehearsal.stack.resources["RedriveFunction"] if rehearsal.stack else ""
    consumer_fn = rehearsal.outputs["ExampleConsumerFunction"]
    lam = engine.client("lambda")
    before = engine.runtime.invocations[consumer_fn]
    answers = []
    for _ in range(2):  # the Map iteration, then its retry
        response = lam.invoke(FunctionName=redrive_fn, Payload=json.dumps({"run": run_state, "batchId": "b00001"}))
        answers.append(json.loads(response["Payload"].read()))
    assert engine.runtime.invocations[consumer_fn] == before + 1, answers
    assert [a["repeated"] for a in answers] == [False, True]
    assert [a["failed"] for a in answers] == [0, 0]


def test_an_interrupted_batch_is_not_sent_again_and_its_records_are_failed(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, MIXED[:1])
    report = rehearsal.redrive({"dryRun": True})
    run_state = json.loads(
        engine.client("stepfunctions").describe_execution(executionArn=report["execution"]["arn"])["output"]
    )["run"]
    table = rehearsal.stack.resources["RunStateTable"] if rehearsal.stack else ""
    reopen_lease(engine, rehearsal, run_state["runId"])
    engine.client("dynamodb").put_item(
        TableName=table, Item={"pk": {"S": f"batch#{run_state['runId']}#b00001"}, "status": {"S": "started"}}
    )
    consumer_fn = rehearsal.outputs["ExampleConsumerFunction"]
    before = engine.runtime.invocations[consumer_fn]
    redrive_fn = rehearsal.stack.resources["RedriveFunction"] if rehearsal.stack else ""
    response = engine.client("lambda").invoke(
        FunctionName=redrive_fn, Payload=json.dumps({"run": run_state, "batchId": "b00001"})
    )
    answer = json.loads(response["Payload"].read())
    assert answer == {
        "batchId": "b00001",
        "repeated": True,
        "failed": 1,
        "fenced": False,
        "waitSeconds": 0,
        "slotStart": None,
    }
    assert engine.runtime.invocations[consumer_fn] == before
    result = s3_json(engine, run_state["bucket"], f"runs/{run_state['runId']}/results/b00001.json")
    assert "interrupted" in next(iter(result["failed"].values()))


def test_a_redrive_still_running_after_its_run_ended_sends_nothing(engine: LocalEngine) -> None:
    """Fencing: StopExecution does not stop a running Lambda on AWS; once the run's lease is
    closed, a Redrive invocation for it claims nothing and sends nothing."""
    rehearsal = prepared(engine, MIXED[:1])
    report = rehearsal.redrive({"dryRun": True, "rules": [AMOUNT_AS_NUMBER]})
    run_state = json.loads(
        engine.client("stepfunctions").describe_execution(executionArn=report["execution"]["arn"])["output"]
    )["run"]
    consumer_fn = rehearsal.outputs["ExampleConsumerFunction"]
    before = engine.runtime.invocations[consumer_fn]
    redrive_fn = rehearsal.stack.resources["RedriveFunction"] if rehearsal.stack else ""
    response = engine.client("lambda").invoke(
        FunctionName=redrive_fn, Payload=json.dumps({"run": run_state, "batchId": "b00001"})
    )
    assert json.loads(response["Payload"].read()) == {
        "batchId": "b00001",
        "repeated": False,
        "failed": 0,
        "fenced": True,
        "waitSeconds": 0,
        "slotStart": None,
    }
    assert engine.runtime.invocations[consumer_fn] == before


# --- 3. One run per DLQ at a time --------------------------------------------------------


def test_a_second_run_on_the_same_dlq_ends_cleanly_and_says_why(engine: LocalEngine) -> None:
    records = [{"partitionKey": f"p{i}", "data": {"id": f"lk-{i}", "amount": str(i)}} for i in range(3)]
    rehearsal = prepared(engine, records)
    first = start(
        rehearsal, {"rules": [AMOUNT_AS_NUMBER], "redrive": {"ratePerSecond": 3, "concurrency": 1, "batchSize": 1}}
    )
    bucket = rehearsal.outputs["RunBucketName"]
    deadline = time.monotonic() + 30
    while not s3_keys(engine, bucket, f"runs/{first.rsplit(':', 1)[-1]}/run.json") and time.monotonic() < deadline:
        time.sleep(0.05)
    second = start(rehearsal, {"rules": [AMOUNT_AS_NUMBER]})
    described = wait_for_execution(engine.client("stepfunctions"), second)
    assert described["status"] == "SUCCEEDED"
    state = json.loads(described["output"])
    assert state["run"]["locked"] is False
    assert state["run"]["lockHolder"] == first
    assert "collect" not in state, "the second run touched nothing"
    assert s3_keys(engine, bucket, f"runs/{second.rsplit(':', 1)[-1]}/") == []
    assert wait_for_execution(engine.client("stepfunctions"), first)["status"] == "SUCCEEDED"
    report = s3_json(engine, bucket, f"runs/{first.rsplit(':', 1)[-1]}/report.json")
    assert report["counts"]["redriven"] == 3
    third = start(rehearsal, {})
    assert json.loads(wait_for_execution(engine.client("stepfunctions"), third)["output"])["run"]["locked"] is True, (
        "the lock was released"
    )


# --- 4. Record bodies never travel in the state payload ------------------------------------


def test_record_bodies_never_travel_in_the_state(engine: LocalEngine) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    records = [{"partitionKey": "k", "data": {"id": f"s-{i}", "amount": f"{i}", "note": marker}} for i in range(4)]
    rehearsal = prepared(engine, records)
    report = rehearsal.redrive({"rules": [AMOUNT_AS_NUMBER], "redrive": {"batchSize": 2}})
    assert report["counts"]["redriven"] == 4
    history = engine.client("stepfunctions").get_execution_history(
        executionArn=report["execution"]["arn"], maxResults=1000
    )["events"]
    assert len(history) > 10
    assert marker not in json.dumps(history, default=str)


# --- 5. Bad input gets a clear, named error ------------------------------------------------


def test_two_spellings_of_one_queue_url_are_one_lock(engine: LocalEngine) -> None:
    """The lock is keyed by the queue's ARN: the legacy ``queue.amazonaws.com`` URL of the
    same queue does not open a second run that would split its messages."""
    records = [{"partitionKey": f"p{i}", "data": {"id": f"sp-{i}", "amount": str(i)}} for i in range(3)]
    rehearsal = prepared(engine, records)
    url = rehearsal.outputs["DeadLetterQueueUrl"]
    account, name = url.rstrip("/").rsplit("/", 2)[-2:]
    legacy = f"https://queue.amazonaws.com/{account}/{name}"
    slow = {"rules": [AMOUNT_AS_NUMBER], "redrive": {"ratePerSecond": 3, "concurrency": 1, "batchSize": 1}}
    first = start(rehearsal, {**slow, "dlqUrl": url})
    bucket = rehearsal.outputs["RunBucketName"]
    deadline = time.monotonic() + 30
    while not s3_keys(engine, bucket, f"runs/{first.rsplit(':', 1)[-1]}/run.json") and time.monotonic() < deadline:
        time.sleep(0.05)
    second = start(rehearsal, {"dlqUrl": legacy})
    described = wait_for_execution(engine.client("stepfunctions"), second)
    assert json.loads(described["output"])["run"]["lockHolder"] == first
    assert wait_for_execution(engine.client("stepfunctions"), first)["status"] == "SUCCEEDED"


def test_an_override_iam_does_not_grant_is_refused_in_prepare(engine: LocalEngine, prepared_once: Rehearsal) -> None:
    """dlqUrl and redrive.functionName name only what the stack's parameters let IAM grant
    (AllowedDlqArns, AllowedConsumerFunctionArns): anything else fails the run at once in
    Prepare, named, holding nothing, rather than AccessDenied after the DLQ was emptied."""
    sqs = engine.client("sqs")
    elsewhere = sqs.create_queue(QueueName=f"elsewhere-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.send_message(QueueUrl=elsewhere, MessageBody="not this stack's")
    before = queue_bodies(prepared_once.outputs["DeadLetterQueueUrl"])
    for run_input, named in (
        ({"dlqUrl": elsewhere}, "AllowedDlqArns"),
        ({"redrive": {"functionName": "someone-elses-function"}}, "AllowedConsumerFunctionArns"),
    ):
        described = wait_for_execution(engine.client("stepfunctions"), start(prepared_once, run_input))
        assert (described["status"], described["error"]) == ("FAILED", "InvalidInput")
        assert named in described["cause"]
    assert queue_bodies(prepared_once.outputs["DeadLetterQueueUrl"]) == before
    assert queue_bodies(elsewhere) == ["not this stack's"]


def test_a_fifo_queue_as_dlq_is_refused_before_anything_is_touched(engine: LocalEngine) -> None:
    """Failure records go to standard queues, and a message cannot go back to a FIFO queue
    without a group id: a FIFO ``dlqUrl`` fails the run at once, named, holding nothing."""
    sqs = engine.client("sqs")
    fifo = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    fifo_arn = sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rehearsal = prepared(engine, MIXED[:1], parameters={"AllowedDlqArns": fifo_arn})  # allowed, yet FIFO
    before = queue_bodies(rehearsal.outputs["DeadLetterQueueUrl"])
    described = wait_for_execution(engine.client("stepfunctions"), start(rehearsal, {"dlqUrl": fifo}))
    assert (described["status"], described["error"]) == ("FAILED", "InvalidInput")
    assert "FIFO queue" in described["cause"]
    assert queue_bodies(rehearsal.outputs["DeadLetterQueueUrl"]) == before


@pytest.fixture(scope="module")
def prepared_once(engine: LocalEngine) -> Rehearsal:
    return prepared(engine, MIXED)


@pytest.mark.parametrize(
    ("run_input", "names"),
    [
        ({"redrive": {"target": "carrier-pigeon"}}, "redrive.target"),
        ({"maxMessages": 0}, "maxMessages"),
        ({"colour": "red"}, "colour: is not a known field"),
        ({"redrive": {"target": "queue"}}, "queueUrl"),
        ({"rules": [{"name": "r", "when": "data.(", "action": "discard", "reason": "x"}]}, "rules[0]"),
        ({"rules": [{"name": "r", "when": "true", "action": "explode"}]}, "action"),
        ({"rules": [{"python": "no_such_module.rules:thing"}]}, "import paths are not accepted"),
        ({"rules": [{"python": f"{RULE_MODULE}:drop_test_orders"}]}, "import paths are not accepted"),
        ({"rules": [{"python": "drop-test-order"}]}, "known rules: discard-unparseable, drop-test-orders"),
        ({"dryRun": "sometimes"}, "dryRun"),
        ({"redrive": {"ratePerSecond": 0.001}}, "redrive.batchSize, redrive.concurrency, redrive.ratePerSecond"),
    ],
)
def test_invalid_input_fails_the_run_at_once_naming_the_field(
    run_input: dict[str, Any], names: str, engine: LocalEngine, prepared_once: Rehearsal
) -> None:
    before = queue_bodies(prepared_once.outputs["DeadLetterQueueUrl"])
    described = wait_for_execution(engine.client("stepfunctions"), start(prepared_once, run_input))
    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidInput"
    assert names in described["cause"]
    assert "Traceback" not in described["cause"]
    assert Counter(queue_bodies(prepared_once.outputs["DeadLetterQueueUrl"])) == Counter(before)


def test_input_that_is_not_an_object_is_invalid(engine: LocalEngine, prepared_once: Rehearsal) -> None:
    arn = engine.client("stepfunctions").start_execution(
        stateMachineArn=prepared_once.outputs["StateMachineArn"], input="[1, 2]"
    )["executionArn"]
    described = wait_for_execution(engine.client("stepfunctions"), arn)
    assert (described["status"], described["error"]) == ("FAILED", "InvalidInput"), described.get("cause")
    assert "JSON object" in described["cause"]
