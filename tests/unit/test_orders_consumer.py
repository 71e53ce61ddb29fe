"""The example orders consumer's logic, without AWS: validation, decoding, the sink item,
and partial batch responses through Powertools (with an in-memory sink)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from orders_consumer.app import (
    InvalidOrder,
    Order,
    OrderAmountNotANumber,
    OrderMissingId,
    OrderNotAnObject,
    decode_kinesis_data,
    from_dynamodb_image,
    order_data,
    process_batch,
    process_reporting_failures,
    sink_item,
    validate_order,
)


class MemorySink:
    def __init__(self) -> None:
        self.orders: list[Order] = []

    def put(self, order: Order) -> None:
        self.orders.append(order)

    def put_many(self, orders: Sequence[Order]) -> None:
        self.orders.extend(orders)


def kinesis(seq: str, data: Any) -> dict[str, Any]:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return {
        "eventSource": "aws:kinesis",
        "eventID": f"shardId-000000000000:{seq}",
        "kinesis": {"sequenceNumber": seq, "data": base64.b64encode(raw).decode(), "partitionKey": "p"},
    }


def dynamodb(seq: str, image: dict[str, Any] | None, event_name: str = "INSERT") -> dict[str, Any]:
    change: dict[str, Any] = {"SequenceNumber": seq, "Keys": {"pk": {"S": "k"}}}
    if image is not None:
        change["NewImage"] = image
    return {"eventSource": "aws:dynamodb", "eventName": event_name, "dynamodb": change}


@pytest.mark.parametrize(
    "data",
    [{"id": "o-1", "amount": 10}, {"id": "o-1", "amount": 10.5}, {"id": 7, "amount": 0}, {"id": "x", "amount": -3}],
)
def test_valid_orders_keep_their_fields_with_a_string_id(data: dict[str, Any]) -> None:
    order = validate_order({**data, "note": "n"})
    assert order == {**data, "id": str(data["id"]), "note": "n"}


@pytest.mark.parametrize("data", [[1, 2], "text", 3, None, True])
def test_data_that_is_not_an_object_is_rejected(data: Any) -> None:
    with pytest.raises(OrderNotAnObject):
        validate_order(data)


@pytest.mark.parametrize("order_id", [None, "", "  ", True, 1.5, {"a": 1}, ["x"]])
def test_an_order_without_a_usable_id_is_rejected(order_id: Any) -> None:
    with pytest.raises(OrderMissingId):
        validate_order({"id": order_id, "amount": 1})
    with pytest.raises(OrderMissingId):
        validate_order({"amount": 1})


@pytest.mark.parametrize("amount", [True, False, "12", None, [1], float("nan"), float("inf")])
def test_an_amount_that_is_not_a_number_is_rejected(amount: Any) -> None:
    with pytest.raises(OrderAmountNotANumber):
        validate_order({"id": "o", "amount": amount})
    with pytest.raises(OrderAmountNotANumber):
        validate_order({"id": "o"})


def test_every_rejection_is_an_invalid_order_and_a_value_error() -> None:
    for error in (OrderNotAnObject, OrderMissingId, OrderAmountNotANumber):
        assert issubclass(error, InvalidOrder)
    assert issubclass(InvalidOrder, ValueError)


def test_kinesis_data_is_base64_json() -> None:
    encoded = base64.b64encode(b'{"id": "a", "amount": 1}').decode()
    assert decode_kinesis_data(encoded) == {"id": "a", "amount": 1}
    for bad in (base64.b64encode(b"not json").decode(), base64.b64encode(b"\xff\xfe").decode(), "%%%"):
        with pytest.raises(OrderNotAnObject):
            decode_kinesis_data(bad)


def test_dynamodb_images_become_plain_json() -> None:
    image = {
        "id": {"S": "o"},
        "amount": {"N": "12.5"},
        "qty": {"N": "3"},
        "paid": {"BOOL": True},
        "lines": {"L": [{"M": {"sku": {"S": "s"}, "n": {"N": "2"}}}]},
        "gone": {"NULL": True},
    }
    plain = from_dynamodb_image(image)
    assert plain == {"id": "o", "amount": 12.5, "qty": 3, "paid": True, "lines": [{"sku": "s", "n": 2}], "gone": None}
    assert type(plain["qty"]) is int and type(plain["amount"]) is float


def test_a_dynamodb_record_without_new_image_has_no_order() -> None:
    assert order_data(dynamodb("1", None, "REMOVE")) is None
    assert order_data(dynamodb("1", {"id": {"S": "o"}, "amount": {"N": "1"}})) == {"id": "o", "amount": 1}


def test_sink_items_store_numbers_as_decimal() -> None:
    item = sink_item({"id": "o", "amount": 12.5, "qty": 3, "paid": True, "lines": [{"n": 0.1}]})
    assert item == {
        "id": {"S": "o"},
        "amount": {"N": "12.5"},
        "qty": {"N": "3"},
        "paid": {"BOOL": True},
        "lines": {"L": [{"M": {"n": {"N": "0.1"}}}]},
    }
    assert Decimal(item["lines"]["L"][0]["M"]["n"]["N"]) == Decimal("0.1")


def test_without_reporting_the_first_invalid_record_fails_the_invocation() -> None:
    sink = MemorySink()
    event = {"Records": [kinesis("1", {"id": "a", "amount": 1}), kinesis("2", {"amount": 2}), kinesis("3", {})]}
    with pytest.raises(OrderMissingId):
        process_batch(event, sink)
    assert [o["id"] for o in sink.orders] == ["a"]


def test_reporting_returns_the_failed_sequence_numbers_kinesis() -> None:
    sink = MemorySink()
    event = {
        "Records": [
            kinesis("1", {"id": "a", "amount": 1}),
            kinesis("2", b"not json"),
            kinesis("3", {"id": "c", "amount": 3}),
            kinesis("4", {"id": "d", "amount": "x"}),
        ]
    }
    response = process_reporting_failures(event, sink, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "4"}]}
    assert [o["id"] for o in sink.orders] == ["a", "c"]


def test_reporting_returns_the_failed_sequence_numbers_dynamodb() -> None:
    sink = MemorySink()
    good = {"id": {"S": "a"}, "amount": {"N": "1"}}
    event = {"Records": [dynamodb("100", good), dynamodb("101", {"id": {"S": "b"}}), dynamodb("102", None, "REMOVE")]}
    response = process_reporting_failures(event, sink, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "101"}]}
    assert sink.orders == [{"id": "a", "amount": 1}]


def test_reporting_a_clean_batch_returns_no_failures() -> None:
    sink = MemorySink()
    response = process_reporting_failures({"Records": [kinesis("1", {"id": "a", "amount": 1})]}, sink, None)
    assert response == {"batchItemFailures": []}


class FakeDynamoDB:
    """BatchWriteItem that leaves the last ``unprocessed`` items of its first ``stingy`` calls."""

    def __init__(self, stingy: int = 0, unprocessed: int = 2) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.stingy = stingy
        self.unprocessed = unprocessed
        self.written: list[str] = []

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        ((table, requests),) = RequestItems.items()
        assert len(requests) <= 25
        self.calls.append(requests)
        keep = requests[: -self.unprocessed] if len(self.calls) <= self.stingy else requests
        self.written += [r["PutRequest"]["Item"]["id"]["S"] for r in keep]
        rest = requests[len(keep) :]
        return {"UnprocessedItems": {table: rest} if rest else {}}


def test_orders_are_written_25_a_call_the_unprocessed_again_the_last_of_one_id_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from orders_consumer import app

    monkeypatch.setattr(app.time, "sleep", lambda seconds: None)
    client = FakeDynamoDB(stingy=1)
    orders = [{"id": f"o-{i}", "amount": i} for i in range(60)] + [{"id": "o-0", "amount": 99}]
    app.OrdersSink("sink", client).put_many(orders)
    assert sorted(client.written) == sorted(f"o-{i}" for i in range(60))
    assert [len(c) for c in client.calls] == [25, 2, 25, 10]
    first = next(r for c in client.calls for r in c if r["PutRequest"]["Item"]["id"]["S"] == "o-0")
    assert first["PutRequest"]["Item"]["amount"] == {"N": "99"}, "the last write of an id wins, as with PutItem"


def test_writes_dynamodb_never_takes_are_a_named_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from orders_consumer import app

    monkeypatch.setattr(app.time, "sleep", lambda seconds: None)
    with pytest.raises(app.SinkWriteIncomplete, match="2 order"):
        app.OrdersSink("sink", FakeDynamoDB(stingy=100)).put_many([{"id": f"o-{i}", "amount": i} for i in range(5)])
