"""Faults at AWS timing, through the real template, state machine and functions: after each
one the run's ledger balances (README: "Nothing is lost").

After every fault, once the run is settled:

- Counter(DLQ messages after) + Counter(messages whose records all finished)
  == Counter(DLQ messages before), bodies and message attributes alike;
- no stream record reached the consumer twice in the run;
- the DLQ's lock is free: a second run on the same DLQ takes it.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from moto.s3.exceptions import S3ClientError
from moto.s3.models import S3Backend
from moto.sqs.exceptions import SQSException
from moto.sqs.models import SQSBackend

from redrive_local.engine import LocalEngine
from redrive_local.rehearsal import Rehearsal
from tests.support.executions import wait_for_execution
from tests.support.faults import Fault, dlq_messages, injected, lease_item, wait_until
from tests.support.rules import AMOUNT_AS_NUMBER

from .conftest import s3_json, s3_keys
from .test_invariants import finished_report, prepared, records_in_pointer, start

Ledger = Counter[tuple[str, str]]

ATTRIBUTES = {
    "tenant": {"DataType": "String", "StringValue": "acme"},
    "tries": {"DataType": "Number", "StringValue": "3"},
}


def poison(count: int, prefix: str) -> list[dict[str, Any]]:
    """Records the consumer gives up on (amount as text) and AMOUNT_AS_NUMBER repairs."""
    return [
        {"partitionKey": f"{prefix}{i}", "data": {"id": f"{prefix}-{i}", "amount": str(i + 1)}} for i in range(count)
    ]


def run_id(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


def resource(rehearsal: Rehearsal, name: str) -> str:
    assert rehearsal.stack is not None
    return rehearsal.stack.resources[name]


def add_messages(engine: LocalEngine, queue_url: str, bodies: list[str], attributes: dict[str, Any]) -> None:
    """More messages in the DLQ, ten a call, each with ``attributes``."""
    sqs = engine.client("sqs")
    for begin in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": body, **({"MessageAttributes": attributes} if attributes else {})}
            for i, body in enumerate(bodies[begin : begin + 10])
        ]
        assert not sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")


def requeued_records(after: Ledger) -> Counter[str]:
    """The sequence numbers of the records the run sent back one by one, self-contained."""
    return Counter(
        json.loads(body)["streamRedrive"]["record"]["sequenceNumber"]
        for body, _ in after.elements()
        if "streamRedrive" in body
    )


def assert_balanced(before: Ledger, after: Ledger, report: dict[str, Any]) -> None:
    """The ledger once the run is settled. Each record of the run is in exactly one place:
    finished (redriven or discarded), back in the DLQ on its own (once), or inside a
    message back in the DLQ as it was. So Counter(after, whole) + Counter(finished
    messages) == Counter(before): nothing lost, nothing sent back twice."""
    outcome_of = {r["sequenceNumber"]: r["outcome"] for r in report.get("records", []) if r.get("sequenceNumber")}
    done = {sequence for sequence, outcome in outcome_of.items() if outcome in ("redriven", "discarded")}
    requeued = requeued_records(after)
    assert all(n == 1 for n in requeued.values()), f"a record is back twice: {requeued}"
    assert not done & set(requeued), "a record finished is also back in the DLQ"
    assert all(outcome_of.get(s) == "failed" for s in requeued), "only failed records go back on their own"
    whole: Ledger = Counter({key: n for key, n in after.items() if "streamRedrive" not in key[0]})
    finished: Ledger = Counter()
    for key, times in before.items():
        covered = records_in_pointer(key[0], outcome_of) if "KinesisBatchInfo" in key[0] else set()
        if key in whole:
            assert not covered & (done | set(requeued)), "a message back as it was holds a record that is not"
        elif covered and covered <= done | set(requeued):
            finished[key] += times
    missing = before - (whole + finished)
    extra = (whole + finished) - before
    assert not missing and not extra, (
        f"lost: {sorted(missing)[:2]} ({sum(missing.values())}), extra: {sorted(extra)[:2]}"
    )


def assert_lock_free(engine: LocalEngine, rehearsal: Rehearsal) -> None:
    """A second run on the same DLQ takes its lock (a dry run of one message, which puts
    it back as it was)."""
    dlq_url = rehearsal.outputs["DeadLetterQueueUrl"]
    before = dlq_messages(dlq_url)
    arn = start(rehearsal, {"dryRun": True, "maxMessages": 1})
    described = wait_for_execution(engine.client("stepfunctions"), arn, timeout=30)
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    run = json.loads(described["output"])["run"]
    assert run["locked"] is True, f"the DLQ lock is still held by {run.get('lockHolder')}"
    rehearsal.operator.wait_settled(arn, timeout=30)
    assert dlq_messages(dlq_url) == before


def consumer_calls(engine: LocalEngine, rehearsal: Rehearsal) -> int:
    return engine.runtime.invocations[rehearsal.outputs["ExampleConsumerFunction"]]


# --- 6. A retried Finalize ----------------------------------------------------------------


def finalize_event(engine: LocalEngine, execution_arn: str) -> dict[str, Any]:
    """The event the Finalize state gave the Finalize function, from the execution history."""
    history = engine.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)
    entered = [e for e in history["events"] if e["type"] == "TaskStateEntered"]
    names = [e["stateEnteredEventDetails"]["name"] for e in entered]
    scheduled = [e for e in history["events"] if e["type"] in ("TaskScheduled", "LambdaFunctionScheduled")]
    assert "Finalize" in names, names
    details = scheduled[-1].get("taskScheduledEventDetails") or scheduled[-1].get("lambdaFunctionScheduledEventDetails")
    event: dict[str, Any] = json.loads(details["parameters"] if "parameters" in details else details["input"])
    return event


def test_a_retried_finalize_or_release_after_a_successful_run_sends_nothing_twice(engine: LocalEngine) -> None:
    records = [*poison(2, "rf"), {"partitionKey": "x", "data": {"amount": 1}}]  # the last fails again: no id
    rehearsal = prepared(engine, records)
    dlq_url = rehearsal.outputs["DeadLetterQueueUrl"]
    before = dlq_messages(dlq_url)
    calls = consumer_calls(engine, rehearsal)
    # One record a batch: each record reaches the consumer once (a failing batch of more is bisected).
    arn = start(rehearsal, {"rules": [AMOUNT_AS_NUMBER], "redrive": {"batchSize": 1, "ratePerSecond": 50}})
    assert wait_for_execution(engine.client("stepfunctions"), arn, timeout=30)["status"] == "SUCCEEDED"
    bucket = rehearsal.outputs["RunBucketName"]
    report = finished_report(engine, bucket, run_id(arn))
    assert (report["counts"]["redriven"], report["counts"]["failed"]) == (2, 1)
    settled = dlq_messages(dlq_url)
    requeued = [body for body, _ in settled if "streamRedrive" in body]
    assert len(requeued) == 1, "the record that failed again is back, self-contained"
    assert consumer_calls(engine, rehearsal) == calls + 3

    event = finalize_event(engine, arn)
    assert event["mode"] == "complete"
    finalize_fn = resource(rehearsal, "FinalizeFunction")
    lam = engine.client("lambda")
    for retried in (
        event,
        {"run": event["run"], "mode": "release", "error": {"Error": "States.Timeout", "Cause": "x"}},
    ):
        answer = lam.invoke(FunctionName=finalize_fn, Payload=json.dumps(retried))
        output = json.loads(answer["Payload"].read())
        assert "FunctionError" not in answer, output
        assert output["mode"] == "complete", "the run's settled report stands"
        assert dlq_messages(dlq_url) == settled, f"a retried {retried['mode']} sent something again"
    assert s3_json(engine, bucket, f"runs/{run_id(arn)}/report.json") == report
    assert consumer_calls(engine, rehearsal) == calls + 3
    assert_balanced(before, settled, report)
    assert_lock_free(engine, rehearsal)


# --- 4. Prepare fails after taking the DLQ lock -------------------------------------------


class AccessDenied(S3ClientError):
    """S3's 403, which the SDK does not retry."""

    def __init__(self) -> None:
        super().__init__("AccessDenied", "Access Denied (a fault injected by the test)")


