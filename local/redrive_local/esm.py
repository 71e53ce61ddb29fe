"""The stream consumer emulator: Lambda's event source mapping for Kinesis and DynamoDB
Streams, run locally against the engine, as the AWS Lambda Developer Guide describes it.

moto's own delivery is off (``workarounds.lambda_._stop_moto_stream_invocations``). This emulator
reads the mappings through the Lambda API and, for each enabled one, polls every shard of
its stream with the stream's own API, invoking the function synchronously
(``RequestResponse``) with the event Lambda sends (``esm_events``). What it reproduces:

- ``BatchSize``; one batch in flight per shard, the next only once it is finished, so
  records are processed in order within a shard.
- What follows an invocation (checkpoint, retry, bisect, give up) is the pure policy in
  ``esm_policy.next_action``; this module applies it.
- A failed batch is retried until it succeeds, ``MaximumRetryAttempts`` is reached (-1: no
  limit) or its records exceed ``MaximumRecordAgeInSeconds`` (-1: no limit), measured from
  each record's arrival time with the injectable ``clock``. Expired leading records are
  discarded before an invocation and the rest of the batch goes on.
- ``BisectBatchOnFunctionError``: a failed batch is split in two and each half is tried
  separately, first half first. "Splitting batches doesn't consume the retry quota": a
  half starts with the retries its parent had used, which is none.
- ``ReportBatchItemFailures``: an empty or null ``batchItemFailures`` (or response) is a
  success; otherwise Lambda checkpoints before the lowest reported sequence number and
  retries the records from there ("bisected at the returned sequence number ... retries
  only the remaining records"), as a new batch when records before it succeeded. An
  empty, null, misnamed or unknown ``itemIdentifier`` fails the whole batch.
- A batch that is given up is skipped and, when ``DestinationConfig.OnFailure`` names an
  SQS queue, an SNS topic or an S3 bucket, its invocation record is sent there.

Not emulated: retry back-off, batching windows, parallelization factor, tumbling windows,
filters, shard splits and merges, stream retention (moto keeps every record), and the
consolidation of adjacent failure records that AWS may do after bisection.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .esm_events import (
    Condition,
    MappingConfig,
    ResponseContext,
    StreamRecord,
    dynamodb_record,
    invocation_event,
    kinesis_record,
    on_failure_record,
    reported_failures,
    s3_object_key,
    s3_on_failure_record,
)
from .esm_policy import Action, ActionKind, Outcome, next_action
from .strict.clock import LIVE_CONSUMER_AGENT

Clock = Callable[[], float]


@dataclass
class InvocationRecord:
    """One invocation, for a person to follow what happened step by step."""

    step: int
    mapping_uuid: str
    function_arn: str
    shard_id: str
    sequence_numbers: list[str]
    attempt: int  # invocations of this batch so far, this one included
    outcome: Outcome
    detail: str  # error type and message, or the reported item failures
    action: str  # what the mapping did next: checkpoint, retry, bisect, retry from N, give up

    def describe(self) -> str:
        seqs = _span(self.sequence_numbers)
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.step}. {self.shard_id} [{seqs}] attempt {self.attempt}: {self.outcome}{detail} -> {self.action}"


@dataclass
class FailureRecord:
    """A batch given up, and the on-failure record sent for it."""

    step: int
    mapping_uuid: str
    shard_id: str
    condition: Condition
    sequence_numbers: list[str]
    destination: str  # "" when the mapping has none: the records are only skipped
    location: str  # queue URL, topic ARN or s3://bucket/key
    message: dict[str, Any]

    def describe(self) -> str:
        where = f"sent to {self.location}" if self.location else "skipped (no on-failure destination)"
        return f"{self.step}. {self.shard_id} [{_span(self.sequence_numbers)}] {self.condition}: {where}"


def _span(sequence_numbers: list[str]) -> str:
    if len(sequence_numbers) <= 3:
        return ", ".join(sequence_numbers)
    return f"{sequence_numbers[0]} .. {sequence_numbers[-1]}, {len(sequence_numbers)} records"


@dataclass
class ConsumerReport:
    invocations: int
    processed: list[str]  # sequence numbers checkpointed as processed, in order
    failure_messages: int
    rounds: int
    idle: bool  # False when max_rounds ran out with records still to deliver


@dataclass
class _Batch:
    records: list[StreamRecord]
    invocations: int = 0
    retries: int = 0
    response: ResponseContext | None = None
    request_id: str = ""


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None = None
    closed: bool = False  # GetRecords returned no NextShardIterator: the shard ended
    pending: deque[_Batch] = field(default_factory=deque)


class StreamConsumerEmulator:
    """Polls the enabled Kinesis and DynamoDB Streams event source mappings of the engine's
    account and delivers their records; every invocation and every failure record is kept
    in ``steps`` (``invocations`` and ``failures`` filter it)."""

    def __init__(self, engine: Any, clock: Clock = time.time, mapping_uuids: Iterable[str] | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.only = set(mapping_uuids) if mapping_uuids is not None else None
        self.steps: list[InvocationRecord | FailureRecord] = []
        self._shards: dict[str, dict[str, _Shard]] = {}
        self._listed: set[str] = set()
        self._roles: dict[str, str] = {}
        self._clients: dict[tuple[str, str], Any] = {}
        self._lambda = engine.client("lambda")

    @property
    def invocations(self) -> list[InvocationRecord]:
        return [s for s in self.steps if isinstance(s, InvocationRecord)]

    @property
    def failures(self) -> list[FailureRecord]:
        return [s for s in self.steps if isinstance(s, FailureRecord)]

    def mappings(self) -> list[MappingConfig]:
        listed = []
        for page in self._lambda.get_paginator("list_event_source_mappings").paginate():
            listed.extend(page["EventSourceMappings"])
        return [
            MappingConfig.from_api(m)
            for m in listed
            if m.get("State") == "Enabled"
            and m["EventSourceArn"].split(":")[2] in ("kinesis", "dynamodb")
            and (self.only is None or m["UUID"] in self.only)
        ]

    def run_until_idle(self, max_rounds: int = 1000) -> ConsumerReport:
        """Poll every shard of every mapping, one batch step per shard per round, until no
        shard has records left to deliver or ``max_rounds`` have run. Mapping settings are
        re-read every round, shard positions are kept between calls."""
        first_step = len(self.steps)
        processed: list[str] = []
        rounds, idle = 0, False
        self._listed = set()
        while rounds < max_rounds:
            rounds += 1
            busy = False
            for mapping in self.mappings():
                for shard in self._shards_of(mapping):
                    busy = self._step(mapping, shard, processed) or busy
            if not busy:
                idle = True
                break
        new = self.steps[first_step:]
        return ConsumerReport(
            invocations=sum(isinstance(s, InvocationRecord) for s in new),
            processed=processed,
            failure_messages=sum(isinstance(s, FailureRecord) and bool(s.destination) for s in new),
            rounds=rounds,
            idle=idle,
        )

    def _shards_of(self, mapping: MappingConfig) -> list[_Shard]:
        """The mapping's shards, listed again once per run (new shards join)."""
        shards = self._shards.setdefault(mapping.uuid, {})
        if mapping.uuid not in self._listed:
            self._listed.add(mapping.uuid)
            for shard_id in self._shard_ids(mapping):
                shards.setdefault(shard_id, _Shard(shard_id))
        return list(shards.values())

    def _shard_ids(self, mapping: MappingConfig) -> list[str]:
        if mapping.kind == "kinesis":
            shards = self._as_mapping(mapping, "kinesis").list_shards(StreamARN=mapping.source_arn)["Shards"]
        else:
            stream = self._as_mapping(mapping, "dynamodbstreams").describe_stream(StreamArn=mapping.source_arn)
            shards = stream["StreamDescription"]["Shards"]
        return [s["ShardId"] for s in shards]

    def _read(self, mapping: MappingConfig, shard: _Shard) -> list[StreamRecord]:
        if mapping.kind == "kinesis":
            client = self._as_mapping(mapping, "kinesis")
            if shard.iterator is None:
                # By name: moto's iterators got by StreamARN alone name stream None (see
                # workarounds.streams._kinesis_iterators_from_stream_arn); AWS takes either.
                args: dict[str, Any] = {"StreamName": mapping.source_arn.split("/", 1)[1]}
                if mapping.starting_position == "AT_TIMESTAMP":
                    args["Timestamp"] = mapping.starting_position_timestamp
                shard.iterator = client.get_shard_iterator(
                    ShardId=shard.shard_id, ShardIteratorType=mapping.starting_position, **args
                )["ShardIterator"]
            result = client.get_records(ShardIterator=shard.iterator, Limit=mapping.batch_size)
            role = self._role(mapping.function_arn)
            records = [
                kinesis_record(r, shard.shard_id, mapping.source_arn, mapping.region, role) for r in result["Records"]
            ]
        else:
            client = self._as_mapping(mapping, "dynamodbstreams")
            if shard.iterator is None:
                shard.iterator = client.get_shard_iterator(
                    StreamArn=mapping.source_arn, ShardId=shard.shard_id, ShardIteratorType=mapping.starting_position
                )["ShardIterator"]
            result = client.get_records(ShardIterator=shard.iterator, Limit=mapping.batch_size)
            records = [dynamodb_record(r, mapping.source_arn, mapping.region) for r in result["Records"]]
        shard.iterator = result.get("NextShardIterator")
        shard.closed = shard.iterator is None
        return sorted(records, key=lambda r: r.position)

    def _as_mapping(self, mapping: MappingConfig, service: str) -> Any:
        """A client with the function's execution role, which an event source mapping uses to
        read its source and to send to its on-failure destination (so the role must allow it)."""
        key = (mapping.function_arn, service)
        if key not in self._clients:
            role = self._role(mapping.function_arn)
            self._clients[key] = self.engine.role_client(service, role, f"esm-{mapping.uuid}"[:64], LIVE_CONSUMER_AGENT)
        return self._clients[key]

    def _role(self, function_arn: str) -> str:
        if function_arn not in self._roles:
            self._roles[function_arn] = self._lambda.get_function_configuration(FunctionName=function_arn)["Role"]
        return self._roles[function_arn]

    def _step(self, mapping: MappingConfig, shard: _Shard, processed: list[str]) -> bool:
        """Deliver (or discard) the shard's current batch once; False when it has nothing."""
        if not shard.pending:
            if shard.closed:
                return False
            records = self._read(mapping, shard)
            if not records:
                return False
            shard.pending.append(_Batch(records))
        batch = shard.pending[0]
        expired = self._expired_prefix(mapping, batch.records)
        if expired:
            self._give_up(mapping, shard, batch, batch.records[:expired], "RecordAgeExceeded")
            batch.records = batch.records[expired:]
            if not batch.records:
                shard.pending.popleft()
                return True
        outcome, detail, first_failed = self._invoke(mapping, batch)
        seqs = [r.sequence_number for r in batch.records]
        action = next_action(outcome, first_failed, len(batch.records), batch.retries, mapping)
        self._apply(action, shard, batch, processed)
        self.steps.append(
            InvocationRecord(
                step=len(self.steps) + 1,
                mapping_uuid=mapping.uuid,
                function_arn=mapping.function_arn,
                shard_id=shard.shard_id,
                sequence_numbers=seqs,
                attempt=batch.invocations,
                outcome=outcome,
                detail=detail,
                action=action.describe(seqs),
            )
        )
        if action.kind is ActionKind.GIVE_UP:
            self._give_up(mapping, shard, batch, batch.records, "RetryAttemptsExhausted")
        return True

    @staticmethod
    def _apply(action: Action, shard: _Shard, batch: _Batch, processed: list[str]) -> None:
        """Carry out ``action`` on the shard's pending batches (``batch`` is the first)."""
        if action.kind is ActionKind.CHECKPOINT:
            processed.extend(r.sequence_number for r in batch.records)
            shard.pending.popleft()
        elif action.kind is ActionKind.CHECKPOINT_PARTIAL:
            processed.extend(r.sequence_number for r in batch.records[: action.at])
            shard.pending[0] = _Batch(batch.records[action.at :])
        elif action.kind is ActionKind.BISECT:
            shard.pending.popleft()
            halves = [
                _Batch(batch.records[: action.at], batch.retries),
                _Batch(batch.records[action.at :], batch.retries),
            ]
            shard.pending.extendleft(reversed(halves))
        elif action.kind is ActionKind.RETRY:
            batch.retries = action.retries
        elif action.kind is ActionKind.GIVE_UP:
            shard.pending.popleft()

    def _expired_prefix(self, mapping: MappingConfig, records: list[StreamRecord]) -> int:
        if mapping.maximum_record_age < 0:
            return 0
        now = self.clock()
        count = 0
        for record in records:
            if now - record.arrival <= mapping.maximum_record_age:
                break
            count += 1
        return count

    def _invoke(self, mapping: MappingConfig, batch: _Batch) -> tuple[Outcome, str, int]:
        """Invoke the function with the batch: (outcome, detail, index of the lowest
        reported failure or -1)."""
        event = invocation_event(batch.records)
        try:
            response = self._lambda.invoke(
                FunctionName=mapping.function_arn, InvocationType="RequestResponse", Payload=json.dumps(event)
            )
        except Exception as error:  # throttling and the like: retried, not counted
            return "invoke-error", f"{type(error).__name__}: {error}", -1
        batch.invocations += 1
        batch.request_id = str(uuid.uuid4())
        text = response["Payload"].read()
        payload = json.loads(text) if text else None
        qualifier = mapping.function_arn.split(":")[7] if mapping.function_arn.count(":") >= 7 else "$LATEST"
        # moto sends no X-Amz-Executed-Version header; Lambda does.
        version = response.get("ExecutedVersion") or qualifier
        if response.get("FunctionError"):
            # Lambda reports an exception escaping the handler as "Unhandled".
            batch.response = ResponseContext(response["StatusCode"], version, "Unhandled")
            err = payload if isinstance(payload, dict) else {}
            return "function-error", f"{err.get('errorType', 'Error')}: {err.get('errorMessage', '')}", -1
        batch.response = ResponseContext(response["StatusCode"], version, None)
        if not mapping.report_item_failures:
            return "ok", "", -1
        verdict, lowest = reported_failures(payload, batch.records)
        if verdict == "ok":
            return "ok", "", -1
        if verdict == "invalid":
            return "invalid-response", f"batchItemFailures not usable: {json.dumps(payload)[:200]}", -1
        failed = [i["itemIdentifier"] for i in (payload or {}).get("batchItemFailures", [])]
        return "partial", "batchItemFailures " + ", ".join(failed), lowest

    def _give_up(
        self, mapping: MappingConfig, shard: _Shard, batch: _Batch, records: list[StreamRecord], condition: Condition
    ) -> None:
        """Skip the records and send their invocation record to the on-failure destination.

        A ``RecordAgeExceeded`` record has no responseContext and counts the attempt that
        found the records too old (AWS reports 1 for records that expired before any
        invocation); ``RetryAttemptsExhausted`` counts the batch's invocations."""
        now = self.clock()
        exhausted = condition == "RetryAttemptsExhausted"
        message = on_failure_record(
            kind=mapping.kind,
            request_id=batch.request_id if exhausted and batch.request_id else str(uuid.uuid4()),
            function_arn=mapping.function_arn,
            condition=condition,
            approximate_invoke_count=batch.invocations if exhausted else batch.invocations + 1,
            response=batch.response if exhausted else None,
            timestamp=now,
            shard_id=shard.shard_id,
            records=records,
            stream_arn=mapping.source_arn,
        )
        location = self._send(mapping, shard.shard_id, message, records, now)
        self.steps.append(
            FailureRecord(
                step=len(self.steps) + 1,
                mapping_uuid=mapping.uuid,
                shard_id=shard.shard_id,
                condition=condition,
                sequence_numbers=[r.sequence_number for r in records],
                destination=mapping.destination,
                location=location,
                message=message,
            )
        )

    def _send(
        self, mapping: MappingConfig, shard_id: str, message: dict[str, Any], records: list[StreamRecord], now: float
    ) -> str:
        destination = mapping.destination
        if not destination:
            return ""
        service, account, resource = destination.split(":")[2], destination.split(":")[4], destination.split(":")[5]
        if service == "sqs":
            url: str = self.engine.client("sqs").get_queue_url(QueueName=resource, QueueOwnerAWSAccountId=account)[
                "QueueUrl"
            ]
            self._as_mapping(mapping, "sqs").send_message(QueueUrl=url, MessageBody=json.dumps(message))
            return url
        if service == "sns":
            self._as_mapping(mapping, "sns").publish(TopicArn=destination, Message=json.dumps(message))
            return destination
        if service == "s3":
            key = s3_object_key(mapping.uuid, shard_id, now, str(uuid.uuid4()))
            body = json.dumps(s3_on_failure_record(message, records))
            self._as_mapping(mapping, "s3").put_object(Bucket=resource, Key=key, Body=body.encode())
            return f"s3://{resource}/{key}"
        raise ValueError(f"unsupported on-failure destination {destination}")
