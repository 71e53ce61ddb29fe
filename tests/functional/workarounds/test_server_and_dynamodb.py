"""The server and DynamoDB workarounds (``workarounds/server.py``, ``workarounds/dynamodb.py``), pinned."""

from __future__ import annotations

import http.client
import threading
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from redrive_local.engine import LocalEngine

from .moto_probes import moto_source


@pytest.mark.pins("_server_lists_its_services_once")
def test_server_lists_its_services_once(engine: LocalEngine) -> None:
    """moto's ``list_of_moto_modules`` lists its package folder on every call, and the
    server's router calls it for each request; listed once here, with the same answer."""
    import os

    import moto
    from moto import backends

    assert "os.listdir(path)" in moto_source("moto.backends", "list_of_moto_modules")
    folder = os.path.dirname(moto.__file__)
    fresh = sorted(n for n in os.listdir(folder) if os.path.isdir(os.path.join(folder, n)) and not n.startswith("__"))
    assert list(backends.list_of_moto_modules()) == fresh
    assert backends.list_of_moto_modules() is backends.list_of_moto_modules(), "listed once"
    assert engine.client("sqs").list_queues() is not None, "requests are still routed"


def _exchange(connection: http.client.HTTPConnection, method: str, path: str, **kwargs: Any) -> tuple[int, str, bytes]:
    """(status, Connection header, body) of one request on ``connection``."""
    connection.request(method, path, **kwargs)
    response = connection.getresponse()
    return response.status, response.getheader("Connection") or "", response.read()


@pytest.mark.pins("_server_keeps_connections_alive")
def test_server_keeps_connections_alive(engine: LocalEngine) -> None:
    """werkzeug answers every request with ``Connection: close``; here a client's pooled
    connection carries request after request, as it does against AWS's endpoints."""
    import urllib3.connection

    opened: list[object] = []
    connect = urllib3.connection.HTTPConnection.connect

    def counting(self: Any) -> None:
        opened.append(self)
        connect(self)

    sqs = engine.session.client("sqs", endpoint_url=engine.endpoint_url)  # a fresh pool
    try:
        urllib3.connection.HTTPConnection.connect = counting  # type: ignore[method-assign]
        for _ in range(10):
            sqs.list_queues()
    finally:
        urllib3.connection.HTTPConnection.connect = connect  # type: ignore[method-assign]
    assert len(opened) == 1, f"{len(opened)} connections for 10 requests"
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    # A kept connection's body would otherwise wait on the client's delayed ACK (about 40 ms).
    assert MotoRequestHandler.disable_nagle_algorithm, "responses are not held back by Nagle's algorithm"


@pytest.mark.pins("_server_keeps_connections_alive")
def test_a_kept_connection_never_reads_a_body_as_the_next_request(engine: LocalEngine) -> None:
    """A body the application does not read (ListBuckets has none) is read off the connection
    all the same: the next request on it is answered, not parsed from the body's bytes."""
    connection = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=10)
    try:
        body = b"GET /not-a-request HTTP/1.1\r\nHost: x\r\n\r\n"
        status, kept, _ = _exchange(connection, "GET", "/", body=body, headers={"Content-Length": str(len(body))})
        assert (status, kept) == (200, "")
        sock = connection.sock
        status, _, answer = _exchange(connection, "GET", "/")
        assert status == 200 and b"ListAllMyBucketsResult" in answer, answer[:200]
        assert connection.sock is sock, "the same connection answered"
    finally:
        connection.close()


@pytest.mark.pins("_server_keeps_connections_alive")
@pytest.mark.parametrize(
    "headers",
    [{"Connection": "close"}, {"Transfer-Encoding": "chunked"}],
    ids=["the-client-asks-to-close", "a-chunked-body"],
)
def test_a_connection_is_closed_when_it_cannot_be_kept(engine: LocalEngine, headers: dict[str, str]) -> None:
    """A client that asks to close, or a chunked body (its end is the application's to find),
    gets ``Connection: close`` and the server closes the connection, as before."""
    connection = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=10)
    try:
        connection.putrequest("GET", "/")
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(b"0\r\n\r\n" if "Transfer-Encoding" in headers else None)
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("Connection") == "close"
        assert response.will_close
    finally:
        connection.close()


