"""Records that fail again go back self-contained, so a later run needs no stream; and the
message kinds that carry their records with them (S3 destination, re-queued records)."""

from __future__ import annotations

import json

from redrive_local.engine import LocalEngine
from redrive_local.esm_events import s3_on_failure_record
from redrive_local.inspect import queue_bodies, trim_stream_records
from redrive_local.rehearsal import Rehearsal
from tests.support.rules import AMOUNT_AS_NUMBER

from .conftest import kinesis_scenario, s3_json


def _trim_everything(rehearsal: Rehearsal) -> None:
    trim_stream_records(rehearsal.outputs["ExampleSourceArn"], rehearsal.written)


def test_a_later_run_redrives_a_requeued_record_after_the_stream_lost_it(engine: LocalEngine) -> None:
    rehearsal = Rehearsal(
        kinesis_scenario([{"partitionKey": "p", "data": {"id": "rq-1", "amount": "7.5"}}]),
        trigger="manual",
        engine=engine,
    )
    rehearsal.prepare()
    first = rehearsal.redrive({})  # no rules: the consumer fails on it again
    assert [r["outcome"] for r in first["records"]] == ["failed"]
    [requeued] = first["dlq"]["after"]
    assert json.loads(requeued)["streamRedrive"]["record"]["partitionKey"] == "p"
    assert json.loads(requeued)["streamRedrive"]["failure"]["redriveAttempts"] == 1

    _trim_everything(rehearsal)
    second = rehearsal.redrive({"rules": [AMOUNT_AS_NUMBER]})
    assert second["counts"]["recordsFetched"] == 1
    assert second["metrics"]["getRecordsCalls"] == 0, "the record came from the message, not the stream"
    [record] = second["records"]
    assert (record["outcome"], record["rule"]) == ("redriven", "amount-as-number")
    assert {"id": "rq-1", "amount": 7.5} in second["consumer"]["processed"]
    assert second["dlq"]["after"] == []


def test_a_large_record_goes_back_by_s3_reference(engine: LocalEngine) -> None:
    big = "x" * 210_000
    rehearsal = Rehearsal(
        kinesis_scenario([{"partitionKey": "p", "data": {"amount": 1, "blob": big}}]), trigger="manual", engine=engine
    )
    rehearsal.prepare()
    first = rehearsal.redrive({})
    [message] = first["dlq"]["after"]
    assert len(message) < 10_000
    marker = json.loads(message)["streamRedrive"]
    assert marker["record"] is None
    ref = marker["recordRef"]
    assert s3_json(engine, ref["bucket"], ref["key"])["sequenceNumber"] == first["records"][0]["sequenceNumber"]

    _trim_everything(rehearsal)
    add_id = {
        "name": "add-id",
        "when": "$not($exists(data.id))",
        "action": "repair",
        "repair": "$merge([data, {'id': 'big-1'}])",
    }
    second = rehearsal.redrive({"rules": [add_id]})
    assert second["execution"]["status"] == "SUCCEEDED", second["execution"]["cause"]
    [record] = second["records"]
    assert record["outcome"] == "redriven"
    processed = {item["id"]: item for item in second["consumer"]["processed"]}
    assert processed["big-1"]["blob"] == big


def test_an_s3_on_failure_destination_record_carries_its_records(engine: LocalEngine) -> None:
    rehearsal = Rehearsal(
        kinesis_scenario([{"partitionKey": "p", "data": {"id": "s3d-1", "amount": "2"}}]),
        trigger="manual",
        engine=engine,
    )
    rehearsal.prepare()
    dlq_url = rehearsal.outputs["DeadLetterQueueUrl"]
    [pointer_body] = queue_bodies(dlq_url)
    sqs = engine.client("sqs")
    received = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    for message in received:
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
    # The same failure as an S3 destination writes it: the metadata plus the whole event.
    [failure] = rehearsal.consumer.failures
    records = [s for s in rehearsal.consumer.steps if hasattr(s, "outcome")]
    assert records
    event_records = _event_records(rehearsal)
    s3_form = s3_on_failure_record(json.loads(pointer_body), event_records)
    sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps(s3_form))
    _trim_everything(rehearsal)

    report = rehearsal.redrive({"rules": [AMOUNT_AS_NUMBER]})
    assert failure.condition == "RetryAttemptsExhausted"
    assert report["metrics"]["getRecordsCalls"] == 0
    [record] = report["records"]
    assert (record["outcome"], record["data"]) == ("redriven", {"id": "s3d-1", "amount": 2})
    assert report["counts"]["pointers"] == 1


def _event_records(rehearsal: Rehearsal) -> list:  # type: ignore[type-arg]
    """The records of the consumer's failed batch, as Lambda delivered them."""
    from redrive_local.esm_events import kinesis_record

    kinesis = rehearsal.engine.client("kinesis")
    arn = rehearsal.outputs["ExampleSourceArn"]
    shard, seq = rehearsal.written[0]
    iterator = kinesis.get_shard_iterator(
        StreamARN=arn, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=seq
    )["ShardIterator"]
    raw = kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"][0]
    return [kinesis_record(raw, shard, arn, "us-east-1", "arn:aws:iam::123456789012:role/consumer")]


def test_a_rule_can_give_up_on_a_record_that_keeps_failing(engine: LocalEngine) -> None:
    rehearsal = Rehearsal(
        kinesis_scenario([{"partitionKey": "p", "data": {"amount": 1}}]), trigger="manual", engine=engine
    )
    rehearsal.prepare()
    for attempt in (1, 2):
        report = rehearsal.redrive({})  # no id: the consumer fails on it every time
        [message] = report["dlq"]["after"]
        assert json.loads(message)["streamRedrive"]["failure"]["redriveAttempts"] == attempt
    give_up = {
        "name": "give-up",
        "when": "failure.redriveAttempts >= 2",
        "action": "discard",
        "reason": "failed again after two redrives",
    }
    final = rehearsal.redrive({"rules": [give_up]})
    [record] = final["records"]
    assert (record["outcome"], record["rule"]) == ("discarded", "give-up")
    assert final["dlq"]["after"] == []
