"""The three redrive targets, and the pace: never above ``ratePerSecond``."""

from __future__ import annotations

import base64
import itertools
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from redrive.contracts.records import StreamRecord
from redrive.core.lanes import lane_of
from redrive.core.redrive import BURST_SECONDS
from redrive_local.deploy import deploy_stack
from redrive_local.engine import ACCOUNT, REGION, REPO_ROOT, LocalEngine, endpoint_session
from redrive_local.esm import StreamConsumerEmulator
from redrive_local.inspect import queue_bodies
from redrive_local.rehearsal import Rehearsal
from redrive_local.scenario import Scenario
from tests.support.executions import wait_for_execution
from tests.support.rules import AMOUNT_AS_NUMBER
from tests.support.stack import PythonFunction

from .conftest import kinesis_scenario, run_id_of, s3_json, s3_keys

REPAIRABLE = [{"partitionKey": f"pk-{i}", "data": {"id": f"t-{i}", "amount": f"{i}.5"}} for i in range(4)]


def test_stream_target_puts_records_back_with_their_partition_keys(engine: LocalEngine) -> None:
    scenario = kinesis_scenario(REPAIRABLE, {"rules": [AMOUNT_AS_NUMBER], "redrive": {"target": "stream"}})
    rehearsal = Rehearsal(scenario, trigger="manual", engine=engine)
    report = rehearsal.run()
    assert report["execution"]["status"] == "SUCCEEDED"
    assert report["counts"]["redriven"] == 4
    processed = {item["id"]: item["amount"] for item in report["consumer"]["processed"]}
    assert processed == {f"t-{i}": i + 0.5 for i in range(4)}, "the mapping consumed the repaired records"

    kinesis = engine.client("kinesis")
    arn = rehearsal.outputs["ExampleSourceArn"]
    shard = kinesis.list_shards(StreamARN=arn)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamARN=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(ShardIterator=iterator["ShardIterator"], Limit=100)["Records"]
    put_back = records[len(REPAIRABLE) :]
    # Each record with its own partition key (the order is kept per key, not across keys).
    assert sorted((r["PartitionKey"], json.loads(r["Data"])["id"]) for r in put_back) == [
        (f"pk-{i}", f"t-{i}") for i in range(4)
    ]
    assert sorted(json.loads(r["Data"])["amount"] for r in put_back) == [i + 0.5 for i in range(4)]


def test_the_stream_target_is_refused_for_a_dynamodb_source(engine: LocalEngine) -> None:
    """A DynamoDB stream takes no records, and PutItem of the old NewImage is unsafe: an unchanged
    item writes no stream record (strict.dynamodb), a changed one is overwritten with stale data.
    Prepare refuses the target on a DynamoDB stack, naming why; the DLQ keeps every message."""
    scenario = Scenario.model_validate(
        {
            "source": {"type": "dynamodb"},
            "consumer": {"batchSize": 1, "maximumRetryAttempts": 0, "bisectBatchOnFunctionError": False},
            "records": [{"item": {"pk": "order#1", "id": "dd-1", "amount": "3.25"}}],
            "run": {"rules": [AMOUNT_AS_NUMBER], "redrive": {"target": "stream"}},
        }
    )
    rehearsal = Rehearsal(scenario, trigger="manual", engine=engine)
    rehearsal.prepare()
    dlq = rehearsal.outputs["DeadLetterQueueUrl"]
    before = queue_bodies(dlq)
    assert len(before) == 1
    described = wait_for_execution(engine.client("stepfunctions"), rehearsal.start(scenario.run))
    assert (described["status"], described["error"]) == ("FAILED", "InvalidInput")
    assert "the stream target cannot redrive DynamoDB Streams records" in described["cause"]
    assert "Traceback" not in described["cause"]
    assert queue_bodies(dlq) == before


