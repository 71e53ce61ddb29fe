"""Redrive targets against fakes of the boto3 clients: invoke (bisection, partial batch
responses), stream (PutRecords chunks and retries, DynamoDB PutItem) and queue."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from redrive.adapters.targets import (
    PUT_RECORDS_ATTEMPTS,
    PUT_RECORDS_MAX,
    InvokeTarget,
    QueueTarget,
    StreamTarget,
    message_body,
    short,
    target_for,
)
from redrive.contracts.plan import Batch
from redrive.contracts.records import FailureContext, StreamRecord
from redrive.contracts.run import NO_DYNAMODB_STREAM_TARGET
from redrive.contracts.vocab import Source, Target
from redrive.errors import TargetError

KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
TABLE_STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer"
SHARD = "shardId-000000000000"


def kinesis(seq: int, data: Any = None, partition_key: str | None = "pk") -> StreamRecord:
    payload = json.dumps(data if data is not None else {"id": seq}).encode()
    return StreamRecord(
        source=Source.KINESIS,
        stream_arn=KINESIS_ARN,
        shard_id=SHARD,
        sequence_number=str(seq),
        partition_key=partition_key,
        approximate_arrival="2026-11-22T03:12:38.850000+00:00",
        payload=base64.b64encode(payload).decode(),
    )


def dynamodb(seq: int, new_image: dict[str, Any] | None, event_name: str = "MODIFY") -> StreamRecord:
    return StreamRecord(
        source=Source.DYNAMODB,
        stream_arn=TABLE_STREAM_ARN,
        shard_id="ddb-shard",
        sequence_number=str(seq),
        event_name=event_name,
        keys={"pk": {"S": f"order#{seq}"}},
        new_image=new_image,
    )


def batch(records: list[StreamRecord], function_arn: str | None = FUNCTION_ARN) -> Batch:
    return Batch(
        batch_id="b00001",
        lane=0,
        target=Target.INVOKE,
        function_arn=function_arn,
        source=records[0].source,
        stream_arn=records[0].stream_arn,
        shard_id=records[0].shard_id,
        records=records,
    )


Consumer = Callable[[list[dict[str, Any]]], Any]


class FakeLambda:
    """``invoke`` runs ``consumer`` on the decoded records; an exception is a function error."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.invocations: list[list[str]] = []
        self.events: list[dict[str, Any]] = []

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        assert FunctionName == FUNCTION_ARN
        assert InvocationType == "RequestResponse"
        event = json.loads(Payload)
        self.events.append(event)
        self.invocations.append([r["kinesis"]["sequenceNumber"] for r in event["Records"]])
        try:
            answer = self.consumer(event["Records"])
        except Exception as error:
            body = {"errorType": type(error).__name__, "errorMessage": str(error), "stackTrace": ["line 1", "line 2"]}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}


def data_of(entry: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(entry["kinesis"]["data"]))


def fails_on_poison(records: list[dict[str, Any]]) -> None:
    for entry in records:
        if data_of(entry).get("poison"):
            raise ValueError(f"cannot parse order {data_of(entry)['id']}\nTraceback (most recent call last): ...")


