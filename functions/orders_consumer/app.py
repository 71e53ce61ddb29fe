"""The example stream consumer that Stream Redrive protects: an orders processor.

Each record of a Kinesis or DynamoDB Streams batch holds one order, a JSON object with an
``id`` and a numeric ``amount``. Valid orders are written to the sink table (``SINK_TABLE``);
an invalid one raises a named :class:`InvalidOrder`. With ``REPORT_BATCH_ITEM_FAILURES`` set
to ``"true"`` (the event source mapping then has ``FunctionResponseTypes:
[ReportBatchItemFailures]``) the failing records are reported by sequence number through
Powertools' batch utility instead of failing the whole invocation.

Environment variables are read inside the handler: several functions share one process
locally, each invocation with its own environment. The DynamoDB client is made once per
region, endpoint and credentials and reused, as a Lambda execution environment reuses it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.common import DictWrapper
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

Order = dict[str, Any]

# boto3's default session is not safe to make clients from on several threads at once.
_client_lock = threading.Lock()
_clients: dict[tuple[str, str, str], Any] = {}
# BatchWriteItem: "up to 25 put or delete requests" a call (DynamoDB API reference).
BATCH_WRITE_MAX = 25
BATCH_WRITE_ATTEMPTS = 8


class InvalidOrder(ValueError):
    """A stream record does not hold a valid order."""


class OrderNotAnObject(InvalidOrder):
    """The record's data is not a JSON object (or not JSON at all)."""


class OrderMissingId(InvalidOrder):
    """The order has no usable ``id`` (absent, empty, or neither a string nor an integer)."""


class OrderAmountNotANumber(InvalidOrder):
    """The order's ``amount`` is absent or not a finite number (a boolean is not a number)."""


# --- pure logic: no AWS, no environment ---------------------------------------------------


def validate_order(data: Any) -> Order:
    """Return the order with ``id`` as a string, or raise an :class:`InvalidOrder` subclass."""
    if not isinstance(data, dict):
        raise OrderNotAnObject(f"order must be a JSON object, got {type(data).__name__}")
    order_id = data.get("id")
    if isinstance(order_id, bool) or not isinstance(order_id, str | int) or str(order_id).strip() == "":
        raise OrderMissingId(f"order has no id: {order_id!r}")
    amount = data.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | float | Decimal) or not math.isfinite(amount):
        raise OrderAmountNotANumber(f"order {order_id}: amount is not a number: {amount!r}")
    return {**data, "id": str(order_id)}


def decode_kinesis_data(data: str) -> Any:
    """Base64 ``kinesis.data`` to the JSON value it holds."""
    try:
        return json.loads(base64.b64decode(data, validate=True))
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise OrderNotAnObject(f"record data is not JSON: {error}") from error


def plain_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def plain_json(value: Any) -> Any:
    """DynamoDB-deserialised values with every Decimal made an int or a float."""
    if isinstance(value, Decimal):
        return plain_number(value)
    if isinstance(value, dict):
        return {k: plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    if isinstance(value, set):
        return sorted(plain_json(v) for v in value)
    return value


def from_dynamodb_image(image: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB JSON image (``{"amount": {"N": "12.5"}}``) as plain JSON (``{"amount": 12.5}``)."""
    deserializer = TypeDeserializer()
    return {name: plain_json(deserializer.deserialize(value)) for name, value in image.items()}


def order_data(record: Mapping[str, Any]) -> Any | None:
    """The order a stream record carries; None for a DynamoDB record without a new image
    (a REMOVE), which has no order to process."""
    source = record.get("eventSource")
    if source == "aws:kinesis":
        return decode_kinesis_data(record["kinesis"]["data"])
    if source == "aws:dynamodb":
        image = record.get("dynamodb", {}).get("NewImage")
        return None if image is None else from_dynamodb_image(image)
    raise OrderNotAnObject(f"unsupported event source {source!r}")


def sink_value(value: Any) -> Any:
    """Numbers as Decimal, as DynamoDB stores them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: sink_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sink_value(v) for v in value]
    return value


def sink_item(order: Order) -> dict[str, Any]:
    """The sink table item for an order, in DynamoDB's attribute-value form."""
    serializer = TypeSerializer()
    return {name: serializer.serialize(sink_value(value)) for name, value in order.items()}


# --- AWS ----------------------------------------------------------------------------------


class Sink(Protocol):
    def put(self, order: Order) -> None: ...
    def put_many(self, orders: Sequence[Order]) -> None: ...


class SinkWriteIncomplete(RuntimeError):
    """DynamoDB left some of a batch's writes unprocessed after every retry."""


class OrdersSink:
    """The DynamoDB sink table."""

    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    def put(self, order: Order) -> None:
        self.client.put_item(TableName=self.table, Item=sink_item(order))

    def put_many(self, orders: Sequence[Order]) -> None:
        """BatchWriteItem, 25 a call; unprocessed items are retried with backoff. Orders with
        the same id in one call would be refused, so the last of them is written, as one
        PutItem after another would leave it."""
        latest = {str(order["id"]): order for order in orders}
        items = [{"PutRequest": {"Item": sink_item(order)}} for order in latest.values()]
        for start in range(0, len(items), BATCH_WRITE_MAX):
            pending = {self.table: items[start : start + BATCH_WRITE_MAX]}
            for attempt in range(BATCH_WRITE_ATTEMPTS):
                pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            if pending:
                raise SinkWriteIncomplete(f"{len(pending[self.table])} order(s) not written after every retry")


def process_record(record: Mapping[str, Any], sink: Sink) -> Order | None:
    data = order_data(record)
    if data is None:
        return None
    order = validate_order(data)
    sink.put(order)
    return order


def process_batch(event: Mapping[str, Any], sink: Sink) -> int:
    """Every record in order; the first invalid one fails the whole invocation, once the
    valid ones before it are written."""
    orders: list[Order] = []
    try:
        for record in event.get("Records", []):
            data = order_data(record)
            if data is not None:
                orders.append(validate_order(data))
    finally:
        sink.put_many(orders)
    return len(orders)


def event_type(event: Mapping[str, Any]) -> EventType:
    records = event.get("Records") or [{}]
    if records[0].get("eventSource") == "aws:dynamodb":
        return EventType.DynamoDBStreams
    return EventType.KinesisDataStreams


def process_reporting_failures(event: dict[str, Any], sink: Sink, context: Any) -> dict[str, Any]:
    """Powertools' batch utility: failing records come back as ``batchItemFailures``
    (itemIdentifier = the record's sequence number)."""

    def record_handler(record: DictWrapper) -> None:
        process_record(record.raw_event, sink)

    processor = BatchProcessor(event_type=event_type(event))
    return dict(process_partial_response(event, record_handler, processor, context))


def dynamodb_client() -> Any:
    """The DynamoDB client for this invocation's region and endpoint, made once."""
    key = (
        os.environ.get("AWS_REGION", ""),
        os.environ.get("AWS_ENDPOINT_URL", ""),
        os.environ.get("AWS_ACCESS_KEY_ID", ""),  # locally, each function has its own role
    )
    with _client_lock:
        if key not in _clients:
            _clients[key] = boto3.client("dynamodb")
        return _clients[key]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    sink = OrdersSink(os.environ["SINK_TABLE"], dynamodb_client())
    if os.environ.get("REPORT_BATCH_ITEM_FAILURES", "false") == "true":
        return process_reporting_failures(event, sink, context)
    process_batch(event, sink)
    return None
