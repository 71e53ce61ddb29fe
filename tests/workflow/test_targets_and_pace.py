"""The three redrive targets, and the pace: never above ``ratePerSecond``."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

from redrive_local.engine import LocalEngine
from redrive_local.rehearsal import Rehearsal
from redrive_local.scenario import Scenario

from .conftest import AMOUNT_AS_NUMBER, kinesis_scenario, run_id_of, s3_json, s3_keys

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
    assert [r["PartitionKey"] for r in put_back] == [f"pk-{i}" for i in range(4)]
    assert [json.loads(r["Data"]) for r in put_back] == [{"id": f"t-{i}", "amount": i + 0.5} for i in range(4)]


def test_stream_target_writes_dynamodb_items_again(engine: LocalEngine) -> None:
    scenario = Scenario.model_validate(
        {
            "source": {"type": "dynamodb"},
            "consumer": {"batchSize": 1, "maximumRetryAttempts": 0, "bisectBatchOnFunctionError": False},
            "records": [{"item": {"pk": "order#1", "id": "dd-1", "amount": "3.25"}}],
            "run": {"rules": [AMOUNT_AS_NUMBER], "redrive": {"target": "stream"}},
        }
    )
    report = Rehearsal(scenario, trigger="manual", engine=engine).run()
    assert report["counts"]["redriven"] == 1
    assert {"pk": "order#1", "id": "dd-1", "amount": 3.25} in report["consumer"]["processed"]


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
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
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
    records = [{"partitionKey": f"k{i % 3}", "data": {"id": f"r-{i}", "amount": str(i)}} for i in range(16)]
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
    assert report["redrive"]["achievedPerSecond"] <= rate

    bucket = rehearsal.outputs["RunBucketName"]
    results = [s3_json(engine, bucket, k) for k in s3_keys(engine, bucket, f"runs/{run_id_of(report)}/results/")]
    starts = sorted((r["startedAt"], r["records"]) for r in results)
    # Over any stretch of time, what started is at most the rate's share plus one slot's
    # worth per concurrent iteration (the batches that were already under way).
    for i, (t0, _) in enumerate(starts):
        for j in range(i, len(starts)):
            sent = sum(n for _, n in starts[i : j + 1])
            assert sent <= rate * (starts[j][0] - t0) + concurrency * batch_size + 1e-9
    busy = sorted((r["startedAt"], r["finishedAt"]) for r in results)
    for start, _ in busy:
        overlapping = sum(1 for s, f in busy if s <= start < f)
        assert overlapping <= concurrency, "MaxConcurrency holds"

    # A shard's batches go one after another, in sequence order.
    prefix = f"runs/{run_id_of(report)}/"
    shard_of = {
        b["batchId"]: b["shardId"]
        for b in (s3_json(engine, bucket, k) for k in s3_keys(engine, bucket, prefix + "batches/"))
    }
    by_id = {r["batchId"]: r for r in results}
    for shard in set(shard_of.values()):
        lane = sorted(b for b, s in shard_of.items() if s == shard)
        assert len(lane) > 1
        for earlier, later in itertools.pairwise(lane):
            assert by_id[later]["startedAt"] >= by_id[earlier]["sentAt"], (earlier, later)


def test_records_in_the_redrive_event_have_the_shape_the_mapping_sends(engine: LocalEngine) -> None:
    scenario = kinesis_scenario(REPAIRABLE[:1], {"rules": [AMOUNT_AS_NUMBER], "dryRun": True})
    rehearsal = Rehearsal(scenario, trigger="manual", engine=engine)
    report = rehearsal.run()
    bucket = rehearsal.outputs["RunBucketName"]
    batch = s3_json(engine, bucket, f"runs/{run_id_of(report)}/batches/b00001.json")
    from redrive.core.stream_events import invocation_event

    [event_record] = invocation_event(batch["records"], "us-east-1")["Records"]
    assert set(event_record) == {
        "kinesis",
        "eventSource",
        "eventVersion",
        "eventID",
        "eventName",
        "invokeIdentityArn",
        "awsRegion",
        "eventSourceARN",
    }
    assert set(event_record["kinesis"]) == {
        "kinesisSchemaVersion",
        "partitionKey",
        "sequenceNumber",
        "data",
        "approximateArrivalTimestamp",
    }
    assert json.loads(base64.b64decode(event_record["kinesis"]["data"])) == {"id": "t-0", "amount": 0.5}
    assert event_record["eventSourceARN"] == rehearsal.outputs["ExampleSourceArn"]
