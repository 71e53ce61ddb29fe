"""Redrive targets keep to AWS's limits and survive its throttles, per record: a batch too
big for one call is split, a record too big for the target fails alone with the limit's
name, throttles are backed off within a bounded budget and then fail per record."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from redrive.adapters.targets import (
    INVOKE_PAYLOAD_MAX,
    KINESIS_RECORD_MAX,
    PUT_RECORDS_BYTES_MAX,
    SQS_BATCH_BYTES_MAX,
    SQS_MESSAGE_MAX,
    Backoff,
    InvokeTarget,
    QueueTarget,
    StreamTarget,
    kinesis_entry_size,
    pack_by_size,
    sqs_message_size,
    target_for,
)
from redrive.contracts.plan import Batch
from redrive.contracts.records import StreamRecord
from redrive.contracts.vocab import Source, Target

KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer"
SHARD = "shardId-000000000000"
KIB = 1024


def record(seq: int, size: int = 10, partition_key: str = "pk") -> StreamRecord:
    """A Kinesis record whose data is ``size`` bytes."""
    data = json.dumps({"id": seq, "pad": ""}).encode()
    data = data[:-2] + b"x" * max(0, size - len(data)) + b'"}'
    return StreamRecord(
        source=Source.KINESIS,
        stream_arn=KINESIS_ARN,
        shard_id=SHARD,
        sequence_number=str(seq),
        partition_key=partition_key,
        payload=base64.b64encode(data).decode(),
    )


def batch(records: list[StreamRecord], target: Target = Target.INVOKE) -> Batch:
    return Batch(
        batch_id="b00001",
        lane=0,
        target=target,
        function_arn=FUNCTION_ARN,
        source=Source.KINESIS,
        stream_arn=KINESIS_ARN,
        shard_id=SHARD,
        records=records,
    )


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "refused"}}, operation)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class SizedLambda:
    """Refuses as Lambda does a request over ``limit`` bytes; throttles the first
    ``throttles`` calls; otherwise succeeds."""

    def __init__(self, limit: int = INVOKE_PAYLOAD_MAX, throttles: int = 0) -> None:
        self.limit = limit
        self.throttles = throttles
        self.calls: list[list[str]] = []
        self.sizes: list[int] = []

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        if self.throttles:
            self.throttles -= 1
            raise client_error("TooManyRequestsException", "Invoke")
        if len(Payload) > self.limit:
            raise client_error("RequestEntityTooLargeException", "Invoke")
        event = json.loads(Payload)
        self.sizes.append(len(Payload))
        self.calls.append([r["kinesis"]["sequenceNumber"] for r in event["Records"]])
        return {"StatusCode": 200, "Payload": io.BytesIO(b"null")}


class TestPackBySize:
    def test_groups_stay_within_the_limit_and_the_count(self) -> None:
        assert pack_by_size([4, 4, 4, 4], limit=10, frame=2, separator=0, most=10) == [range(0, 2), range(2, 4)]
        assert pack_by_size([1] * 5, limit=100, frame=0, separator=0, most=2) == [range(0, 2), range(2, 4), range(4, 5)]
        assert pack_by_size([3, 3], limit=8, frame=1, separator=1, most=9) == [range(0, 2)]
        assert pack_by_size([3, 3], limit=7, frame=1, separator=1, most=9) == [range(0, 1), range(1, 2)]

    def test_an_item_over_the_limit_is_a_group_of_its_own(self) -> None:
        assert pack_by_size([1, 50, 1], limit=10, frame=0, separator=0, most=10) == [
            range(0, 1),
            range(1, 2),
            range(2, 3),
        ]

    def test_nothing(self) -> None:
        assert pack_by_size([], limit=10, frame=0, separator=0, most=10) == []


class TestBackoff:
    def test_pauses_double_up_to_the_cap_and_stop_at_the_attempts(self) -> None:
        sleeps = Sleeps()
        backoff = Backoff(sleep=sleeps, attempts=6, seconds=100, base=0.5, cap=2.0)
        assert [backoff.pause(attempt) for attempt in range(6)] == [True] * 5 + [False]
        assert sleeps == [0.5, 1.0, 2.0, 2.0, 2.0]

    def test_the_budget_bounds_the_pauses_of_a_whole_batch(self) -> None:
        sleeps = Sleeps()
        backoff = Backoff(sleep=sleeps, attempts=100, seconds=3.0, base=1.0, cap=1.0)
        assert sum(backoff.pause(0) for _ in range(10)) == 3
        assert sum(sleeps) == 3.0
        backoff.start()
        assert backoff.pause(0)


class TestInvokeSizes:
    def test_a_batch_over_6_mb_is_split_into_invokes_within_it(self) -> None:
        client = SizedLambda()
        records = [record(i, size=900 * KIB) for i in range(12)]  # base64: ~1.2 MB of event each
        assert InvokeTarget(client, "us-east-1").send(batch(records)) == {}
        assert [seq for call in client.calls for seq in call] == [str(i) for i in range(12)], "all, in order"
        assert len(client.calls) > 1
        assert max(client.sizes) <= INVOKE_PAYLOAD_MAX

    def test_a_record_too_big_to_invoke_fails_alone_naming_the_limit(self) -> None:
        client = SizedLambda()
        records = [record(1), record(2, size=5 * 1024 * KIB), record(3)]  # 5 MiB of data: ~7 MB in base64
        failed = InvokeTarget(client, "us-east-1").send(batch(records))
        assert list(failed) == [f"{SHARD}:2"]
        assert "Lambda's synchronous invoke payload limit of 6,291,456 bytes" in failed[f"{SHARD}:2"]
        assert client.calls == [["1"], ["3"]]

    def test_a_smaller_limit_at_the_service_splits_down_to_the_record(self) -> None:
        client = SizedLambda(limit=300 * KIB)
        records = [record(1, size=100 * KIB), record(2, size=400 * KIB), record(3, size=100 * KIB)]
        failed = InvokeTarget(client, "us-east-1", bisect_on_error=False).send(batch(records))
        assert list(failed) == [f"{SHARD}:2"]
        assert "RequestEntityTooLargeException" in failed[f"{SHARD}:2"]
        assert sorted(seq for call in client.calls for seq in call) == ["1", "3"]


class TestInvokeThrottles:
    def test_a_throttle_is_backed_off_and_the_batch_delivered(self) -> None:
        client = SizedLambda(throttles=2)
        sleeps = Sleeps()
        target = InvokeTarget(client, "us-east-1", backoff=Backoff(sleep=sleeps))
        assert target.send(batch([record(1), record(2)])) == {}
        assert client.calls == [["1", "2"]]
        assert len(sleeps) == 2

    def test_a_throttle_that_lasts_fails_each_record_within_the_budget(self) -> None:
        client = SizedLambda(throttles=1000)
        sleeps = Sleeps()
        target = InvokeTarget(client, "us-east-1", backoff=Backoff(sleep=sleeps, attempts=5, seconds=1.0))
        failed = target.send(batch([record(1), record(2)]))
        assert set(failed) == {f"{SHARD}:1", f"{SHARD}:2"}
        assert all("throttled (TooManyRequestsException)" in why for why in failed.values())
        assert client.calls == []
        assert sum(sleeps) <= 1.0


class TestInvokeTime:
    def test_no_invoke_starts_that_the_redrive_function_could_not_wait_for(self) -> None:
        client = SizedLambda()
        left = iter([100.0, 20.0])
        target = InvokeTarget(client, "us-east-1", consumer_timeout=lambda arn: 70.0, time_left=lambda: next(left))
        # The first group is invoked (100 s left); the second would need 70 s with 20 left.
        records = [record(i, size=900 * KIB) for i in range(8)]
        failed = target.send(batch(records))
        assert client.calls, "the first invoke went"
        delivered = [seq for call in client.calls for seq in call]
        assert sorted(failed) == sorted(f"{SHARD}:{i}" for i in range(8) if str(i) not in delivered)
        assert failed, "the rest were not tried"
        assert all("consumer's Timeout (70 s) no longer fits" in why for why in failed.values())


class TestInvokeClientPerFunction:
    def test_target_for_invokes_through_the_consumer_s_own_client(self) -> None:
        made: dict[str, SizedLambda] = {}

        def invoke_client(arn: str) -> SizedLambda:
            return made.setdefault(arn, SizedLambda())

        target = target_for(
            Target.INVOKE,
            None,
            lambda service: pytest.fail("no default client"),
            "us-east-1",
            invoke_client=invoke_client,
        )
        assert target.send(batch([record(1)])) == {}
        assert made[FUNCTION_ARN].calls == [["1"]]


class FakeKinesis:
    def __init__(self, whole_call: list[str] | None = None) -> None:
        self.whole_call = list(whole_call or [])
        self.calls: list[list[dict[str, Any]]] = []

    def put_records(self, *, StreamARN: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        if self.whole_call:
            raise client_error(self.whole_call.pop(0), "PutRecords")
        assert len(Records) <= 500
        assert sum(kinesis_entry_size(r) for r in Records) <= PUT_RECORDS_BYTES_MAX, "over 5 MiB a request"
        assert all(kinesis_entry_size(r) <= KINESIS_RECORD_MAX for r in Records), "a record over 1 MiB"
        self.calls.append(Records)
        return {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": SHARD} for _ in Records]}


class TestKinesisSizes:
    def test_a_record_over_1_mib_fails_alone_naming_the_limit(self) -> None:
        kinesis = FakeKinesis()
        records = [record(1), record(2, size=2 * 1024 * KIB), record(3)]
        failed = StreamTarget(kinesis, sleep=Sleeps()).send(batch(records, Target.STREAM))
        assert list(failed) == [f"{SHARD}:2"]
        assert "Kinesis's record size limit of 1,048,576 bytes" in failed[f"{SHARD}:2"]
        assert [[json.loads(e["Data"])["id"] for e in call] for call in kinesis.calls] == [[1, 3]]

    def test_the_partition_key_counts_toward_the_record(self) -> None:
        entry = {"Data": b"x" * (KINESIS_RECORD_MAX - 2), "PartitionKey": "abc"}
        assert kinesis_entry_size(entry) == KINESIS_RECORD_MAX + 1

    def test_requests_stay_within_5_mib(self) -> None:
        kinesis = FakeKinesis()
        records = [record(i, size=900 * KIB) for i in range(12)]
        assert StreamTarget(kinesis, sleep=Sleeps()).send(batch(records, Target.STREAM)) == {}
        assert [len(call) for call in kinesis.calls] == [5, 5, 2]


class TestKinesisThrottles:
    def test_a_throttled_call_is_backed_off_then_sent(self) -> None:
        kinesis = FakeKinesis(whole_call=["ProvisionedThroughputExceededException"])
        sleeps = Sleeps()
        assert StreamTarget(kinesis, sleep=sleeps).send(batch([record(1)], Target.STREAM)) == {}
        assert len(kinesis.calls) == 1 and len(sleeps) == 1

    def test_a_throttle_that_lasts_fails_each_record(self) -> None:
        kinesis = FakeKinesis(whole_call=["ProvisionedThroughputExceededException"] * 100)
        sleeps = Sleeps()
        failed = StreamTarget(kinesis, sleep=sleeps).send(batch([record(1), record(2)], Target.STREAM))
        assert failed == {
            f"{SHARD}:1": "PutRecords failed: ProvisionedThroughputExceededException",
            f"{SHARD}:2": "PutRecords failed: ProvisionedThroughputExceededException",
        }
        assert 0 < sum(sleeps) <= Backoff().seconds

    def test_a_refused_call_fails_its_records_not_the_batch(self) -> None:
        kinesis = FakeKinesis(whole_call=["ValidationException"])
        sleeps = Sleeps()
        failed = StreamTarget(kinesis, sleep=sleeps).send(batch([record(1)], Target.STREAM))
        assert failed == {f"{SHARD}:1": "PutRecords failed: ValidationException"}
        assert sleeps == []

    def test_a_missing_stream_fails_the_batch_as_a_configuration_error(self) -> None:
        kinesis = FakeKinesis(whole_call=["ResourceNotFoundException"])
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            StreamTarget(kinesis, sleep=Sleeps()).send(batch([record(1)], Target.STREAM))


class FakeSqs:
    """SendMessageBatch as SQS checks it: at most 10 entries and 1 MiB; ``whole_call``
    codes are raised first; an entry whose body holds ``refuse`` makes the call fail."""

    def __init__(self, whole_call: list[str] | None = None, refuse: str | None = None) -> None:
        self.whole_call = list(whole_call or [])
        self.refuse = refuse
        self.calls: list[list[dict[str, Any]]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if self.whole_call:
            raise client_error(self.whole_call.pop(0), "SendMessageBatch")
        if self.refuse and any(self.refuse in e["MessageBody"] for e in Entries):
            raise client_error("InvalidMessageContents", "SendMessageBatch")
        assert len(Entries) <= 10
        assert sum(sqs_message_size(e) for e in Entries) <= SQS_BATCH_BYTES_MAX, "over 1 MiB a batch"
        self.calls.append(Entries)
        return {"Successful": [{"Id": e["Id"], "MessageId": "m"} for e in Entries], "Failed": []}


def ids(call: list[dict[str, Any]]) -> list[int]:
    return [json.loads(e["MessageBody"])["id"] for e in call]


class TestQueueSizes:
    def test_a_message_over_1_mib_fails_alone_naming_the_limit(self) -> None:
        sqs = FakeSqs()
        records = [record(1), record(2, size=SQS_MESSAGE_MAX), record(3)]
        failed = QueueTarget(sqs, "https://sqs/replay").send(batch(records, Target.QUEUE))
        assert list(failed) == [f"{SHARD}:2"]
        assert "SQS's message size limit of 1,048,576 bytes" in failed[f"{SHARD}:2"]
        assert [ids(call) for call in sqs.calls] == [[1, 3]]

    def test_batches_stay_within_1_mib(self) -> None:
        sqs = FakeSqs()
        records = [record(i, size=300 * KIB) for i in range(10)]
        assert QueueTarget(sqs, "https://sqs/replay").send(batch(records, Target.QUEUE)) == {}
        assert [len(call) for call in sqs.calls] == [3, 3, 3, 1]

    def test_a_refused_batch_is_sent_one_by_one(self) -> None:
        sqs = FakeSqs(refuse="bad")
        records = [
            record(1),
            record(2).model_copy(update={"payload": base64.b64encode(b'{"id": 2, "bad": 1}').decode()}),
        ]
        failed = QueueTarget(sqs, "https://sqs/replay").send(batch([*records, record(3)], Target.QUEUE))
        assert failed == {f"{SHARD}:2": "SendMessage failed: InvalidMessageContents"}
        assert sorted(i for call in sqs.calls for i in ids(call)) == [1, 3]

    def test_a_missing_queue_fails_the_batch_as_a_configuration_error(self) -> None:
        sqs = FakeSqs(whole_call=["AWS.SimpleQueueService.NonExistentQueue"])
        with pytest.raises(ClientError, match="NonExistentQueue"):
            QueueTarget(sqs, "https://sqs/replay").send(batch([record(1), record(2)], Target.QUEUE))
        assert sqs.calls == [], "not tried one by one"


class TestQueueThrottles:
    def test_a_throttled_call_is_backed_off_then_sent(self) -> None:
        sleeps = Sleeps()
        sqs = FakeSqs(whole_call=["RequestThrottled"])
        target = QueueTarget(sqs, "https://sqs/replay", backoff=Backoff(sleep=sleeps))
        assert target.send(batch([record(1)], Target.QUEUE)) == {}
        assert len(sleeps) == 1

    def test_a_throttle_that_lasts_fails_each_record(self) -> None:
        sleeps = Sleeps()
        sqs = FakeSqs(whole_call=["RequestThrottled"] * 100)
        target = QueueTarget(sqs, "https://sqs/replay", backoff=Backoff(sleep=sleeps))
        failed = target.send(batch([record(1), record(2)], Target.QUEUE))
        assert set(failed.values()) == {"SendMessage failed: RequestThrottled"}
        assert len(failed) == 2 and sqs.calls == []

    def test_throttled_entries_are_retried_alone(self) -> None:
        class PartlyThrottled(FakeSqs):
            def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
                self.calls.append(Entries)
                if len(self.calls) == 1:
                    first = Entries[0]
                    failed = [{"Id": first["Id"], "SenderFault": False, "Code": "RequestThrottled", "Message": ""}]
                    return {"Successful": [{"Id": e["Id"]} for e in Entries[1:]], "Failed": failed}
                return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

        sleeps = Sleeps()
        sqs = PartlyThrottled()
        target = QueueTarget(sqs, "https://sqs/replay", backoff=Backoff(sleep=sleeps))
        assert target.send(batch([record(1), record(2), record(3)], Target.QUEUE)) == {}
        assert [ids(call) for call in sqs.calls] == [[1, 2, 3], [1]]
        assert len(sleeps) == 1
