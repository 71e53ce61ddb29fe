"""Where redriven records go: the consumer (invoke), the stream, or an SQS queue.

Each target takes one batch and returns the ids of the records it could not deliver,
with the reason, so nothing leaves a batch without a recorded outcome.

Each target knows the limits AWS puts on its calls, and keeps to them: a batch too big
for one call is split, a single record too big for the target fails alone with a reason
that names the limit (its message goes back to the DLQ), and a throttled call is backed
off within a bounded budget and then turned into per-record failures. No whole-batch
exception for any of these.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..contracts.plan import Batch
from ..contracts.records import StreamRecord
from ..contracts.run import NO_DYNAMODB_STREAM_TARGET
from ..contracts.stream_events import event_record, failed_item_ids
from ..contracts.vocab import Source, Target
from ..core.ports import RedriveTarget
from ..errors import TargetError, aws_error_code

MIB = 1024 * 1024

# Lambda: "For synchronous invocations, the maximum payload size is 6 MB" (Invoke API
# reference); the error says "Request must be smaller than 6291456 bytes".
INVOKE_PAYLOAD_MAX = 6 * MIB
# Kinesis PutRecords: "Each record in the request can be as large as 1 MiB, up to a limit
# of 5 MiB for the entire request, including partition keys", and at most 500 records.
KINESIS_RECORD_MAX = MIB
PUT_RECORDS_BYTES_MAX = 5 * MIB
PUT_RECORDS_MAX = 500
PUT_RECORDS_ATTEMPTS = 5
# SQS: a message body (with its attributes) is at most 1 MiB (1,048,576 bytes); a
# SendMessageBatch holds at most 10 messages and at most 1 MiB in all.
SQS_MESSAGE_MAX = MIB
SQS_BATCH_BYTES_MAX = MIB
SQS_BATCH_MAX = 10

INVOKE_TOO_LARGE = frozenset({"RequestEntityTooLargeException", "RequestTooLargeException"})
LAMBDA_THROTTLES = frozenset({"TooManyRequestsException", "ThrottlingException", "EC2ThrottledException"})
KINESIS_THROTTLES = frozenset(
    {"ProvisionedThroughputExceededException", "LimitExceededException", "KMSThrottlingException"}
)
SQS_THROTTLES = frozenset({"ThrottlingException", "RequestThrottled", "AWS.SimpleQueueService.RequestThrottled"})
# Refusals of what a record holds (its size, its characters): that record fails, its
# neighbours go on. Any other error of a whole call (no such stream or queue, access
# denied) is the run's configuration, and fails the batch as before (the run releases).
KINESIS_REFUSES_RECORD = frozenset({"ValidationException", "InvalidArgumentException"})
SQS_REFUSES_MESSAGE = frozenset(
    {
        "InvalidMessageContents",
        "MessageTooLong",
        "InvalidParameterValue",
        "BatchRequestTooLong",
        "InvalidAttributeName",
        "InvalidAttributeValue",
    }
)


@dataclass
class Backoff:
    """A bounded backoff budget for one batch's throttled calls: exponential pauses
    (``base`` doubling, at most ``cap``), at most ``attempts`` tries of a call, and at most
    ``seconds`` of pauses over the whole batch, so a throttled target never holds the
    Redrive function past its timeout; what is still throttled then fails per record."""

    sleep: Callable[[float], None] = time.sleep
    attempts: int = PUT_RECORDS_ATTEMPTS
    seconds: float = 10.0
    base: float = 0.1
    cap: float = 2.0
    spent: float = 0.0

    def start(self) -> Backoff:
        """A fresh budget for the next batch."""
        self.spent = 0.0
        return self

    def pause(self, attempt: int) -> bool:
        """Pause before try ``attempt + 1`` (``attempt`` counts from 0); False, without
        pausing, when the call has had its tries or the batch's budget is spent."""
        if attempt + 1 >= self.attempts:
            return False
        delay = min(self.cap, self.base * 2**attempt)
        if self.spent + delay > self.seconds:
            return False
        self.sleep(delay)
        self.spent += delay
        return True


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


_EVENT_FRAME = len(_compact({"Records": []}))


def invoke_payload(records: Sequence[StreamRecord], region: str) -> bytes:
    """The event the consumer's mapping would send for ``records``, as the invoke's body."""
    return _compact({"Records": [event_record(r, region) for r in records]})


def pack_by_size(sizes: Sequence[int], limit: int, frame: int, separator: int, most: int) -> list[range]:
    """Consecutive groups of at most ``most`` items whose framed total stays within
    ``limit`` bytes (``frame`` once per group, ``separator`` between items); an item too
    big on its own is a group of one (the caller fails it with the limit's name)."""
    groups: list[range] = []
    start, total = 0, frame
    for index, size in enumerate(sizes):
        added = size + (separator if index > start else 0)
        if index > start and (total + added > limit or index - start >= most):
            groups.append(range(start, index))
            start, total, added = index, frame, size
        total += added
    if sizes:
        groups.append(range(start, len(sizes)))
    return groups