def test_a_prepare_that_fails_after_taking_the_lock_leaves_it_to_the_reconciler(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, poison(2, "pf"))
    dlq_url = rehearsal.outputs["DeadLetterQueueUrl"]
    before = dlq_messages(dlq_url)
    bucket = rehearsal.outputs["RunBucketName"]
    run_json = Fault(
        S3Backend,
        "put_object",
        AccessDenied,
        times=1,
        matches=lambda bucket_name, key_name, *a, **k: bucket_name == bucket and key_name.endswith("/run.json"),
    )
    with injected(run_json):
        arn = start(rehearsal, {"rules": [AMOUNT_AS_NUMBER]})
        described = wait_for_execution(engine.client("stepfunctions"), arn, timeout=30)
    assert run_json.failed == 1
    assert described["status"] == "FAILED", described.get("output")
    assert "AccessDenied" in (described.get("cause") or "") + (described.get("error") or "")
    assert s3_keys(engine, bucket, f"runs/{run_id(arn)}/") == [], "Prepare wrote nothing"
    rehearsal.operator.wait_settled(arn, timeout=30)
    lease = lease_item(engine, resource(rehearsal, "RunStateTable"), run_id(arn))
    assert lease is not None and lease["status"]["S"] == "settled"
    assert dlq_messages(dlq_url) == before, "the run held nothing"
    assert_lock_free(engine, rehearsal)


