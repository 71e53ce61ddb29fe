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

from .conftest import AMOUNT_AS_NUMBER, DROP_TEST_EVENTS, kinesis_scenario, run_id_of, s3_json, s3_keys, wait_for

MIXED = [
    {"partitionKey": "a", "data": {"id": "m-1", "amount": "5"}},  # repairable
    {"partitionKey": "b", "data": {"amount": 1}},  # unrepairable
    {"partitionKey": "c", "data": {"id": "m-3", "type": "test", "amount": "x"}},  # discardable
    {"partitionKey": "d", "data": {"id": "m-4", "amount": 4}},  # good
]


def prepared(
    engine: LocalEngine, records: list[dict[str, Any]], run: dict[str, Any] | None = None, **extra: Any
) -> Rehearsal:
    """A stack whose runs may skip approval (approval has its own tests), records written,
    the consumer's failures in the DLQ."""
    rehearsal = Rehearsal(kinesis_scenario(records, run, **extra), trigger="manual", engine=engine)
    rehearsal.extra_parameters = {"AllowSkipApproval": "true"}
    rehearsal.prepare()
    return rehearsal


def start(rehearsal: Rehearsal, run_input: dict[str, Any]) -> str:
    """Start by hand, without waiting for anyone's approval."""
    return rehearsal.start({**run_input, "approval": {"skip": True}})


def finished_report(engine: LocalEngine, bucket: str, run_id: str, timeout: float = 30) -> dict[str, Any]:
    """The run's report once Finalize (or the abort handler) has put the DLQ right."""
    deadline = time.monotonic() + timeout
    key = f"runs/{run_id}/report.json"
    while time.monotonic() < deadline:
        if key in s3_keys(engine, bucket, f"runs/{run_id}/"):
            report: dict[str, Any] = s3_json(engine, bucket, key)
            if report.get("completed"):
                return report
        time.sleep(0.05)
    raise AssertionError(f"no completed report for run {run_id}")


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


def test_a_failing_redrive_returns_every_message(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, MIXED)
    missing_queue = "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue"
    report = rehearsal.redrive({"redrive": {"target": "queue", "queueUrl": missing_queue}})
    assert report["execution"]["status"] == "FAILED"
    assert report["execution"]["error"] == "RedriveFailed"
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
    described = wait_for(engine, arn)
    assert described["status"] == "ABORTED", (described.get("error"), described.get("cause"))
    report = finished_report(engine, bucket, run_id)
    assert report["mode"] == "release"
    assert report["error"]["Error"] == "ExecutionAborted"
    redriven = [r for r in report["records"] if r["outcome"] == "redriven"]
    unfinished = [r for r in report["records"] if r["outcome"] != "redriven"]
    assert redriven and unfinished, "the abort came mid-redrive"
    after = queue_bodies(rehearsal.outputs["DeadLetterQueueUrl"])
    requeued = {json.loads(b)["streamRedrive"]["record"]["sequenceNumber"] for b in after if "streamRedrive" in b}
    returned_whole = [b for b in after if b in before]
    assert requeued == {r["sequenceNumber"] for r in unfinished} or returned_whole
    assert len(redriven) + len(requeued) + len(returned_whole) >= len(records)


# --- 2. At most one redrive of a batch per run -------------------------------------------


def test_a_batch_is_redriven_at_most_once_even_when_its_iteration_is_retried(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, MIXED[:1])
    report = rehearsal.redrive({"dryRun": True, "rules": [AMOUNT_AS_NUMBER]})
    run_state = json.loads(
        engine.client("stepfunctions").describe_execution(executionArn=report["execution"]["arn"])["output"]
    )["run"]
    redrive_fn = rehearsal.stack.resources["RedriveFunction"] if rehearsal.stack else ""
    consumer_fn = rehearsal.outputs["ExampleConsumerFunction"]
    lam = engine.client("lambda")
    before = engine.runtime.invocations[consumer_fn]
    answers = []
    for _ in range(2):  # the Map iteration, then its retry
        response = lam.invoke(FunctionName=redrive_fn, Payload=json.dumps({"run": run_state, "batchId": "b00001"}))
        answers.append(json.loads(response["Payload"].read()))
    assert engine.runtime.invocations[consumer_fn] == before + 1
    assert [a["repeated"] for a in answers] == [False, True]
    assert [a["failed"] for a in answers] == [0, 0]


def test_an_interrupted_batch_is_not_sent_again_and_its_records_are_failed(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, MIXED[:1])
    report = rehearsal.redrive({"dryRun": True})
    run_state = json.loads(
        engine.client("stepfunctions").describe_execution(executionArn=report["execution"]["arn"])["output"]
    )["run"]
    table = rehearsal.stack.resources["RunStateTable"] if rehearsal.stack else ""
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
    assert answer == {"batchId": "b00001", "repeated": True, "failed": 1}
    assert engine.runtime.invocations[consumer_fn] == before
    result = s3_json(engine, run_state["bucket"], f"runs/{run_state['runId']}/results/b00001.json")
    assert "interrupted" in next(iter(result["failed"].values()))


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
    described = wait_for(engine, second)
    assert described["status"] == "SUCCEEDED"
    state = json.loads(described["output"])
    assert state["run"]["locked"] is False
    assert state["run"]["lockHolder"] == first
    assert "collect" not in state, "the second run touched nothing"
    assert s3_keys(engine, bucket, f"runs/{second.rsplit(':', 1)[-1]}/") == []
    assert wait_for(engine, first)["status"] == "SUCCEEDED"
    report = s3_json(engine, bucket, f"runs/{first.rsplit(':', 1)[-1]}/report.json")
    assert report["counts"]["redriven"] == 3
    third = start(rehearsal, {})
    assert json.loads(wait_for(engine, third)["output"])["run"]["locked"] is True, "the lock was released"


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
        ({"rules": [{"python": "no_such_module.rules:thing"}]}, "no_such_module"),
        ({"dryRun": "sometimes"}, "dryRun"),
    ],
)
def test_invalid_input_fails_the_run_at_once_naming_the_field(
    run_input: dict[str, Any], names: str, engine: LocalEngine, prepared_once: Rehearsal
) -> None:
    before = queue_bodies(prepared_once.outputs["DeadLetterQueueUrl"])
    described = wait_for(engine, start(prepared_once, run_input))
    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidInput"
    assert names in described["cause"]
    assert "Traceback" not in described["cause"]
    assert Counter(queue_bodies(prepared_once.outputs["DeadLetterQueueUrl"])) == Counter(before)


def test_input_that_is_not_an_object_is_invalid(engine: LocalEngine, prepared_once: Rehearsal) -> None:
    arn = engine.client("stepfunctions").start_execution(
        stateMachineArn=prepared_once.outputs["StateMachineArn"], input="[1, 2]"
    )["executionArn"]
    described = wait_for(engine, arn)
    assert (described["status"], described["error"]) == ("FAILED", "InvalidInput"), described.get("cause")
    assert "JSON object" in described["cause"]