class TestInvokeTarget:
    def test_success_sends_the_mapping_event_once(self) -> None:
        client = FakeLambda(lambda records: None)
        records = [kinesis(1), kinesis(2)]
        assert InvokeTarget(client, "us-east-1").send(batch(records)) == {}
        assert client.invocations == [["1", "2"]]
        [entry, _] = client.events[0]["Records"]
        assert entry["eventSource"] == "aws:kinesis"
        assert entry["awsRegion"] == "us-east-1"
        assert entry["kinesis"]["data"] == records[0].payload
        assert entry["eventSourceARN"] == KINESIS_ARN
        assert entry["eventID"] == records[0].record_id

    def test_function_error_bisects_down_to_the_poison_record(self) -> None:
        client = FakeLambda(fails_on_poison)
        records = [kinesis(i, {"id": i, "poison": i == 3}) for i in range(1, 5)]
        failed = InvokeTarget(client, "us-east-1").send(batch(records))
        assert set(failed) == {f"{SHARD}:3"}
        # [1,2,3,4] fails; [1,2] passes; [3,4] fails; [3] fails; [4] passes.
        assert client.invocations == [["1", "2", "3", "4"], ["1", "2"], ["3", "4"], ["3"], ["4"]]

    def test_every_record_of_an_always_failing_consumer_gets_its_own_reason(self) -> None:
        def always(records: list[dict[str, Any]]) -> None:
            raise RuntimeError("database down")

        client = FakeLambda(always)
        records = [kinesis(i) for i in range(8)]
        failed = InvokeTarget(client, "us-east-1").send(batch(records))
        assert set(failed) == {r.record_id for r in records}
        assert len(client.invocations) == 2 * 8 - 1  # a full binary tree over 8 leaves
        assert all(reason == "consumer failed again (RuntimeError: database down)" for reason in failed.values())

    def test_without_bisection_the_whole_batch_fails_in_one_call(self) -> None:
        client = FakeLambda(fails_on_poison)
        records = [kinesis(i, {"id": i, "poison": i == 0}) for i in range(4)]
        failed = InvokeTarget(client, "us-east-1", bisect_on_error=False).send(batch(records))
        assert set(failed) == {r.record_id for r in records}
        assert len(client.invocations) == 1

    def test_reason_is_the_first_line_of_the_error(self) -> None:
        client = FakeLambda(fails_on_poison)
        failed = InvokeTarget(client, "us-east-1").send(batch([kinesis(7, {"id": 7, "poison": True})]))
        assert failed == {f"{SHARD}:7": "consumer failed again (ValueError: cannot parse order 7)"}

    def test_batch_item_failures_are_honoured(self) -> None:
        client = FakeLambda(lambda records: {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "4"}]})
        records = [kinesis(i) for i in range(1, 6)]
        failed = InvokeTarget(client, "us-east-1").send(batch(records))
        assert failed == {
            f"{SHARD}:2": "consumer reported it in batchItemFailures",
            f"{SHARD}:4": "consumer reported it in batchItemFailures",
        }
        assert len(client.invocations) == 1

    def test_unknown_item_identifier_fails_the_batch_then_bisects(self) -> None:
        def answer(records: list[dict[str, Any]]) -> dict[str, Any]:
            seqs = [r["kinesis"]["sequenceNumber"] for r in records]
            return {"batchItemFailures": [{"itemIdentifier": "nope"}]} if "2" in seqs else {}

        client = FakeLambda(answer)
        failed = InvokeTarget(client, "us-east-1").send(batch([kinesis(1), kinesis(2)]))
        assert set(failed) == {f"{SHARD}:2"}
        assert "not in the batch" in failed[f"{SHARD}:2"]

    def test_no_function_known(self) -> None:
        client = FakeLambda(lambda records: None)
        failed = InvokeTarget(client, "us-east-1").send(batch([kinesis(1)], function_arn=None))
        assert failed == {f"{SHARD}:1": "no consumer function is known for this record"}
        assert client.invocations == []

    def test_error_payload_that_is_not_json(self) -> None:
        class RawError:
            def invoke(self, **kwargs: Any) -> dict[str, Any]:
                text = "Task timed out after 3.00 seconds\nmore detail"
                return {"FunctionError": "Unhandled", "Payload": io.BytesIO(text.encode())}

        failed = InvokeTarget(RawError(), "us-east-1").send(batch([kinesis(1)]))
        assert failed == {f"{SHARD}:1": "consumer failed again (Task timed out after 3.00 seconds)"}

    def test_empty_answer_is_success(self) -> None:
        class Empty:
            def invoke(self, **kwargs: Any) -> dict[str, Any]:
                return {"StatusCode": 200, "Payload": io.BytesIO(b"")}

        assert InvokeTarget(Empty(), "us-east-1").send(batch([kinesis(1)])) == {}


class TestShort:
    def test_first_line(self) -> None:
        assert short("KeyError: 'id'\n  File x, line 3") == "KeyError: 'id'"

    def test_leading_blank_lines(self) -> None:
        assert short("\n\n  boom\nrest") == "boom"

    def test_long_line_is_cut_with_an_ellipsis(self) -> None:
        cut = short("x" * 1000)
        assert len(cut) == 300 and cut.endswith("…")
        assert short("y" * 300) == "y" * 300
        assert short("abcdef", limit=4) == "abc…"

    def test_empty(self) -> None:
        assert short("") == "" and short("   \n ") == ""