def too_large(what: str, size: int, limit: int, rule: str) -> str:
    return f"{what} is {size:,} bytes, over {rule} of {limit:,} bytes; not sent"


class InvokeTarget:
    """Invoke the consumer synchronously with the event its mapping would send.

    A function error fails the whole batch; like the event source mapping's
    BisectBatchOnFunctionError, the batch is then split in two and each half tried, down
    to single records, so one poison record does not fail its neighbours and every record
    gets its own reason.

    Sizes: the batch is first cut into invokes whose event stays within Lambda's 6 MB
    synchronous payload; a record whose event alone is over it fails with that reason.
    Throttles (TooManyRequestsException) are backed off within the batch's budget, then
    fail the records of that invoke. Time: an invoke is started only while the Redrive
    function has the consumer's whole Timeout left (``time_left``, ``consumer_timeout``),
    so it never dies waiting for an answer; the records not tried fail with that reason.
    """

    def __init__(
        self,
        lambda_client: Any,
        region: str,
        bisect_on_error: bool = True,
        *,
        consumer_timeout: Callable[[str], float] | None = None,
        time_left: Callable[[], float] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.lambda_client = lambda_client
        self.region = region
        self.bisect_on_error = bisect_on_error
        self.consumer_timeout = consumer_timeout
        self.time_left = time_left
        self.backoff = backoff or Backoff()

    def send(self, batch: Batch) -> dict[str, str]:
        records = batch.records
        if not batch.function_arn:
            return {r.record_id: "no consumer function is known for this record" for r in records}
        self.backoff.start()
        sizes = [len(_compact(event_record(r, self.region))) for r in records]
        failed: dict[str, str] = {}
        for group in pack_by_size(sizes, INVOKE_PAYLOAD_MAX, _EVENT_FRAME, 1, len(records) or 1):
            chunk = records[group.start : group.stop]
            if len(chunk) == 1 and sizes[group.start] + _EVENT_FRAME > INVOKE_PAYLOAD_MAX:
                size = sizes[group.start] + _EVENT_FRAME
                failed[chunk[0].record_id] = too_large(
                    "its invoke event", size, INVOKE_PAYLOAD_MAX, "Lambda's synchronous invoke payload limit"
                )
                continue
            failed.update(self._deliver(batch.function_arn, chunk))
        return failed

    def _deliver(self, function_arn: str, records: list[StreamRecord]) -> dict[str, str]:
        error, failed, split = self._invoke(function_arn, records)
        if error is None:
            return failed
        if (self.bisect_on_error or split) and len(records) > 1:
            middle = len(records) // 2
            return {**self._deliver(function_arn, records[:middle]), **self._deliver(function_arn, records[middle:])}
        return {r.record_id: error for r in records}

    def _no_time_for(self, function_arn: str) -> str | None:
        if self.time_left is None or self.consumer_timeout is None:
            return None
        needed, left = self.consumer_timeout(function_arn), self.time_left()
        if left > needed:
            return None
        return (
            f"not invoked: the consumer's Timeout ({needed:g} s) no longer fits in the Redrive function's "
            f"remaining {max(0.0, left):.0f} s"
        )

    def _invoke(self, function_arn: str, records: list[StreamRecord]) -> tuple[str | None, dict[str, str], bool]:
        """(error for the whole batch, or None; {recordId: reason} of records that failed
        alone; whether to split the batch whatever ``bisect_on_error`` says)."""
        payload = invoke_payload(records, self.region)
        attempt = 0
        while True:
            late = self._no_time_for(function_arn)
            if late:
                return None, {r.record_id: late for r in records}, False
            try:
                response = self.lambda_client.invoke(
                    FunctionName=function_arn, InvocationType="RequestResponse", Payload=payload
                )
                break
            except Exception as failure:  # the invoke itself failed: these records, not the whole batch
                code = aws_error_code(failure)
                if code in LAMBDA_THROTTLES and self.backoff.pause(attempt):
                    attempt += 1
                    continue
                if code in INVOKE_TOO_LARGE:
                    why = too_large(
                        "the invoke event", len(payload), INVOKE_PAYLOAD_MAX, f"Lambda's payload limit ({code})"
                    )
                    return why, {}, True
                if code in LAMBDA_THROTTLES:
                    why = f"the consumer was throttled ({code}) after {attempt + 1} tries; not invoked"
                else:
                    why = f"the consumer could not be invoked ({code})"
                return None, {r.record_id: why for r in records}, False
        payload_text = response["Payload"].read().decode() if response.get("Payload") else ""
        if response.get("FunctionError"):
            try:
                error = json.loads(payload_text)
                why = f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
            except (json.JSONDecodeError, AttributeError):
                why = payload_text[:200]
            return f"consumer failed again ({short(why)})", {}, False
        try:
            answer = json.loads(payload_text) if payload_text else None
        except json.JSONDecodeError:
            answer = None
        failed = failed_item_ids(answer, records)
        if failed is None:
            return "consumer's batchItemFailures named a record not in the batch", {}, False
        reason = "consumer reported it in batchItemFailures"
        return None, {r.record_id: reason for r in records if r.sequence_number in failed}, False


class StreamTarget:
    """Put Kinesis records back on their stream with PutRecords and the original partition
    key (at most 500 records and 5 MiB a call, failed entries retried, a record over 1 MiB
    failed alone).

    DynamoDB Streams records are never put back: a DynamoDB stream takes no records, and
    writing the old NewImage to the table is unsafe (an unchanged item writes no stream
    record, a changed one is overwritten with stale data). Prepare refuses the target for a
    DynamoDB source and planning holds such records; a batch that still holds some fails
    each of them with that reason, so they go back to the DLQ."""

    def __init__(self, kinesis: Any, sleep: Any = time.sleep, backoff: Backoff | None = None) -> None:
        self.kinesis = kinesis
        self.sleep = sleep
        self.backoff = backoff or Backoff(sleep=sleep)

    def send(self, batch: Batch) -> dict[str, str]:
        if batch.source is Source.DYNAMODB:
            return {r.record_id: NO_DYNAMODB_STREAM_TARGET for r in batch.records}
        self.backoff.start()
        failed: dict[str, str] = {}
        entries: list[tuple[StreamRecord, dict[str, Any]]] = []
        for record in batch.records:
            entry = {
                "Data": base64.b64decode(record.payload or ""),
                "PartitionKey": record.partition_key or record.record_id,
            }
            size = kinesis_entry_size(entry)
            if size > KINESIS_RECORD_MAX:
                failed[record.record_id] = too_large(
                    "the record (data and partition key)", size, KINESIS_RECORD_MAX, "Kinesis's record size limit"
                )
            else:
                entries.append((record, entry))
        sizes = [kinesis_entry_size(entry) for _, entry in entries]
        for group in pack_by_size(sizes, PUT_RECORDS_BYTES_MAX, 0, 0, PUT_RECORDS_MAX):
            failed.update(self._put_chunk(batch.stream_arn, entries[group.start : group.stop]))
        return failed

    def _put_chunk(self, stream_arn: str, entries: list[tuple[StreamRecord, dict[str, Any]]]) -> dict[str, str]:
        pending = entries
        last_errors: dict[str, str] = {}
        for attempt in range(PUT_RECORDS_ATTEMPTS):
            try:
                response = self.kinesis.put_records(StreamARN=stream_arn, Records=[entry for _, entry in pending])
            except Exception as failure:  # the whole call refused: these records, when it is theirs
                code = aws_error_code(failure)
                if code not in KINESIS_THROTTLES | KINESIS_REFUSES_RECORD:
                    raise
                last_errors = {r.record_id: f"PutRecords failed: {code}" for r, _ in pending}
                if code in KINESIS_THROTTLES and self.backoff.pause(attempt):
                    continue
                return last_errors
            retry = []
            last_errors = {}
            for (record, entry), result in zip(pending, response["Records"], strict=True):
                if result.get("ErrorCode"):
                    retry.append((record, entry))
                    last_errors[record.record_id] = f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}"
            if not retry:
                return {}
            pending = retry
            if not self.backoff.pause(attempt):
                break
        return last_errors


