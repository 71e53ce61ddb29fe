"""The stream consumer emulator on the local stack, behaviour by behaviour, against the
AWS Lambda Developer Guide:

- "Using Lambda to process records from Amazon Kinesis Data Streams" / "Using AWS Lambda
  with Amazon DynamoDB": batches from one shard at a time, in order, BatchSize records at
  most, event shapes;
- "Retain discarded batch records for a Kinesis Data Streams event source in Lambda" /
  "Retain discarded records for a DynamoDB event source in Lambda": retries,
  BisectBatchOnFunctionError ("Splitting batches doesn't consume the retry quota"),
  MaximumRecordAgeInSeconds, and the on-failure invocation records for SQS and S3;
- "Configuring partial batch response with Kinesis Data Streams and Lambda":
  ReportBatchItemFailures checkpoints before the lowest reported sequence number.

Where the guide shows no example (a RecordAgeExceeded record; functionError after a
partial batch response) the expectation follows records AWS produced, noted at the test.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from redrive_local.deploy import DeployedStack
from redrive_local.engine import LocalEngine
from redrive_local.esm import StreamConsumerEmulator
from tests.support.stack import send_failures_to_s3

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
S3_KEY = re.compile(
    r"^aws/lambda/(?P<uuid>[^/]+)/(?P<shard>[^/]+)/\d{4}/\d\d/\d\d/\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d-"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
GOOD = {"id": "good", "amount": 1}
POISON = {"id": "poison", "amount": "not a number"}


class FakeClock:
    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


def order(n: int) -> dict[str, Any]:
    return {"id": f"o-{n}", "amount": n}


def emulator(engine: LocalEngine, stack: DeployedStack, clock: Any = time.time) -> StreamConsumerEmulator:
    return StreamConsumerEmulator(engine, clock=clock, mapping_uuids=[stack.resources["OrdersConsumerMapping"]])


def put_kinesis(engine: LocalEngine, stack: DeployedStack, orders: list[Any], spread: bool = False) -> list[str]:
    kinesis = engine.client("kinesis")
    return [
        kinesis.put_record(
            StreamARN=stack.outputs["ExampleSourceArn"],
            Data=json.dumps(o).encode(),
            PartitionKey=f"key-{i}" if spread else "orders",
        )["SequenceNumber"]
        for i, o in enumerate(orders)
    ]


def kinesis_arrivals(engine: LocalEngine, stack: DeployedStack) -> dict[str, datetime]:
    kinesis = engine.client("kinesis")
    name = stack.outputs["ExampleSourceArn"].split("/")[-1]
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    return {r["SequenceNumber"]: r["ApproximateArrivalTimestamp"] for r in records}


def put_items(engine: LocalEngine, stack: DeployedStack, orders: list[dict[str, Any]]) -> None:
    dynamodb = engine.client("dynamodb")
    for o in orders:
        item = {"pk": {"S": o["id"]}, "id": {"S": o["id"]}}
        amount = o["amount"]
        item["amount"] = {"N": str(amount)} if isinstance(amount, int) else {"S": str(amount)}
        dynamodb.put_item(TableName=stack.resources["OrdersTable"], Item=item)


def dynamodb_stream_records(engine: LocalEngine, stack: DeployedStack) -> list[dict[str, Any]]:
    streams = engine.client("dynamodbstreams")
    arn = stack.outputs["ExampleSourceArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]  # type: ignore[no-any-return]


def dlq(engine: LocalEngine, stack: DeployedStack) -> list[dict[str, Any]]:
    sqs = engine.client("sqs")
    received = sqs.receive_message(
        QueueUrl=stack.outputs["DeadLetterQueueUrl"], MaxNumberOfMessages=10, WaitTimeSeconds=1
    )
    return [json.loads(m["Body"]) for m in received.get("Messages", [])]


def sink_ids(engine: LocalEngine, stack: DeployedStack) -> set[str]:
    items = engine.client("dynamodb").scan(TableName=stack.resources["OrdersSinkTable"])["Items"]
    return {i["id"]["S"] for i in items}


def batches(em: StreamConsumerEmulator) -> list[list[str]]:
    return [i.sequence_numbers for i in em.invocations]


def iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_s(moment: datetime) -> str:
    return datetime.fromtimestamp(math.floor(moment.timestamp()), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_envelope(message: dict[str, Any], sent_between: tuple[float, float]) -> None:
    """requestId is a UUID; timestamp is ISO-8601 with milliseconds and Z, at send time."""
    assert UUID.match(message["requestContext"]["requestId"])
    assert ISO_MILLIS.match(message["timestamp"])
    sent = datetime.strptime(message["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
    assert sent_between[0] - 0.001 <= sent <= sent_between[1] + 0.001


def test_the_consumer_runs_in_process_and_reports_unhandled_errors(engine: LocalEngine, deploy: Any) -> None:
    """Pins workarounds.lambda_._simple_lambda_backend_runs_functions: Invoke runs the handler."""
    stack = deploy()
    event = {"Records": [{"eventSource": "aws:kinesis", "kinesis": {"data": base64.b64encode(b"[]").decode()}}]}
    response = engine.client("lambda").invoke(
        FunctionName=stack.outputs["ExampleConsumerFunction"], Payload=json.dumps(event)
    )
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "OrderNotAnObject"


def test_batches_are_at_most_batch_size_and_in_order_per_shard(engine: LocalEngine, deploy: Any) -> None:
    stack = deploy(ExampleShardCount="2", ExampleBatchSize="3")
    put_kinesis(engine, stack, [order(n) for n in range(14)], spread=True)
    em = emulator(engine, stack)
    report = em.run_until_idle()

    assert report.idle and report.failure_messages == 0
    by_shard: dict[str, list[str]] = {}
    for invocation in em.invocations:
        assert invocation.outcome == "ok"
        assert 1 <= len(invocation.sequence_numbers) <= 3
        by_shard.setdefault(invocation.shard_id, []).extend(invocation.sequence_numbers)
    assert len(by_shard) == 2  # both shards got records
    for shard_id, sequence in by_shard.items():
        positions = [int(s) for s in sequence]
        assert positions == sorted(positions) and len(set(positions)) == len(positions), shard_id
    assert sum(len(s) for s in by_shard.values()) == 14 == len(report.processed)
    assert report.invocations == len(em.invocations)
    assert sink_ids(engine, stack) == {f"o-{n}" for n in range(14)}
    assert em.run_until_idle().invocations == 0  # nothing is delivered twice


@pytest.mark.parametrize("retries", [0, 2])
def test_without_bisection_a_batch_is_retried_then_sent_to_the_queue(
    engine: LocalEngine, deploy: Any, retries: int
) -> None:
    stack = deploy(ExampleBisectBatchOnFunctionError="false", ExampleMaximumRetryAttempts=str(retries))
    seqs = put_kinesis(engine, stack, [order(1), order(2), POISON, order(4)])
    arrivals = kinesis_arrivals(engine, stack)
    em = emulator(engine, stack)
    before = time.time()
    report = em.run_until_idle()
    after = time.time()

    assert batches(em) == [seqs] * (retries + 1)
    assert [i.attempt for i in em.invocations] == list(range(1, retries + 2))
    assert report.processed == [] and report.failure_messages == 1
    [message] = dlq(engine, stack)
    check_envelope(message, (before, after))
    assert message == {
        "requestContext": {
            "requestId": message["requestContext"]["requestId"],
            "functionArn": em.mappings()[0].function_arn,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": retries + 1,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": message["timestamp"],
        "KinesisBatchInfo": {
            "shardId": "shardId-000000000000",
            "startSequenceNumber": seqs[0],
            "endSequenceNumber": seqs[-1],
            "approximateArrivalOfFirstRecord": iso_ms(arrivals[seqs[0]]),
            "approximateArrivalOfLastRecord": iso_ms(arrivals[seqs[-1]]),
            "batchSize": 4,
            "streamArn": stack.outputs["ExampleSourceArn"],
        },
    }
    assert list(message) == ["requestContext", "responseContext", "version", "timestamp", "KinesisBatchInfo"]
    # the function wrote the orders before the poison on every attempt; the shard moved on
    assert sink_ids(engine, stack) == {"o-1", "o-2"}


def test_bisection_isolates_the_poison_record_and_does_not_consume_retries(engine: LocalEngine, deploy: Any) -> None:
    stack = deploy(ExampleBisectBatchOnFunctionError="true", ExampleMaximumRetryAttempts="2")
    seqs = put_kinesis(engine, stack, [order(1), order(2), order(3), order(4), order(5), POISON, order(7), order(8)])
    em = emulator(engine, stack)
    report = em.run_until_idle()

    s = seqs
    assert batches(em) == [s, s[:4], s[4:], s[4:6], s[4:5], s[5:6], s[5:6], s[5:6], s[6:]]
    assert [i.action.split(" ")[0] for i in em.invocations] == [
        "bisect", "checkpoint", "bisect", "bisect", "checkpoint", "retry", "retry", "give", "checkpoint"
    ]  # fmt: skip
    [message] = dlq(engine, stack)
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 3  # 1 + MaximumRetryAttempts, splits not counted
    info = message["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (s[5], s[5], 1)
    assert report.processed == s[:5] + s[6:]
    assert sink_ids(engine, stack) == {"o-1", "o-2", "o-3", "o-4", "o-5", "o-7", "o-8"}


def test_reported_item_failures_checkpoint_before_the_lowest_one(engine: LocalEngine, deploy: Any) -> None:
    stack = deploy(
        ExampleReportBatchItemFailures="true",
        ExampleBisectBatchOnFunctionError="false",
        ExampleMaximumRetryAttempts="1",
    )
    s = put_kinesis(engine, stack, [order(1), order(2), POISON, order(4), {"id": "bad"}])
    em = emulator(engine, stack)
    report = em.run_until_idle()

    # [1..5] reports 3 and 5: checkpoint before 3, retry [3, 4, 5] (records before it
    # succeeded, so it is a new batch); it reports its first record: no progress, a retry
    # counted against MaximumRetryAttempts; then it is given up.
    assert batches(em) == [s, s[2:], s[2:]]
    assert [i.outcome for i in em.invocations] == ["partial", "partial", "partial"]
    assert em.invocations[0].detail == f"batchItemFailures {s[2]}, {s[4]}"
    assert report.processed == s[:2]
    [message] = dlq(engine, stack)
    assert message["requestContext"]["approximateInvokeCount"] == 2
    # The function returned normally: functionError is null (as in records AWS produced).
    assert message["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": None}
    info = message["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (s[2], s[4], 3)
    assert sink_ids(engine, stack) == {"o-1", "o-2", "o-4"}


def test_records_older_than_the_maximum_age_are_discarded(engine: LocalEngine, deploy: Any) -> None:
    stack = deploy(
        ExampleMaximumRecordAgeInSeconds="60",
        ExampleMaximumRetryAttempts="-1",
        ExampleBisectBatchOnFunctionError="false",
    )
    first = put_kinesis(engine, stack, [order(1)])
    time.sleep(0.02)
    rest = put_kinesis(engine, stack, [order(2), order(3)])
    arrivals = kinesis_arrivals(engine, stack)
    # 60 s after a moment between the first record's arrival and the others'
    t1, t2 = arrivals[first[0]].timestamp(), arrivals[rest[0]].timestamp()
    clock = FakeClock((t1 + t2) / 2 + 60)
    em = emulator(engine, stack, clock)
    report = em.run_until_idle()

    # the expired record is discarded before the invocation; the others are processed
    assert batches(em) == [rest] and report.processed == rest
    [message] = dlq(engine, stack)
    check_envelope(message, (clock.now, clock.now))
    # No responseContext and approximateInvokeCount 1 for records that expired before any
    # invocation: as in the RecordAgeExceeded records AWS produced (the guide has no example).
    assert message == {
        "requestContext": {
            "requestId": message["requestContext"]["requestId"],
            "functionArn": em.mappings()[0].function_arn,
            "condition": "RecordAgeExceeded",
            "approximateInvokeCount": 1,
        },
        "version": "1.0",
        "timestamp": message["timestamp"],
        "KinesisBatchInfo": {
            "shardId": "shardId-000000000000",
            "startSequenceNumber": first[0],
            "endSequenceNumber": first[0],
            "approximateArrivalOfFirstRecord": iso_ms(arrivals[first[0]]),
            "approximateArrivalOfLastRecord": iso_ms(arrivals[first[0]]),
            "batchSize": 1,
            "streamArn": stack.outputs["ExampleSourceArn"],
        },
    }
    assert sink_ids(engine, stack) == {"o-2", "o-3"}

    # MaximumRetryAttempts -1: a failing batch is retried until its records are too old
    poison = put_kinesis(engine, stack, [POISON])
    clock.now = time.time()
    stalled = em.run_until_idle(max_rounds=4)
    assert not stalled.idle and batches(em)[-4:] == [poison] * 4
    clock.now += 61
    finished = em.run_until_idle()
    assert finished.idle and finished.invocations == 0
    [aged] = dlq(engine, stack)
    assert aged["requestContext"]["condition"] == "RecordAgeExceeded" and "responseContext" not in aged
    assert aged["requestContext"]["approximateInvokeCount"] == 5  # the 4 invocations and the attempt that found it old
    assert aged["KinesisBatchInfo"]["startSequenceNumber"] == poison[0]


def test_dynamodb_streams_on_failure_records(engine: LocalEngine, deploy: Any) -> None:
    stack = deploy(
        ExampleSourceType="dynamodb",
        ExampleMaximumRetryAttempts="1",
        ExampleBisectBatchOnFunctionError="false",
        ExampleMaximumRecordAgeInSeconds="60",
    )
    put_items(engine, stack, [order(1), POISON, order(3)])
    clock = FakeClock()
    em = emulator(engine, stack, clock)
    em.run_until_idle()
    put_items(engine, stack, [order(4), {"id": "late", "amount": "x"}])
    clock.now = time.time() + 3600
    em.run_until_idle()

    records = dynamodb_stream_records(engine, stack)
    seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
    created = [r["dynamodb"]["ApproximateCreationDateTime"] for r in records]
    assert batches(em) == [seqs[:3], seqs[:3]]
    exhausted, aged = dlq(engine, stack)
    mapping = em.mappings()[0]
    streams = engine.client("dynamodbstreams")
    shard_id = streams.describe_stream(StreamArn=mapping.source_arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def batch_info(first: int, last: int) -> dict[str, Any]:
        return {
            "shardId": shard_id,
            "startSequenceNumber": seqs[first],
            "endSequenceNumber": seqs[last],
            "approximateArrivalOfFirstRecord": iso_s(created[first]),
            "approximateArrivalOfLastRecord": iso_s(created[last]),
            "batchSize": last - first + 1,
            "streamArn": stack.outputs["ExampleSourceArn"],
        }

    check_envelope(exhausted, (clock.now - 3600 - 60, clock.now))
    assert exhausted == {
        "requestContext": {
            "requestId": exhausted["requestContext"]["requestId"],
            "functionArn": mapping.function_arn,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 2,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": exhausted["timestamp"],
        "DDBStreamBatchInfo": batch_info(0, 2),
    }
    check_envelope(aged, (clock.now, clock.now))
    assert aged == {
        "requestContext": {
            "requestId": aged["requestContext"]["requestId"],
            "functionArn": mapping.function_arn,
            "condition": "RecordAgeExceeded",
            "approximateInvokeCount": 1,
        },
        "version": "1.0",
        "timestamp": aged["timestamp"],
        "DDBStreamBatchInfo": batch_info(3, 4),
    }
    assert sink_ids(engine, stack) == {"o-1"}


@pytest.mark.parametrize("source", ["kinesis", "dynamodb"])
def test_an_s3_destination_gets_the_record_and_the_whole_event(engine: LocalEngine, deploy: Any, source: str) -> None:
    stack = deploy(ExampleSourceType=source, ExampleMaximumRetryAttempts="0", ExampleBisectBatchOnFunctionError="false")
    bucket = stack.outputs["RunBucketName"]
    mapping_uuid = stack.resources["OrdersConsumerMapping"]
    lam = engine.client("lambda")
    send_failures_to_s3(engine, mapping_uuid, stack.resources["OrdersConsumerFunction"], bucket)
    if source == "kinesis":
        put_kinesis(engine, stack, [order(1), POISON])
    else:
        put_items(engine, stack, [order(1), POISON])
    em = emulator(engine, stack)
    em.run_until_idle()

    s3 = engine.client("s3")
    [obj] = s3.list_objects_v2(Bucket=bucket, Prefix="aws/lambda/")["Contents"]
    key = S3_KEY.match(obj["Key"])
    assert key and key["uuid"] == mapping_uuid and key["shard"] == em.failures[0].shard_id
    body = json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
    assert dlq(engine, stack) == []
    info_name = "KinesisBatchInfo" if source == "kinesis" else "DDBStreamBatchInfo"
    assert list(body) == ["requestContext", "responseContext", "version", "timestamp", info_name, "payload"]
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body[info_name]["batchSize"] == 2
    assert isinstance(body["payload"], str)  # "the original invocation record as an escaped JSON string"
    event = json.loads(body["payload"])
    function = lam.get_function_configuration(FunctionName=stack.outputs["ExampleConsumerFunction"])
    arn = stack.outputs["ExampleSourceArn"]
    if source == "kinesis":
        first = event["Records"][0]
        seq = first["kinesis"]["sequenceNumber"]
        assert first == {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": "orders",
                "sequenceNumber": seq,
                "data": base64.b64encode(json.dumps(order(1)).encode()).decode(),
                "approximateArrivalTimestamp": first["kinesis"]["approximateArrivalTimestamp"],
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"shardId-000000000000:{seq}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": function["Role"],
            "awsRegion": "us-east-1",
            "eventSourceARN": arn,
        }
        assert isinstance(first["kinesis"]["approximateArrivalTimestamp"], float)
    else:
        raw = dynamodb_stream_records(engine, stack)[0]
        first = event["Records"][0]
        assert first == {
            "eventID": raw["eventID"],
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": math.floor(raw["dynamodb"]["ApproximateCreationDateTime"].timestamp()),
                "Keys": {"pk": {"S": "o-1"}},
                "NewImage": {"pk": {"S": "o-1"}, "id": {"S": "o-1"}, "amount": {"N": "1"}},
                "SequenceNumber": raw["dynamodb"]["SequenceNumber"],
                "SizeBytes": raw["dynamodb"]["SizeBytes"],
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
            "eventSourceARN": arn,
        }
    assert sink_ids(engine, stack) == {"o-1"}
