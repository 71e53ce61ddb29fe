"""Failure destinations as they really arrive: an SNS topic in front of the DLQ (no raw
message delivery), and an S3 bucket the event source mapping writes objects to."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import Any

from moto.s3.exceptions import S3ClientError
from moto.s3.models import S3Backend

from redrive_local.engine import LocalEngine
from redrive_local.inspect import queue_bodies
from redrive_local.rehearsal import Rehearsal
from tests.support.dlq import take_all
from tests.support.executions import wait_for_execution
from tests.support.faults import Fault, injected, wait_until
from tests.support.rules import AMOUNT_AS_NUMBER
from tests.support.stack import send_failures_to_s3

from .conftest import kinesis_scenario, s3_json, s3_keys
from .test_invariants import finished_report

SKIP = {"approval": {"skip": True}}
REPAIR = {"rules": [AMOUNT_AS_NUMBER], **SKIP}
ORDERS = [{"partitionKey": f"k{i}", "data": {"id": f"sns-{i}", "amount": str(i)}} for i in range(3)]


def prepared(engine: LocalEngine, records: list[dict[str, Any]], **parameters: str) -> Rehearsal:
    rehearsal = Rehearsal(kinesis_scenario(records), trigger="manual", engine=engine)
    rehearsal.extra_parameters = {"AllowSkipApproval": "true", **parameters}
    rehearsal.prepare()
    return rehearsal


def subscribe_through_sns(engine: LocalEngine, queue_url: str) -> str:
    """A topic delivering to the DLQ as SNS does without RawMessageDelivery: in envelopes."""
    sns, sqs = engine.client("sns"), engine.client("sqs")
    topic = sns.create_topic(Name="orders-failures")["TopicArn"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return str(topic)


def test_pointers_in_sns_envelopes_are_redriven_and_odd_envelopes_go_back_untouched(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, ORDERS)
    dlq = rehearsal.outputs["DeadLetterQueueUrl"]
    pointers = [m["Body"] for m in take_all(engine, dlq)]
    assert len(pointers) == len(ORDERS)
    topic = subscribe_through_sns(engine, dlq)
    sns = engine.client("sns")
    for pointer in pointers:
        sns.publish(TopicArn=topic, Message=pointer)
    sns.publish(TopicArn=topic, Message="not a failure record", Subject="odd")
    before = queue_bodies(dlq)
    envelopes = [json.loads(body) for body in before]
    assert all(e["Type"] == "Notification" and e["TopicArn"] == topic for e in envelopes), "SNS wrapped each one"
    odd = [body for body in before if json.loads(body)["Message"] == "not a failure record"]

    report = rehearsal.redrive(REPAIR)

    assert report["execution"]["status"] == "SUCCEEDED", report["execution"].get("cause")
    assert report["counts"]["dlqMessages"] == len(ORDERS) + 1
    assert report["counts"]["pointers"] == len(ORDERS)
    assert {r["outcome"] for r in report["records"]} == {"redriven"}
    assert sorted(r["sequenceNumber"] for r in report["records"]) == sorted(s for _, s in rehearsal.written)
    assert {item["id"] for item in report["consumer"]["processed"]} >= {o["data"]["id"] for o in ORDERS}
    [unrecognised] = report["unrecognised"]
    assert topic in unrecognised["reason"] and "not JSON" in unrecognised["reason"]
    assert Counter(report["dlq"]["after"]) == Counter(odd), "the odd envelope goes back byte for byte, alone"


# --- An S3 on-failure destination as the run's source ---------------------------------------

S3_RECORDS = [
    {"partitionKey": "a", "data": {"id": "s3-1", "amount": "4"}},  # repaired, redriven
    {"partitionKey": "b", "data": {"id": "s3-2", "amount": 5}},  # the consumer takes it: no object
    {"partitionKey": "c", "data": {"amount": "6"}},  # no id: fails again, back to the DLQ alone
    {"partitionKey": "d", "data": {"id": "s3-4", "amount": "7"}},  # repaired, redriven
]
ODD_KEY = "aws/lambda/not-a-failure-record"


def test_an_object_created_in_the_failure_bucket_starts_a_run_that_finishes_its_objects(engine: LocalEngine) -> None:
    s3 = engine.client("s3")
    failures = f"failures-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=failures)
    rehearsal = Rehearsal(kinesis_scenario(S3_RECORDS), trigger="manual", engine=engine)
    rehearsal.extra_parameters = {
        "AllowSkipApproval": "true",
        "FailureBucketName": failures,
        "RunDefaults": json.dumps(REPAIR),  # what an event-started run takes, as on AWS
    }
    stack = rehearsal.setup.deploy()
    send_failures_to_s3(
        engine, stack.resources["OrdersConsumerMapping"], stack.resources["OrdersConsumerFunction"], failures
    )
    rehearsal.setup.write_records()
    rehearsal.consumer.run_until_idle()
    written = s3_keys(engine, failures, "aws/lambda/")
    assert len(written) == 3, "one object per failed batch, in AWS's key layout"
    assert queue_bodies(rehearsal.outputs["DeadLetterQueueUrl"]) == []
    contents = {k: s3.get_object(Bucket=failures, Key=k)["Body"].read() for k in written}

    # From now on the bucket tells EventBridge; the next object written starts a run.
    s3.put_bucket_notification_configuration(
        Bucket=failures, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    s3.put_object(Bucket=failures, Key=ODD_KEY, Body=b"not a failure record")
    execution = wait_for_started_execution(engine, rehearsal.outputs["StateMachineArn"])
    finished = wait_for_execution(engine.client("stepfunctions"), execution, 60)
    assert finished["status"] == "SUCCEEDED", finished.get("cause")
    run_input = json.loads(finished["input"])
    assert run_input["trigger"] == "object-created" and run_input["source"]["s3"]["bucket"] == failures

    report = s3_json(engine, rehearsal.outputs["RunBucketName"], f"runs/{execution.rsplit(':', 1)[-1]}/report.json")
    assert report["completed"] and report["counts"]["dlqMessages"] == 4
    outcomes = Counter(r["outcome"] for r in report["records"])
    assert outcomes == {"redriven": 2, "failed": 1}, report["records"]
    assert [u["messageId"] for u in report["unrecognised"]] == [ODD_KEY]
    processed = {item["id"] for item in rehearsal.processed_by_consumer()}
    assert {"s3-1", "s3-2", "s3-4"} <= processed

    # Finished objects are gone, the odd one is where it was; the record that failed again
    # is in the DLQ as a self-contained message, so the object it came in could go.
    assert s3_keys(engine, failures, "aws/lambda/") == [ODD_KEY]
    [requeued] = queue_bodies(rehearsal.outputs["DeadLetterQueueUrl"])
    marker = json.loads(requeued)["streamRedrive"]
    assert marker["record"]["partitionKey"] == "c" and "OrderMissingId" in marker["reason"]
    assert all(b"payload" in body for body in contents.values())


def wait_for_started_execution(engine: LocalEngine, state_machine_arn: str, timeout: float = 20.0) -> str:
    """The execution EventBridge started (the local stack delivers rule targets at once)."""
    sfn = engine.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        executions = sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
        if executions:
            assert len(executions) == 1, executions
            return str(executions[0]["executionArn"])
        time.sleep(0.2)
    raise AssertionError("no execution started from the Object Created event")


# --- Faults in an S3-sourced run: nothing lost, each object in its bucket or finished -------


def s3_sourced(engine: LocalEngine, records: list[dict[str, Any]]) -> tuple[Rehearsal, str]:
    """A stack whose consumer's failures went to a failure bucket (one object per record)."""
    failures = f"failures-{uuid.uuid4().hex[:8]}"
    engine.client("s3").create_bucket(Bucket=failures)
    rehearsal = Rehearsal(kinesis_scenario(records), trigger="manual", engine=engine)
    rehearsal.extra_parameters = {"AllowSkipApproval": "true", "FailureBucketName": failures}
    stack = rehearsal.setup.deploy()
    send_failures_to_s3(
        engine, stack.resources["OrdersConsumerMapping"], stack.resources["OrdersConsumerFunction"], failures
    )
    rehearsal.setup.write_records()
    rehearsal.consumer.run_until_idle()
    assert len(s3_keys(engine, failures, "aws/lambda/")) == len(records)
    return rehearsal, failures