# --- 1. StopExecution while Collect receives and deletes -----------------------------------


def test_a_stop_while_collect_receives_and_deletes_loses_nothing(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, poison(3, "sc"))
    dlq_url = rehearsal.outputs["DeadLetterQueueUrl"]
    pointers = [body for body, _ in dlq_messages(dlq_url)]
    assert len(pointers) == 3
    # 300 more: copies of the consumer's pointers, and messages no run understands, with attributes.
    add_messages(engine, dlq_url, [pointers[i % 3] for i in range(150)], {})
    add_messages(engine, dlq_url, [f'{{"note": "not a pointer {i}"}}' for i in range(130)], {})
    add_messages(engine, dlq_url, [f'{{"note": "with attributes {i}"}}' for i in range(20)], ATTRIBUTES)
    before = dlq_messages(dlq_url)
    assert sum(before.values()) == 303
    calls = consumer_calls(engine, rehearsal)
    table, bucket = resource(rehearsal, "RunStateTable"), rehearsal.outputs["RunBucketName"]

    arn = start(rehearsal, {"rules": [AMOUNT_AS_NUMBER]})
    run = run_id(arn)

    def holds_a_page() -> bool:
        lease = lease_item(engine, table, run)
        return lease is not None and int(lease.get("pages", {}).get("N", "0")) >= 1

    wait_until(holds_a_page, "the run's lease registers a page", interval=0.02)
    sfn = engine.client("stepfunctions")
    sfn.stop_execution(executionArn=arn, error="OperatorAbort", cause="fault test")
    # AWS timing: the execution has ended at once, while its Collect Lambda goes on.
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    manifest = f"runs/{run}/manifest.json"
    assert manifest not in s3_keys(engine, bucket, f"runs/{run}/"), "Collect was still receiving at the stop"

    report = finished_report(engine, bucket, run)
    assert report["mode"] == "release"
    assert report["error"]["Error"] == "ExecutionAborted"
    # The Collect Lambda goes on after the stop (AWS timing) until its lease is fenced; it
    # writes the manifest once it has stopped receiving and deleting.
    wait_until(lambda: manifest in s3_keys(engine, bucket, f"runs/{run}/"), "Collect ends", interval=0.05)
    held = report["counts"]["dlqMessages"]
    # The stop came mid-collect (no manifest yet, above); how many pages Collect registered
    # before the fence closed depends on the machine, all of them included.
    assert 10 <= held <= 303, f"the run held {held}"
    assert report["counts"]["returnedMessages"] == held
    assert_balanced(before, dlq_messages(dlq_url), report)
    assert dlq_messages(dlq_url) == before, "nothing finished: every message is back as it was"
    assert consumer_calls(engine, rehearsal) == calls, "nothing was redriven"
    assert_lock_free(engine, rehearsal)


# --- 2. StopExecution while a batch is being sent -----------------------------------------


def test_a_stop_while_a_batch_is_sent_counts_the_batch_in_flight(engine: LocalEngine) -> None:
    records = poison(6, "sb")
    rehearsal = prepared(engine, records)
    dlq_url = rehearsal.outputs["DeadLetterQueueUrl"]
    add_messages(engine, dlq_url, ['{"note": "kept with its attributes"}'], ATTRIBUTES)
    before = dlq_messages(dlq_url)
    calls = consumer_calls(engine, rehearsal)
    bucket = rehearsal.outputs["RunBucketName"]
    slow = {"rules": [AMOUNT_AS_NUMBER], "redrive": {"ratePerSecond": 2, "concurrency": 1, "batchSize": 1}}
    arn = start(rehearsal, slow)
    run = run_id(arn)
    wait_until(lambda: s3_keys(engine, bucket, f"runs/{run}/results/"), "the first batch's result", interval=0.005)
    engine.client("stepfunctions").stop_execution(executionArn=arn, error="OperatorAbort", cause="fault test")
    assert wait_for_execution(engine.client("stepfunctions"), arn, timeout=30)["status"] == "ABORTED"

    report = finished_report(engine, bucket, run)
    assert report["mode"] == "release"
    outcome_of = {r["sequenceNumber"]: r["outcome"] for r in report["records"]}
    assert set(outcome_of) == {sequence for _, sequence in rehearsal.written}, "every record has one outcome"
    redriven = {r["batchId"] for r in report["records"] if r["outcome"] == "redriven"}
    assert redriven and len(redriven) < len(records), "the stop came mid-redrive"
    # Every batch sent, the one in flight at the stop too, has its result and counts.
    results = {key.rsplit("/", 1)[-1].removesuffix(".json") for key in s3_keys(engine, bucket, f"runs/{run}/results/")}
    assert results == redriven, "a batch sent is a batch counted"
    assert consumer_calls(engine, rehearsal) == calls + len(redriven), "each record reached the consumer once"
    processed = {item["id"] for item in rehearsal.processed_by_consumer()}
    assert {r["data"]["id"] for r in report["records"] if r["outcome"] == "redriven"} <= processed
    assert_balanced(before, dlq_messages(dlq_url), report)
    assert_lock_free(engine, rehearsal)


