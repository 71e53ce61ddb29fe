"""Collect drains a small DLQ through the strict stack's SQS, whose short polls sample
servers as AWS's do; the short-poll collection it replaced takes only part of it."""

from __future__ import annotations

import json
from collections.abc import Sequence

from redrive.adapters.dlq import DeadLetterQueue
from redrive.contracts.messages import ReceivedMessage
from redrive.core.collect import move_messages_to_manifest
from redrive_local.engine import LocalEngine
from redrive_local.strict import lenient
from tests.fakes import FakeStateStore, memory_run, open_run

MESSAGES = 7


class ShortPolls:
    """The DLQ as Collect read it before long polls: every receive with WaitTimeSeconds 0."""

    def __init__(self, dlq: DeadLetterQueue) -> None:
        self.dlq = dlq

    def receive(self, max_messages: int, wait_seconds: int = 0) -> list[ReceivedMessage]:
        return self.dlq.receive(max_messages, 0)

    def delete(self, messages: Sequence[ReceivedMessage]) -> list[str]:
        return self.dlq.delete(messages)


def fill(engine: LocalEngine, name: str) -> DeadLetterQueue:
    """A queue of MESSAGES bodies; its fixed name seeds the short-poll sampler."""
    sqs = engine.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.purge_queue(QueueUrl=url)
    for i in range(MESSAGES):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"note": f"message {i}"}))
    return DeadLetterQueue(sqs, url, visibility_timeout=60)


def collected(source: DeadLetterQueue | ShortPolls, run_id: str) -> int:
    leases = FakeStateStore()
    open_run(leases, run_id)
    return len(move_messages_to_manifest(source, memory_run(run_id), leases, max_messages=100))


def depth(engine: LocalEngine, dlq: DeadLetterQueue) -> int:
    attributes = engine.client("sqs").get_queue_attributes(
        QueueUrl=dlq.queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_long_polls_collect_the_whole_small_dlq(engine: LocalEngine) -> None:
    dlq = fill(engine, "collect-long-poll-drains")
    assert collected(dlq, "run-long") == MESSAGES
    assert depth(engine, dlq) == 0


def test_short_polls_would_have_left_messages_that_moto_hid(engine: LocalEngine) -> None:
    with lenient():  # moto: a short poll returns everything, so the old collection looked complete
        dlq = fill(engine, "collect-short-poll-lenient")
        assert collected(ShortPolls(dlq), "run-lenient") == MESSAGES
    # Four small DLQs (the sampler is seeded by their names, so this is the same every run).
    taken = {}
    for n in range(4):
        dlq = fill(engine, f"collect-short-poll-strict-{n}")
        taken[n] = collected(ShortPolls(dlq), f"run-short-{n}")
        assert depth(engine, dlq) == MESSAGES - taken[n]  # nothing lost: the rest is still in the DLQ
    assert sum(taken.values()) < 4 * MESSAGES, f"the short polls stopped at the first empty sample: {taken}"
    assert min(taken.values()) < MESSAGES