def objects(engine: LocalEngine, bucket: str) -> dict[str, bytes]:
    s3 = engine.client("s3")
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in s3_keys(engine, bucket, "aws/lambda/")}


def start_s3_run(rehearsal: Rehearsal, failures: str, **settings: Any) -> str:
    return rehearsal.start({"source": {"s3": {"bucket": failures}}, **REPAIR, **settings})


def consumer_calls(engine: LocalEngine, rehearsal: Rehearsal) -> int:
    return int(engine.runtime.invocations[rehearsal.outputs["ExampleConsumerFunction"]])


POISON = [{"partitionKey": f"f{i}", "data": {"id": f"f-{i}", "amount": str(i + 1)}} for i in range(4)]


def test_a_stop_mid_redrive_deletes_only_the_finished_objects_and_a_second_run_does_the_rest(
    engine: LocalEngine,
) -> None:
    rehearsal, failures = s3_sourced(engine, POISON)
    before = objects(engine, failures)
    calls = consumer_calls(engine, rehearsal)
    bucket = rehearsal.outputs["RunBucketName"]
    # A slot every 2 s: the stop, right after the first result, comes well before the last send.
    slow = {"redrive": {"ratePerSecond": 0.5, "concurrency": 1, "batchSize": 1}}
    arn = start_s3_run(rehearsal, failures, **slow)
    run = arn.rsplit(":", 1)[-1]
    wait_until(lambda: s3_keys(engine, bucket, f"runs/{run}/results/"), "the first batch's result", interval=0.005)
    sfn = engine.client("stepfunctions")
    sfn.stop_execution(executionArn=arn, error="OperatorAbort", cause="fault test")
    assert wait_for_execution(sfn, arn, timeout=30)["status"] == "ABORTED"

    report = finished_report(engine, bucket, run)
    assert report["mode"] == "release" and report["error"]["Error"] == "ExecutionAborted"
    redriven = [r for r in report["records"] if r["outcome"] == "redriven"]
    assert 1 <= len(redriven) < len(POISON), "the stop came mid-redrive"
    left = objects(engine, failures)
    assert len(left) == len(POISON) - len(redriven), "each finished object went, and only those"
    assert all(before[k] == body for k, body in left.items()), "what stays is untouched"
    assert queue_bodies(rehearsal.outputs["DeadLetterQueueUrl"]) == [], "nothing went to the DLQ"
    assert consumer_calls(engine, rehearsal) == calls + len(redriven)

    # The lock is free: a second run takes the objects that stayed, and only those.
    # One lane, and a batchSize: the consumer's mapping sends one record a batch, which is
    # what a default-sized run would follow.
    second = start_s3_run(rehearsal, failures, redrive={"concurrency": 1, "batchSize": 10})
    assert wait_for_execution(sfn, second, timeout=60)["status"] == "SUCCEEDED"
    again = finished_report(engine, bucket, second.rsplit(":", 1)[-1])
    assert again["counts"]["dlqMessages"] == len(left)
    assert {r["outcome"] for r in again["records"]} == {"redriven"}
    assert objects(engine, failures) == {}
    first_ids = {r["recordId"] for r in redriven}
    second_ids = {r["recordId"] for r in again["records"]}
    assert not first_ids & second_ids, "no record is redriven twice"
    assert len(first_ids | second_ids) == len(POISON)
    assert consumer_calls(engine, rehearsal) == calls + len(redriven) + 1, "the rest in one batch"
    assert {item["id"] for item in rehearsal.processed_by_consumer()} >= {p["data"]["id"] for p in POISON}