# --- 3. A DLQ send that fails during settle -----------------------------------------------


class KmsAccessDenied(SQSException):
    """SQS's 400 when the queue's KMS key may not be used, which the SDK does not retry."""

    def __init__(self) -> None:
        super().__init__("KmsAccessDenied", "KMS access denied (a fault injected by the test)")


def test_a_dlq_send_that_fails_during_settle_is_completed_by_the_schedule(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, poison(3, "ds"))
    dlq_url = rehearsal.outputs["DeadLetterQueueUrl"]
    add_messages(engine, dlq_url, ['{"note": "kept with its attributes"}'], ATTRIBUTES)
    before = dlq_messages(dlq_url)
    bucket = rehearsal.outputs["RunBucketName"]
    dlq_name = dlq_url.rsplit("/", 1)[-1]
    # Finalize's send fails, then Release's, then the reconciler's on the status change event.
    sends = Fault(
        SQSBackend, "send_message", KmsAccessDenied, times=3, matches=lambda queue_name, *a, **k: queue_name == dlq_name
    )
    with injected(sends):
        arn = start(rehearsal, {"dryRun": True, "rules": [AMOUNT_AS_NUMBER]})
        described = wait_for_execution(engine.client("stepfunctions"), arn, timeout=30)
        wait_until(lambda: sends.exhausted, "three settles tried to send", interval=0.05)
    assert described["status"] == "FAILED"
    assert "KmsAccessDenied" in (described.get("cause") or ""), described.get("cause")
    report_key = f"runs/{run_id(arn)}/report.json"
    assert s3_json(engine, bucket, report_key)["completed"] is False
    assert sum(dlq_messages(dlq_url).values()) < sum(before.values()), "the run still holds what it could not send"

    # The fault has cleared: the schedule comes round and the settle resumes where it stopped.
    report = finished_report(engine, bucket, run_id(arn))
    assert report["mode"] == "dry-run", "what goes back was fixed once, by the first settle"
    assert report["counts"]["returnedMessages"] == sum(before.values())
    assert dlq_messages(dlq_url) == before, "every message is back, once, with its attributes"
    assert_balanced(before, dlq_messages(dlq_url), report)
    assert_lock_free(engine, rehearsal)


# --- 5. The operators' SNS topic is gone ----------------------------------------------------


@pytest.mark.parametrize("skip_approval", [True, False], ids=["approval-skipped", "approval-requested"])
def test_a_run_whose_operators_topic_is_gone_still_settles(engine: LocalEngine, skip_approval: bool) -> None:
    rehearsal = prepared(engine, poison(2, "sn"))
    dlq_url = rehearsal.outputs["DeadLetterQueueUrl"]
    add_messages(engine, dlq_url, ['{"note": "kept with its attributes"}'], ATTRIBUTES)
    before = dlq_messages(dlq_url)
    calls = consumer_calls(engine, rehearsal)
    engine.client("sns").delete_topic(TopicArn=rehearsal.outputs["OperatorsTopicArn"])

    run_input: dict[str, Any] = {"rules": [AMOUNT_AS_NUMBER], "redrive": {"batchSize": 1}}
    arn = start(rehearsal, run_input) if skip_approval else rehearsal.start(run_input)
    described = wait_for_execution(engine.client("stepfunctions"), arn, timeout=30)
    report = finished_report(engine, rehearsal.outputs["RunBucketName"], run_id(arn))
    if skip_approval:  # the completion notice cannot go out; the run is settled all the same
        assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
        assert (report["mode"], report["counts"]["redriven"]) == ("complete", 2)
        assert consumer_calls(engine, rehearsal) == calls + 2
        finalized = [text for name, text in engine.runtime.logs if name == resource(rehearsal, "FinalizeFunction")]
        warned = [
            line for text in finalized for line in text.splitlines() if "completion notice was not published" in line
        ]
        assert warned and "NotFound" in warned[-1], warned
    else:  # the approval email cannot go out: nothing is redriven, everything goes back
        assert described["status"] == "FAILED"
        assert report["mode"] == "release"
        assert "NotFound" in json.dumps(report["error"]), report["error"]
        assert consumer_calls(engine, rehearsal) == calls
        assert dlq_messages(dlq_url) == before
    assert_balanced(before, dlq_messages(dlq_url), report)
    rehearsal.operator.wait_settled(arn, timeout=30)
    assert_lock_free(engine, rehearsal)