def test_queue_target_sends_each_record_to_the_queue(engine: LocalEngine) -> None:
    sqs = engine.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"redrive-target-{id(engine)}-{len(REPAIRABLE)}")["QueueUrl"]
    scenario = kinesis_scenario(
        REPAIRABLE, {"rules": [AMOUNT_AS_NUMBER], "redrive": {"target": "queue", "queueUrl": queue_url}}
    )
    report = Rehearsal(scenario, trigger="manual", engine=engine).run()
    assert report["counts"]["redriven"] == 4
    bodies: list[Any] = []
    attributes = []
    while True:
        got = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1
        )
        if not got.get("Messages"):
            break
        for message in got["Messages"]:
            bodies.append(json.loads(message["Body"]))
            attributes.append(message["MessageAttributes"]["sequenceNumber"]["StringValue"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert sorted(bodies, key=lambda b: b["id"]) == [{"id": f"t-{i}", "amount": i + 0.5} for i in range(4)]
    assert sorted(attributes) == sorted(r["sequenceNumber"] for r in report["records"])


def test_the_redrive_never_goes_faster_than_the_rate(engine: LocalEngine) -> None:
    rate, concurrency, batch_size = 20.0, 2, 2
    records = [{"partitionKey": f"k{i % 12}", "data": {"id": f"r-{i}", "amount": str(i)}} for i in range(16)]
    scenario = Scenario.model_validate(
        {
            "source": {"type": "kinesis", "shards": 2},
            "consumer": {"batchSize": 100, "maximumRetryAttempts": 0, "bisectBatchOnFunctionError": False},
            "records": records,
            "run": {
                "rules": [AMOUNT_AS_NUMBER],
                "redrive": {"ratePerSecond": rate, "concurrency": concurrency, "batchSize": batch_size},
            },
        }
    )
    rehearsal = Rehearsal(scenario, trigger="manual", engine=engine)
    report = rehearsal.run()
    assert report["counts"]["redriven"] == 16
    # At most the rate, but for the last bits of float timestamps (about 1e-7 s at 2026's epoch).
    assert report["redrive"]["achievedPerSecond"] <= rate * (1 + 1e-6)

    bucket = rehearsal.outputs["RunBucketName"]
    results = [s3_json(engine, bucket, k) for k in s3_keys(engine, bucket, f"runs/{run_id_of(report)}/results/")]
    starts = sorted((r["startedAt"], r["records"]) for r in results)
    # Over any stretch of time, what started is at most the rate's share, plus the second a
    # slot may go early (a Wait state waits whole seconds), plus the batch under way.
    for i, (t0, _) in enumerate(starts):
        for j in range(i, len(starts)):
            sent = sum(n for _, n in starts[i : j + 1])
            assert sent <= rate * (starts[j][0] - t0 + BURST_SECONDS) + batch_size + 1e-9
    # Busy while sending (startedAt to sentAt): finishedAt is the end of the batch's slot,
    # which the lane's next batch may start up to BURST_SECONDS before.
    busy = sorted((r["startedAt"], r["sentAt"]) for r in results)
    for start, _ in busy:
        overlapping = sum(1 for s, f in busy if s <= start < f)
        assert overlapping <= concurrency, "MaxConcurrency holds"

    # Lanes by key: each partition key's batches go one after another, in sequence order,
    # and the keys of the two shards spread over both lanes.
    prefix = f"runs/{run_id_of(report)}/"
    batches = [s3_json(engine, bucket, k) for k in s3_keys(engine, bucket, prefix + "batches/")]
    by_id = {r["batchId"]: r for r in results}
    keys: dict[str, list[tuple[str, int]]] = {}
    for batch in sorted(batches, key=lambda b: b["batchId"]):
        for record in batch["records"]:
            keys.setdefault(record["partitionKey"], []).append((batch["batchId"], int(record["sequenceNumber"])))
    # Each key's lane is the product's hash of its stream and key: which lanes twelve keys
    # land in depends on the stack's stream name, so the check asks the same function.
    expected = {lane_of(StreamRecord.model_validate(r), concurrency) for b in batches for r in b["records"]}
    assert {b["lane"] for b in batches} == expected
    for batch in batches:
        assert {lane_of(StreamRecord.model_validate(r), concurrency) for r in batch["records"]} == {batch["lane"]}
    for key, placed in keys.items():
        assert [seq for _, seq in placed] == sorted(seq for _, seq in placed), key
        ids = list(dict.fromkeys(batch_id for batch_id, _ in placed))
        for earlier, later in itertools.pairwise(ids):
            assert by_id[later]["startedAt"] >= by_id[earlier]["sentAt"], (key, earlier, later)


CONSUMER_PROBE = """
import base64
import json
import os
import time

import boto3


def handler(event, context):
    key = f"events/{time.time_ns()}.json"
    boto3.client("s3").put_object(Bucket=os.environ["PROBE_BUCKET"], Key=key, Body=json.dumps(event).encode())
    for record in event["Records"]:
        if isinstance(json.loads(base64.b64decode(record["kinesis"]["data"]))["amount"], str):
            raise ValueError("amount is not a number")
"""


@dataclass
class DeliveredTwice:
    stream_arn: str
    mapped: dict[str, Any]  # the event record the event source mapping sent
    redriven: dict[str, Any]  # the event record the redrive sent


@pytest.fixture(scope="module")
def delivered_twice(engine: LocalEngine, python_function: PythonFunction) -> DeliveredTwice:
    """A probe consumer keeps every event it gets. It fails on the record its event source
    mapping delivers (a pointer goes to the DLQ); a stack protecting it then repairs the
    record and redrives it, invoking the probe again."""
    token = uuid.uuid4().hex[:10]
    kinesis, sqs, lam = engine.client("kinesis"), engine.client("sqs"), engine.client("lambda")
    kinesis.create_stream(StreamName=f"probed-{token}", ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=f"probed-{token}")["StreamDescriptionSummary"]["StreamARN"]
    dlq_url = sqs.create_queue(QueueName=f"probed-dlq-{token}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bucket = f"probed-events-{token}"
    engine.client("s3").create_bucket(Bucket=bucket)
    probe = python_function(CONSUMER_PROBE, env={"PROBE_BUCKET": bucket})
    mapping = lam.create_event_source_mapping(
        FunctionName=probe,
        EventSourceArn=stream_arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=1,
        MaximumRetryAttempts=0,
        BisectBatchOnFunctionError=False,
        DestinationConfig={"OnFailure": {"Destination": dlq_arn}},
    )
    kinesis.put_record(StreamARN=stream_arn, Data=b'{"id": "t-0", "amount": "0.5"}', PartitionKey="pk-0")
    StreamConsumerEmulator(engine, mapping_uuids=[mapping["UUID"]]).run_until_idle()
    assert len(queue_bodies(dlq_url)) == 1, "the probe failed on the record and the mapping gave up on it"

    stack = deploy_stack(
        endpoint_session(engine),
        REPO_ROOT / "template.yaml",
        f"probed-{token}",
        {
            "ConsumerFunctionArn": lam.get_function(FunctionName=probe)["Configuration"]["FunctionArn"],
            "SourceStreamArn": stream_arn,
            "DeadLetterQueueArn": dlq_arn,
            "DeadLetterQueueUrl": dlq_url,
            "AllowSkipApproval": "true",
        },
        REGION,
        ACCOUNT,
    )
    run = {"approval": {"skip": True}, "rules": [AMOUNT_AS_NUMBER]}
    sfn = engine.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=stack.outputs["StateMachineArn"], input=json.dumps(run))["executionArn"]
    assert wait_for_execution(sfn, arn)["status"] == "SUCCEEDED"
    report = s3_json(engine, stack.outputs["RunBucketName"], f"runs/{arn.rsplit(':', 1)[-1]}/report.json")
    assert report["counts"]["redriven"] == 1
    assert queue_bodies(dlq_url) == [], "the probe accepted the repaired record"

    events = [s3_json(engine, bucket, key) for key in s3_keys(engine, bucket, "events/")]
    assert [set(event) for event in events] == [{"Records"}, {"Records"}], "two deliveries, one record each"
    [[mapped], [redriven]] = [event["Records"] for event in events]
    return DeliveredTwice(stream_arn, mapped, redriven)


def test_records_in_the_redrive_event_have_the_shape_the_mapping_sends(delivered_twice: DeliveredTwice) -> None:
    mapped, redriven = delivered_twice.mapped, delivered_twice.redriven
    assert (
        set(redriven)
        == set(mapped)
        == {
            "kinesis",
            "eventSource",
            "eventVersion",
            "eventID",
            "eventName",
            "invokeIdentityArn",
            "awsRegion",
            "eventSourceARN",
        }
    )
    assert (
        set(redriven["kinesis"])
        == set(mapped["kinesis"])
        == {
            "kinesisSchemaVersion",
            "partitionKey",
            "sequenceNumber",
            "data",
            "approximateArrivalTimestamp",
        }
    )
    same = ("eventSource", "eventVersion", "eventID", "eventName", "awsRegion", "eventSourceARN")
    assert {k: redriven[k] for k in same} == {k: mapped[k] for k in same}
    assert redriven["eventSourceARN"] == delivered_twice.stream_arn
    assert redriven["eventID"] == f"shardId-000000000000:{mapped['kinesis']['sequenceNumber']}"
    assert {k: v for k, v in redriven["kinesis"].items() if k != "data"} == {
        k: v for k, v in mapped["kinesis"].items() if k != "data"
    }, "the record keeps its partition key, sequence number and arrival time"
    assert json.loads(base64.b64decode(mapped["kinesis"]["data"])) == {"id": "t-0", "amount": "0.5"}
    assert json.loads(base64.b64decode(redriven["kinesis"]["data"])) == {"id": "t-0", "amount": 0.5}
    assert isinstance(redriven["invokeIdentityArn"], str)


@pytest.mark.xfail(
    strict=True,
    reason="the redrive sends invokeIdentityArn as an empty string (stream_events.invocation_event falls back to "
    "'' because fetched records carry no identity), where the mapping sends the ARN of the role that invoked",
)
def test_the_redrive_event_names_the_role_that_invoked(delivered_twice: DeliveredTwice) -> None:
    assert delivered_twice.mapped["invokeIdentityArn"].startswith("arn:aws:iam::")
    assert delivered_twice.redriven["invokeIdentityArn"].startswith("arn:aws:iam::")


@pytest.mark.skipif(
    not os.environ.get("REDRIVE_SLOW_TESTS"), reason="about 40 s (60 batches): set REDRIVE_SLOW_TESTS=1 to run it"
)
def test_the_parent_history_grows_with_rounds_not_with_batches(engine: LocalEngine) -> None:
    """60 one-record batches in one lane: two rounds of slices (50 batches at most a
    slice). The parent records a few events per round; the batches' events are the
    children's (Express on AWS). Plan answers counts only, the batches stay in S3."""
    records = [{"partitionKey": f"k{i}", "data": {"id": f"h-{i}", "amount": str(i)}} for i in range(60)]
    scenario = Scenario.model_validate(
        {
            "source": {"type": "kinesis", "shards": 1},
            "consumer": {"batchSize": 100, "maximumRetryAttempts": 0, "bisectBatchOnFunctionError": False},
            "records": records,
            "run": {
                "rules": [AMOUNT_AS_NUMBER],
                "redrive": {"ratePerSecond": 1000, "concurrency": 1, "batchSize": 1, "ordering": "unordered"},
            },
        }
    )
    report = Rehearsal(scenario, trigger="manual", engine=engine).run()
    assert report["execution"]["status"] == "SUCCEEDED"
    assert report["counts"]["redriven"] == 60
    assert report["redrive"]["ordering"] == "unordered"
    events = engine.client("stepfunctions").get_execution_history(executionArn=report["execution"]["arn"])["events"]
    assert sum(1 for e in events if e["type"] == "MapRunStarted") == 2, "two rounds"
    outputs = [
        json.loads(detail["output"])
        for e in events
        for key, detail in e.items()
        if key.endswith("SucceededEventDetails") and "roundsPrefix" in str(detail.get("output", ""))
    ]
    planned = outputs[0]
    assert (planned["rounds"], planned["batches"], planned["lanes"]) == (2, 60, 1)
    assert all(not isinstance(value, list) for value in planned.values())
    assert len(events) < 100, f"{len(events)} events: the parent does not record the batches"


def test_without_a_batch_size_the_consumer_gets_batches_no_larger_than_its_mapping_sent(
    engine: LocalEngine,
) -> None:
    """The stack's default batch (500) is bounded by the consumer's own: its mapping sends
    batches of 4, so the redrive's invokes carry 4 records at most. The mapping bisects, so
    every pointer names one record: the bound is the mapping's BatchSize, not the pointers'."""
    records = [{"partitionKey": f"k{i}", "data": {"id": f"b-{i}", "amount": str(i)}} for i in range(10)]
    scenario = Scenario.model_validate(
        {
            "source": {"type": "kinesis", "shards": 1},
            "consumer": {"batchSize": 4, "maximumRetryAttempts": 0, "bisectBatchOnFunctionError": True},
            "records": records,
            "run": {"rules": [AMOUNT_AS_NUMBER], "redrive": {"ratePerSecond": 1000, "ordering": "unordered"}},
        }
    )
    rehearsal = Rehearsal(scenario, trigger="manual", engine=engine)
    report = rehearsal.run()
    assert report["counts"]["redriven"] == 10
    assert report["counts"]["pointers"] == 10, "one pointer a record: the mapping bisected"
    assert (report["redrive"]["batchSize"], report["redrive"]["largestBatch"]) == (500, 4)
    bucket = rehearsal.outputs["RunBucketName"]
    batches = [s3_json(engine, bucket, k) for k in s3_keys(engine, bucket, f"runs/{run_id_of(report)}/batches/")]
    assert sorted(len(b["records"]) for b in batches) == [2, 4, 4]


def test_a_rehearsal_warms_a_sandbox_per_lane_of_the_redrive_function_and_the_consumer(engine: LocalEngine) -> None:
    """So the pace measures the limiter, not the lanes' cold starts (README: The local stack)."""
    from moto.awslambda.utils import get_backend

    rehearsal = Rehearsal(kinesis_scenario(REPAIRABLE[:1]), trigger="manual", engine=engine)
    rehearsal.prepare()
    assert rehearsal.stack is not None
    lambdas = get_backend(ACCOUNT, REGION)
    redrive = lambdas.get_function(rehearsal.stack.resources["RedriveFunction"])
    consumer = lambdas.get_function(rehearsal.outputs["ExampleConsumerFunction"])
    prepare = lambdas.get_function(rehearsal.stack.resources["PrepareFunction"])
    assert engine.runtime.prewarm([prepare], count=1) == 0, "one warm sandbox per function from the deploy"

    rehearsal._warm_lanes({})  # the stack's default concurrency, 2
    assert engine.runtime.prewarm([redrive, consumer], count=2) == 0, "two lanes by default, two warm each"
    assert engine.runtime.prewarm([redrive], count=3) == 1
    rehearsal._warm_lanes({"redrive": {"concurrency": 3}})
    assert engine.runtime.prewarm([consumer], count=3) == 0, "three lanes, three warm sandboxes each"
    rehearsal._warm_lanes({"redrive": {"concurrency": 50}})
    assert engine.runtime.prewarm([redrive], count=10) == 0, "capped at ten"
    assert engine.runtime.prewarm([redrive], count=11) == 1
    assert engine.runtime.prewarm([prepare], count=2) == 1, "the other functions are not warmed per lane"