class ServiceUnavailable(S3ClientError):
    def __init__(self) -> None:
        super().__init__("ServiceUnavailable", "S3 is not available (a fault injected by the test)")


def test_a_delete_that_fails_during_settle_is_completed_by_the_schedule(engine: LocalEngine) -> None:
    rehearsal, failures = s3_sourced(engine, POISON[:2])
    bucket = rehearsal.outputs["RunBucketName"]
    # Finalize's delete fails, then Release's, then the reconciler's on the status change event.
    deletes = Fault(
        S3Backend, "delete_objects", ServiceUnavailable, times=3, matches=lambda name, *a, **k: name == failures
    )
    with injected(deletes):
        arn = start_s3_run(rehearsal, failures)
        described = wait_for_execution(engine.client("stepfunctions"), arn, timeout=30)
        wait_until(lambda: deletes.exhausted, "three settles tried to delete", interval=0.05)
    assert described["status"] == "FAILED"
    run = arn.rsplit(":", 1)[-1]
    assert s3_json(engine, bucket, f"runs/{run}/report.json")["completed"] is False
    assert len(objects(engine, failures)) == 2, "redriven, but not finished yet: the objects stay"

    report = finished_report(engine, bucket, run)
    assert report["mode"] == "complete", "what the run did was fixed once, by the first settle"
    assert report["counts"]["redriven"] == 2
    assert objects(engine, failures) == {}
    assert queue_bodies(rehearsal.outputs["DeadLetterQueueUrl"]) == []