class FakeKinesis:
    """put_records fails the entries ``fail(attempt, data)`` names, with an ErrorCode."""

    def __init__(self, fail: Callable[[int, dict[str, Any]], bool] = lambda attempt, data: False) -> None:
        self.fail = fail
        self.calls: list[list[dict[str, Any]]] = []

    def put_records(self, *, StreamARN: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        assert StreamARN == KINESIS_ARN
        assert len(Records) <= 500, "PutRecords takes at most 500 records"
        attempt = len(self.calls)
        self.calls.append(Records)
        results = []
        for entry in Records:
            if self.fail(attempt, json.loads(entry["Data"])):
                results.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"})
            else:
                results.append({"SequenceNumber": "1", "ShardId": SHARD})
        return {"FailedRecordCount": sum(1 for r in results if "ErrorCode" in r), "Records": results}


class TestStreamTargetKinesis:
    def test_chunks_of_at_most_500_with_the_original_partition_key(self) -> None:
        kinesis_client = FakeKinesis()
        sleeps: list[float] = []
        records = [kinesis(i, partition_key=f"customer-{i % 3}") for i in range(1203)]
        target = StreamTarget(kinesis_client, sleep=sleeps.append)
        assert target.send(batch(records)) == {}
        assert [len(c) for c in kinesis_client.calls] == [PUT_RECORDS_MAX, PUT_RECORDS_MAX, 203]
        sent = [entry for call in kinesis_client.calls for entry in call]
        assert [json.loads(e["Data"])["id"] for e in sent] == list(range(1203))
        assert [e["PartitionKey"] for e in sent] == [f"customer-{i % 3}" for i in range(1203)]
        assert sleeps == []

    def test_data_is_the_decoded_payload(self) -> None:
        kinesis_client = FakeKinesis()
        record = kinesis(1, {"id": 1, "amount": 12.5})
        StreamTarget(kinesis_client, sleep=lambda s: None).send(batch([record]))
        assert kinesis_client.calls[0][0]["Data"] == b'{"id": 1, "amount": 12.5}'

    def test_missing_partition_key_uses_the_record_id(self) -> None:
        kinesis_client = FakeKinesis()
        StreamTarget(kinesis_client, sleep=lambda s: None).send(batch([kinesis(1, partition_key=None)]))
        assert kinesis_client.calls[0][0]["PartitionKey"] == f"{SHARD}:1"

    def test_failed_entries_are_retried_alone(self) -> None:
        kinesis_client = FakeKinesis(fail=lambda attempt, data: attempt == 0 and data["id"] % 2 == 0)
        sleeps: list[float] = []
        records = [kinesis(i) for i in range(6)]
        failed = StreamTarget(kinesis_client, sleep=sleeps.append).send(batch(records))
        assert failed == {}
        assert [[json.loads(e["Data"])["id"] for e in call] for call in kinesis_client.calls] == [
            [0, 1, 2, 3, 4, 5],
            [0, 2, 4],
        ]
        assert len(sleeps) == 1

    def test_entries_that_keep_failing_are_reported(self) -> None:
        kinesis_client = FakeKinesis(fail=lambda attempt, data: data["id"] == 3)
        sleeps: list[float] = []
        records = [kinesis(i) for i in range(5)]
        failed = StreamTarget(kinesis_client, sleep=sleeps.append).send(batch(records))
        assert failed == {f"{SHARD}:3": "ProvisionedThroughputExceededException: Rate exceeded"}
        assert len(kinesis_client.calls) == PUT_RECORDS_ATTEMPTS
        assert all(len(call) == 1 for call in kinesis_client.calls[1:])
        assert sleeps == sorted(sleeps), "backoff does not shrink"
        assert all(0 < s <= 2.0 for s in sleeps)


class TestStreamTargetDynamoDb:
    def test_dynamodb_records_are_never_written_back_and_each_fails_with_the_reason(self) -> None:
        """A DynamoDB stream takes no records; PutItem of the old NewImage is unsafe (no stream record
        when unchanged, stale data over newer). Such a batch only arises when planning was bypassed."""
        kinesis_client = FakeKinesis()
        records = [dynamodb(i, {"pk": {"S": f"order#{i}"}}) for i in (1, 2)]
        failed = StreamTarget(kinesis_client, sleep=lambda s: None).send(batch(records))
        assert failed == {r.record_id: NO_DYNAMODB_STREAM_TARGET for r in records}
        assert kinesis_client.calls == []


class FakeSqs:
    def __init__(self, fail_ids: set[int] | None = None) -> None:
        self.fail_ids = fail_ids or set()
        self.calls: list[list[dict[str, Any]]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        assert QueueUrl == "https://sqs/replay"
        assert len(Entries) <= 10, "SendMessageBatch takes at most 10 entries"
        self.calls.append(Entries)
        offset = 10 * (len(self.calls) - 1)
        failed = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"}
            for e in Entries
            if offset + int(e["Id"]) in self.fail_ids
        ]
        ok = [{"Id": e["Id"], "MessageId": "x"} for e in Entries if offset + int(e["Id"]) not in self.fail_ids]
        return {"Successful": ok, "Failed": failed}


class TestQueueTarget:
    def test_batches_of_ten(self) -> None:
        sqs = FakeSqs()
        records = [kinesis(i) for i in range(23)]
        assert QueueTarget(sqs, "https://sqs/replay").send(batch(records)) == {}
        assert [len(c) for c in sqs.calls] == [10, 10, 3]
        first = sqs.calls[0][0]
        assert json.loads(first["MessageBody"]) == {"id": 0}
        assert first["MessageAttributes"] == {
            "source": {"DataType": "String", "StringValue": "kinesis"},
            "shardId": {"DataType": "String", "StringValue": SHARD},
            "sequenceNumber": {"DataType": "String", "StringValue": "0"},
        }
        for call in sqs.calls:
            ids = [e["Id"] for e in call]
            assert len(ids) == len(set(ids))

    def test_failures_are_reported_per_record(self) -> None:
        sqs = FakeSqs(fail_ids={3, 14})
        records = [kinesis(i) for i in range(20)]
        failed = QueueTarget(sqs, "https://sqs/replay").send(batch(records))
        assert failed == {
            f"{SHARD}:3": "SendMessage failed: InternalError try again",
            f"{SHARD}:14": "SendMessage failed: InternalError try again",
        }


class TestMessageBody:
    def test_kinesis_text(self) -> None:
        assert message_body(kinesis(1, {"id": "o-1"})) == '{"id": "o-1"}'

    def test_kinesis_binary_stays_base64(self) -> None:
        record = kinesis(1).model_copy(update={"payload": base64.b64encode(b"\xff\xfe\x00").decode()})
        assert message_body(record) == record.payload

    def test_dynamodb_new_image_as_compact_json(self) -> None:
        record = dynamodb(1, {"pk": {"S": "order#1"}, "n": {"N": "2"}})
        assert message_body(record) == '{"pk":{"S":"order#1"},"n":{"N":"2"}}'

    def test_dynamodb_without_new_image(self) -> None:
        assert message_body(dynamodb(1, None, event_name="REMOVE")) == "{}"

    def test_dynamodb_queue_message_names_its_source(self) -> None:
        sqs = FakeSqs()
        record = dynamodb(7, {"pk": {"S": "order#7"}})
        assert QueueTarget(sqs, "https://sqs/replay").send(batch([record])) == {}
        [entry] = sqs.calls[0]
        assert json.loads(entry["MessageBody"]) == {"pk": {"S": "order#7"}}
        assert entry["MessageAttributes"]["source"]["StringValue"] == "dynamodb"
        assert entry["MessageAttributes"]["shardId"]["StringValue"] == "ddb-shard"


class TestFailureContextIsNotSent:
    def test_the_invoke_event_carries_no_failure_context(self) -> None:
        client = FakeLambda(lambda records: None)
        record = kinesis(1).model_copy(update={"failure": FailureContext(condition="RetryAttemptsExhausted")})
        InvokeTarget(client, "us-east-1").send(batch([record]))
        assert "RetryAttemptsExhausted" not in json.dumps(client.events[0])


class TestTargetFor:
    class Clients:
        def __init__(self) -> None:
            self.asked: list[str] = []

        def __call__(self, service: str) -> Any:
            self.asked.append(service)
            return f"client:{service}"

    def test_invoke(self) -> None:
        clients = self.Clients()
        target = target_for(Target.INVOKE, None, clients, "eu-west-1")
        assert isinstance(target, InvokeTarget)
        assert (target.lambda_client, target.region, target.bisect_on_error) == ("client:lambda", "eu-west-1", True)
        assert clients.asked == ["lambda"]

    def test_stream(self) -> None:
        clients = self.Clients()
        target = target_for(Target.STREAM, None, clients, "eu-west-1")
        assert isinstance(target, StreamTarget)
        assert target.kinesis == "client:kinesis"
        assert clients.asked == ["kinesis"]

    def test_queue(self) -> None:
        clients = self.Clients()
        target = target_for(Target.QUEUE, "https://sqs/replay", clients, "eu-west-1")
        assert isinstance(target, QueueTarget)
        assert (target.sqs, target.queue_url) == ("client:sqs", "https://sqs/replay")

    @pytest.mark.parametrize("queue_url", [None, ""])
    def test_queue_without_a_url_is_an_error(self, queue_url: str | None) -> None:
        clients = self.Clients()
        with pytest.raises(TargetError, match="queueUrl"):
            target_for(Target.QUEUE, queue_url, clients, "eu-west-1")
        assert clients.asked == []

    @pytest.mark.parametrize("unknown", ["carrier-pigeon", "", None])
    def test_an_unknown_target_is_an_error_never_a_default(self, unknown: Any) -> None:
        clients = self.Clients()
        with pytest.raises(TargetError, match="unknown redrive target"):
            target_for(unknown, "https://sqs/replay", clients, "eu-west-1")
        assert clients.asked == []