def kinesis_entry_size(entry: dict[str, Any]) -> int:
    """What Kinesis counts against its record limit: the data and the partition key."""
    return len(entry["Data"]) + len(str(entry["PartitionKey"]).encode())


def sqs_message_size(entry: dict[str, Any]) -> int:
    """What SQS counts against its message size: the body and every attribute's name,
    type and value."""
    size = len(str(entry["MessageBody"]).encode())
    for name, value in (entry.get("MessageAttributes") or {}).items():
        size += len(name.encode()) + len(str(value.get("DataType", "")).encode())
        size += len(str(value.get("StringValue", "")).encode()) + len(value.get("BinaryValue", b""))
    return size


class QueueTarget:
    """Send each record's data to an SQS queue (SendMessageBatch: at most 10 messages and
    1 MiB a call; a message over 1 MiB fails alone, naming the limit)."""

    def __init__(self, sqs: Any, queue_url: str, backoff: Backoff | None = None) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.backoff = backoff or Backoff()

    def send(self, batch: Batch) -> dict[str, str]:
        self.backoff.start()
        failed: dict[str, str] = {}
        messages: list[tuple[StreamRecord, dict[str, Any], int]] = []
        for record in batch.records:
            entry = {
                "MessageBody": message_body(record),
                "MessageAttributes": {
                    "source": {"DataType": "String", "StringValue": record.source.value},
                    "shardId": {"DataType": "String", "StringValue": record.shard_id or "-"},
                    "sequenceNumber": {"DataType": "String", "StringValue": record.sequence_number},
                },
            }
            size = sqs_message_size(entry)
            if size > SQS_MESSAGE_MAX:
                failed[record.record_id] = too_large(
                    "the message (body and attributes)", size, SQS_MESSAGE_MAX, "SQS's message size limit"
                )
            else:
                messages.append((record, entry, size))
        sizes = [size for _, _, size in messages]
        for group in pack_by_size(sizes, SQS_BATCH_BYTES_MAX, 0, 0, SQS_BATCH_MAX):
            failed.update(self._send_chunk([(r, e) for r, e, _ in messages[group.start : group.stop]]))
        return failed

    def _send_chunk(self, chunk: list[tuple[StreamRecord, dict[str, Any]]]) -> dict[str, str]:
        pending = list(enumerate(chunk))
        errors: dict[str, str] = {}
        attempt = 0
        while pending:
            entries = [{"Id": str(index), **entry} for index, (_, entry) in pending]
            try:
                response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception as failure:  # the whole call refused: these records, when it is theirs
                code = aws_error_code(failure)
                if code not in SQS_THROTTLES | SQS_REFUSES_MESSAGE:
                    raise
                if code in SQS_THROTTLES and self.backoff.pause(attempt):
                    attempt += 1
                    continue
                if code not in SQS_THROTTLES and len(pending) > 1:
                    # One entry may be what SQS refuses: each alone, so the others get through.
                    for _, item in pending:
                        errors.update(self._send_chunk([item]))
                    return errors
                return {**errors, **{r.record_id: f"SendMessage failed: {code}" for _, (r, _) in pending}}
            by_id = dict(pending)
            retry = []
            for refused in response.get("Failed", []):
                index = int(refused["Id"])
                record = by_id[index][0]
                errors[record.record_id] = f"SendMessage failed: {refused.get('Code')} {refused.get('Message', '')}"
                if not refused.get("SenderFault") and refused.get("Code") in SQS_THROTTLES:
                    retry.append((index, by_id[index]))
            if not retry or not self.backoff.pause(attempt):
                return errors
            for _index, (record, _) in retry:
                errors.pop(record.record_id, None)
            pending = retry
            attempt += 1
        return errors