def _table(engine: LocalEngine) -> str:
    name = f"wa-{uuid.uuid4().hex[:8]}"
    engine.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def _claim(table: str, batch: str) -> list[dict[str, Any]]:
    """The Redrive claim's shape: an update of the lease and a conditional put of the batch."""
    return [
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": "run#1"}},
                "UpdateExpression": "SET inFlight.#b = :one",
                "ConditionExpression": "#s = :open",
                "ExpressionAttributeNames": {"#s": "status", "#b": batch},
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":open": {"S": "open"}},
            }
        },
        {
            "Put": {
                "TableName": table,
                "Item": {"pk": {"S": f"batch#{batch}"}, "status": {"S": "started"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]


@pytest.mark.pins("_dynamodb_transactions_back_up_their_items")
def test_dynamodb_transactions_back_up_their_items(engine: LocalEngine) -> None:
    """moto deep-copies each table a transaction touches, whole; here only the written items
    are backed up, a cancelled transaction still leaves every item as it was, and claims
    made from many threads at once all succeed (no "dictionary changed size" 500s)."""
    assert "copy.deepcopy(\n                    self.tables[table_name]" in moto_source(
        "moto.dynamodb.models", "DynamoDBBackend.transact_write_items"
    )
    dynamodb = engine.client("dynamodb")
    table = _table(engine)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "run#1"}, "status": {"S": "open"}, "inFlight": {"M": {}}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "batch#taken"}, "status": {"S": "completed"}})

    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(TransactItems=_claim(table, "taken"))
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    lease = dynamodb.get_item(TableName=table, Key={"pk": {"S": "run#1"}}, ConsistentRead=True)["Item"]
    assert lease["inFlight"] == {"M": {}}, "the update that succeeded inside the cancelled transaction was undone"
    taken = dynamodb.get_item(TableName=table, Key={"pk": {"S": "batch#taken"}})["Item"]
    assert taken["status"] == {"S": "completed"}

    failures: list[BaseException] = []

    def claim(n: int) -> None:
        try:
            for i in range(10):
                engine.client("dynamodb").transact_write_items(TransactItems=_claim(table, f"b{n}-{i}"))
                engine.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": f"other#{n}-{i}"}})
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    lease = dynamodb.get_item(TableName=table, Key={"pk": {"S": "run#1"}}, ConsistentRead=True)["Item"]
    assert len(lease["inFlight"]["M"]) == 60


@pytest.mark.pins("_dynamodb_conditional_writes_are_atomic")
def test_dynamodb_conditional_writes_are_atomic(engine: LocalEngine) -> None:
    """moto evaluates a condition (or an update expression on the item it read), then writes,
    with nothing held between: racing writers can both pass one condition, or both add to the
    same value. Here of many writers racing on one item exactly one passes each condition,
    and every increment returns a value no other writer got, as on AWS."""
    assert "Lock" not in moto_source("moto.dynamodb.models", "DynamoDBBackend.update_item")
    assert "Lock" not in moto_source("moto.dynamodb.models", "DynamoDBBackend.put_item")
    table = _table(engine)
    winners: list[str] = []
    counted: list[int] = []
    failures: list[BaseException] = []
    writers, rounds = 8, 40
    start = threading.Barrier(writers)

    def race() -> None:
        dynamodb = engine.client("dynamodb")
        start.wait(10)
        try:
            for slot in range(rounds):
                try:
                    dynamodb.put_item(
                        TableName=table,
                        Item={"pk": {"S": f"slot#{slot}"}},
                        ConditionExpression="attribute_not_exists(pk)",
                    )
                    winners.append(f"slot#{slot}")
                except ClientError as error:
                    if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise
                answer = dynamodb.update_item(
                    TableName=table,
                    Key={"pk": {"S": "count"}},
                    UpdateExpression="SET n = if_not_exists(n, :zero) + :one",
                    ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
                    ReturnValues="UPDATED_NEW",
                )
                counted.append(int(answer["Attributes"]["n"]["N"]))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=race) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(winners) == sorted(f"slot#{slot}" for slot in range(rounds)), "one winner a slot"
    assert sorted(counted) == list(range(1, writers * rounds + 1)), "every increment its own value"
