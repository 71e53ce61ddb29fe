"""SQS rules of the strict stack, each shown lenient (moto accepts) and strict (AWS refuses)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from redrive_local.engine import LocalEngine
from redrive_local.strict import lenient
from redrive_local.strict.sqs import MAX_MESSAGE_BYTES, SAMPLED, SERVERS, message_size


@pytest.fixture
def queue_url(engine: LocalEngine) -> str:
    return str(engine.client("sqs").create_queue(QueueName=f"strict-{uuid.uuid4().hex[:8]}")["QueueUrl"])


def refused_code(call: Any) -> str:
    """The error code, as AWS's JSON protocol gives it to boto3 (without the query
    protocol's ``AWS.SimpleQueueService.`` prefix some codes carry)."""
    with pytest.raises(ClientError) as refused:
        call()
    return str(refused.value.response["Error"]["Code"]).removeprefix("AWS.SimpleQueueService.")


@pytest.mark.aws_rule("_sqs_message_characters")
def test_a_body_with_a_nul_is_refused_as_aws_refuses_it(engine: LocalEngine, queue_url: str) -> None:
    sqs = engine.client("sqs")
    with lenient():
        sqs.send_message(QueueUrl=queue_url, MessageBody="a\x00b")
    with pytest.raises(ClientError) as refused:
        sqs.send_message(QueueUrl=queue_url, MessageBody="a\x00b")
    assert refused.value.response["Error"]["Code"] == "InvalidMessageContents"
    sqs.send_message(QueueUrl=queue_url, MessageBody="tab\tnewline\n and \U0001f600 are fine")


@pytest.mark.aws_rule("_sqs_message_size")
def test_a_message_over_1_mib_in_utf8_bytes_is_refused(engine: LocalEngine, queue_url: str) -> None:
    sqs = engine.client("sqs")
    two_byte_body = "é" * 600_000  # 600,000 characters, 1,200,000 bytes
    with lenient():
        sqs.send_message(QueueUrl=queue_url, MessageBody=two_byte_body)
    assert refused_code(lambda: sqs.send_message(QueueUrl=queue_url, MessageBody=two_byte_body)) == (
        "InvalidParameterValue"
    )
    sqs.send_message(QueueUrl=queue_url, MessageBody="x" * MAX_MESSAGE_BYTES)  # exactly the limit


@pytest.mark.aws_rule("_sqs_message_size")
def test_attributes_count_toward_the_size_and_at_most_ten_are_taken(engine: LocalEngine, queue_url: str) -> None:
    sqs = engine.client("sqs")
    attribute = {"note": {"DataType": "String", "StringValue": "y" * 100}}
    at_limit = "x" * (MAX_MESSAGE_BYTES - 50)
    eleven = {f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)}
    with lenient():
        sqs.send_message(QueueUrl=queue_url, MessageBody=at_limit, MessageAttributes=attribute)
        sqs.send_message(QueueUrl=queue_url, MessageBody="x", MessageAttributes=eleven)
    code = refused_code(lambda: sqs.send_message(QueueUrl=queue_url, MessageBody=at_limit, MessageAttributes=attribute))
    assert code == "InvalidParameterValue"
    assert refused_code(lambda: sqs.send_message(QueueUrl=queue_url, MessageBody="x", MessageAttributes=eleven)) == (
        "InvalidParameterValue"
    )
    entries = [{"Id": "big", "MessageBody": at_limit, "MessageAttributes": attribute}]
    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": "ok", "MessageBody": "fine"}])
    assert [s["Id"] for s in response["Successful"]] == ["ok"]
    assert refused_code(lambda: sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)) == "BatchRequestTooLong"
    binary = {"b": {"DataType": "Binary", "BinaryValue": b"\x00" * 10}}
    assert message_size("ab", binary) == 2 + 1 + 6 + 10


@pytest.mark.aws_rule("_sqs_batch_size")
def test_a_batch_over_1_mib_in_all_is_refused(engine: LocalEngine, queue_url: str) -> None:
    sqs = engine.client("sqs")
    entries = [{"Id": str(i), "MessageBody": "é" * 200_000} for i in range(3)]  # 600,000 chars, 1.2 MB
    with lenient():
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    assert refused_code(lambda: sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)) == "BatchRequestTooLong"


@pytest.mark.aws_rule("_sqs_batch_entries")
def test_delete_and_visibility_batches_take_at_most_ten_entries(engine: LocalEngine, queue_url: str) -> None:
    sqs = engine.client("sqs")
    entries = [{"Id": str(i), "ReceiptHandle": f"handle-{i}"} for i in range(11)]
    visibility = [{**e, "VisibilityTimeout": 5} for e in entries]
    with lenient():
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=visibility)
    assert refused_code(lambda: sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)) == (
        "TooManyEntriesInBatchRequest"
    )
    assert refused_code(lambda: sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=visibility)) == (
        "TooManyEntriesInBatchRequest"
    )


@pytest.mark.aws_rule("_sqs_queue_visibility_timeout")
def test_a_queue_visibility_timeout_over_12_hours_is_refused(engine: LocalEngine, queue_url: str) -> None:
    sqs = engine.client("sqs")
    with lenient():
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "43201"})
        sqs.create_queue(QueueName=f"lenient-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "50000"})
    assert refused_code(
        lambda: sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "43201"})
    ) == ("InvalidAttributeValue")
    assert refused_code(
        lambda: sqs.create_queue(QueueName=f"strict-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "50000"})
    ) == ("InvalidAttributeValue")
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "43200"})


def short_polls(engine: LocalEngine, queue_url: str, times: int) -> list[int]:
    sqs = engine.client("sqs")
    counts = []
    for _ in range(times):
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        for message in got:
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        counts.append(len(got))
    return counts


@pytest.mark.aws_rule("_sqs_short_poll_sampling")
def test_a_short_poll_samples_servers_and_a_long_poll_asks_them_all(engine: LocalEngine) -> None:
    sqs = engine.client("sqs")
    # A fixed name: the sampler is seeded by it, so the sequence below is the same every run.
    queue_url = sqs.create_queue(QueueName="strict-short-poll-pin")["QueueUrl"]
    sqs.purge_queue(QueueUrl=queue_url)
    for i in range(3):  # fewer messages than servers: one server holds none
        sqs.send_message(QueueUrl=queue_url, MessageBody=f"m{i}")
    with lenient():
        assert short_polls(engine, queue_url, 5) == [3] * 5
    counts = short_polls(engine, queue_url, 20)
    assert max(counts) <= SAMPLED * -(-3 // SERVERS), counts
    assert 0 in counts, "a short poll may find nothing while messages remain"
    assert any(counts), "a short poll does find messages on the servers it asks"
    long = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert sorted(m["Body"] for m in long) == ["m0", "m1", "m2"]
