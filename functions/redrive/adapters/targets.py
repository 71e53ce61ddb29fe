"""Where redriven records go: the consumer (invoke), the stream, or an SQS queue.

Each target takes one batch and returns the ids of the records it could not deliver,
with the reason, so nothing leaves a batch without a recorded outcome.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Protocol

from ..core.stream_events import failed_item_ids, invocation_event
from ..errors import TargetError

PUT_RECORDS_MAX = 500
PUT_RECORDS_ATTEMPTS = 5


class RedriveTarget(Protocol):
    def send(self, batch: dict[str, Any]) -> dict[str, str]:
        """Deliver ``batch``; return {recordId: reason} for the records that failed."""
        ...


class InvokeTarget:
    """Invoke the consumer synchronously with the event its mapping would send.

    A function error fails the whole batch; like the event source mapping's
    BisectBatchOnFunctionError, the batch is then split in two and each half tried, down
    to single records, so one poison record does not fail its neighbours and every record
    gets its own reason.
    """

    def __init__(self, lambda_client: Any, region: str, bisect_on_error: bool = True) -> None:
        self.lambda_client = lambda_client
        self.region = region
        self.bisect_on_error = bisect_on_error

    def send(self, batch: dict[str, Any]) -> dict[str, str]:
        records = batch["records"]
        if not batch.get("functionArn"):
            return {r["recordId"]: "no consumer function is known for this record" for r in records}
        return self._deliver(batch["functionArn"], records)

    def _deliver(self, function_arn: str, records: list[dict[str, Any]]) -> dict[str, str]:
        error, failed = self._invoke(function_arn, records)
        if error is None:
            return failed
        if self.bisect_on_error and len(records) > 1:
            middle = len(records) // 2
            return {**self._deliver(function_arn, records[:middle]), **self._deliver(function_arn, records[middle:])}
        return {r["recordId"]: error for r in records}

    def _invoke(self, function_arn: str, records: list[dict[str, Any]]) -> tuple[str | None, dict[str, str]]:
        """(error for the whole batch, or None; {recordId: reason} of reported item failures)."""
        response = self.lambda_client.invoke(
            FunctionName=function_arn,
            InvocationType="RequestResponse",
            Payload=json.dumps(invocation_event(records, self.region)).encode(),
        )
        payload_text = response["Payload"].read().decode() if response.get("Payload") else ""
        if response.get("FunctionError"):
            try:
                error = json.loads(payload_text)
                why = f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
            except (json.JSONDecodeError, AttributeError):
                why = payload_text[:200]
            return f"consumer failed again ({short(why)})", {}
        try:
            answer = json.loads(payload_text) if payload_text else None
        except json.JSONDecodeError:
            answer = None
        failed = failed_item_ids(answer, records)
        if failed is None:
            return "consumer's batchItemFailures named a record not in the batch", {}
        reason = "consumer reported it in batchItemFailures"
        return None, {r["recordId"]: reason for r in records if r["sequenceNumber"] in failed}


class StreamTarget:
    """Put records back on their stream: Kinesis PutRecords with the original partition
    key (at most 500 a call, failed entries retried), or for DynamoDB Streams the item
    written again to its table (the stream then carries it to the consumer)."""

    def __init__(self, kinesis: Any, dynamodb: Any, sleep: Any = time.sleep) -> None:
        self.kinesis = kinesis
        self.dynamodb = dynamodb
        self.sleep = sleep

    def send(self, batch: dict[str, Any]) -> dict[str, str]:
        if batch["source"] == "dynamodb":
            return self._put_items(batch)
        failed: dict[str, str] = {}
        records = batch["records"]
        for start in range(0, len(records), PUT_RECORDS_MAX):
            failed.update(self._put_chunk(batch["streamArn"], records[start : start + PUT_RECORDS_MAX]))
        return failed

    def _put_chunk(self, stream_arn: str, records: list[dict[str, Any]]) -> dict[str, str]:
        pending = records
        last_errors: dict[str, str] = {}
        for attempt in range(PUT_RECORDS_ATTEMPTS):
            response = self.kinesis.put_records(
                StreamARN=stream_arn,
                Records=[
                    {
                        "Data": base64.b64decode(r.get("payload", "")),
                        "PartitionKey": r.get("partitionKey") or r["recordId"],
                    }
                    for r in pending
                ],
            )
            retry = []
            last_errors = {}
            for record, result in zip(pending, response["Records"], strict=True):
                if result.get("ErrorCode"):
                    retry.append(record)
                    last_errors[record["recordId"]] = f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}"
            if not retry:
                return {}
            pending = retry
            if attempt < PUT_RECORDS_ATTEMPTS - 1:
                self.sleep(min(2.0, 0.1 * 2**attempt))
        return last_errors

    def _put_items(self, batch: dict[str, Any]) -> dict[str, str]:
        table = table_name_from_stream_arn(batch["streamArn"])
        failed = {}
        for record in batch["records"]:
            if not record.get("newImage"):
                failed[record["recordId"]] = f"{record.get('eventName')} record has no NewImage to write again"
                continue
            try:
                self.dynamodb.put_item(TableName=table, Item=record["newImage"])
            except Exception as error:
                failed[record["recordId"]] = f"PutItem failed: {error}"
        return failed


def table_name_from_stream_arn(stream_arn: str) -> str:
    """``arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL`` -> NAME."""
    parts = stream_arn.split(":", 5)[-1].split("/")
    if len(parts) < 2 or parts[0] != "table":
        raise TargetError(f"not a DynamoDB stream ARN: {stream_arn}")
    return parts[1]


class QueueTarget:
    """Send each record's data to an SQS queue (SendMessageBatch, 10 a call)."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, batch: dict[str, Any]) -> dict[str, str]:
        records = batch["records"]
        failed: dict[str, str] = {}
        for start in range(0, len(records), 10):
            chunk = records[start : start + 10]
            entries = []
            for index, record in enumerate(chunk):
                entries.append(
                    {
                        "Id": str(index),
                        "MessageBody": message_body(record),
                        "MessageAttributes": {
                            "source": {"DataType": "String", "StringValue": record["source"]},
                            "shardId": {"DataType": "String", "StringValue": record.get("shardId") or "-"},
                            "sequenceNumber": {"DataType": "String", "StringValue": record["sequenceNumber"]},
                        },
                    }
                )
            response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            for failure in response.get("Failed", []):
                record = chunk[int(failure["Id"])]
                failed[record["recordId"]] = f"SendMessage failed: {failure.get('Code')} {failure.get('Message', '')}"
        return failed


def short(text: str, limit: int = 300) -> str:
    """The first line of an error, at most ``limit`` characters: reasons stay readable."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def message_body(record: dict[str, Any]) -> str:
    """The record's data as text: the Kinesis payload, or the DynamoDB NewImage as JSON."""
    if record["source"] == "kinesis":
        raw = base64.b64decode(record.get("payload", ""))
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return record.get("payload", "")
    return json.dumps(record.get("newImage") or {}, separators=(",", ":"))