def short(text: str, limit: int = 300) -> str:
    """The first line of an error, at most ``limit`` characters: reasons stay readable."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def message_body(record: StreamRecord) -> str:
    """The record's data as text: the Kinesis payload, or the DynamoDB NewImage as JSON."""
    if record.source is Source.KINESIS:
        raw = base64.b64decode(record.payload or "")
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return record.payload or ""
    return json.dumps(record.new_image or {}, separators=(",", ":"))


def target_for(
    target: Target,
    queue_url: str | None,
    clients: Callable[[str], Any],
    region: str,
    *,
    invoke_client: Callable[[str], Any] | None = None,
    consumer_timeout: Callable[[str], float] | None = None,
    time_left: Callable[[], float] | None = None,
) -> RedriveTarget:
    """The target a run names; an unknown one is an error, never a silent default.

    ``invoke_client(function_arn)``, when given, is the Lambda client for the consumer's
    invoke (a read timeout above the consumer's Timeout, no SDK retries);
    ``consumer_timeout`` and ``time_left`` keep every invoke inside the Redrive function's
    own timeout."""
    try:
        target = Target(target)
    except ValueError:
        raise TargetError(f"unknown redrive target {target!r}") from None
    if target is Target.INVOKE:
        lambda_client = _ByFunction(invoke_client) if invoke_client else clients("lambda")
        return InvokeTarget(lambda_client, region, consumer_timeout=consumer_timeout, time_left=time_left)
    if target is Target.STREAM:
        return StreamTarget(clients("kinesis"))
    if target is Target.QUEUE:
        if not queue_url:
            raise TargetError("the queue target needs redrive.queueUrl")
        return QueueTarget(clients("sqs"), queue_url)
    raise TargetError(f"unknown redrive target {target!r}")


class _ByFunction:
    """A Lambda client look-alike whose ``invoke`` goes through the client made for the
    function invoked (each consumer's read timeout follows its own Timeout)."""

    def __init__(self, client_for: Callable[[str], Any]) -> None:
        self.client_for = client_for

    def invoke(self, *, FunctionName: str, **kwargs: Any) -> Any:
        return self.client_for(FunctionName).invoke(FunctionName=FunctionName, **kwargs)
