"""The consumers' event source mappings, read for the batch size of a default-sized invoke."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from redrive.adapters.mappings import LambdaMappings

STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
CONSUMER = "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer"


def mapping(function_arn: str, batch_size: int) -> dict[str, Any]:
    return {"UUID": f"u-{batch_size}", "EventSourceArn": STREAM, "FunctionArn": function_arn, "BatchSize": batch_size}


class PagedLambda:
    """ListEventSourceMappings by stream, one mapping a page."""

    def __init__(self, mappings: list[dict[str, Any]], error: str | None = None) -> None:
        self.mappings = mappings
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def list_event_source_mappings(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "no"}}, "ListEventSourceMappings")
        assert kwargs["EventSourceArn"] == STREAM
        index = int(kwargs.get("Marker", 0))
        page: dict[str, Any] = {"EventSourceMappings": self.mappings[index : index + 1]}
        if index + 1 < len(self.mappings):
            page["NextMarker"] = str(index + 1)
        return page


def test_the_largest_batch_of_the_functions_mappings_on_the_stream_over_every_page() -> None:
    client = PagedLambda(
        [
            mapping(CONSUMER, 100),
            mapping("arn:aws:lambda:us-east-1:123456789012:function:audit", 1000),
            mapping(f"{CONSUMER}:live", 250),
        ]
    )
    assert LambdaMappings(client).batch_size(CONSUMER, STREAM) == 250
    assert len(client.calls) == 3


def test_a_name_or_a_qualified_arn_finds_the_same_mappings() -> None:
    mappings = LambdaMappings(PagedLambda([mapping(CONSUMER, 40)]))
    assert mappings.batch_size("orders-consumer", STREAM) == 40
    assert mappings.batch_size(f"{CONSUMER}:7", STREAM) == 40
    assert mappings.batch_size("orders-consumer:live", STREAM) == 40


def test_no_mapping_is_none() -> None:
    assert LambdaMappings(PagedLambda([mapping(CONSUMER, 40)])).batch_size("other", STREAM) is None


def test_a_refused_read_is_none_and_the_run_goes_on() -> None:
    assert LambdaMappings(PagedLambda([], error="AccessDeniedException")).batch_size(CONSUMER, STREAM) is None


def test_each_function_and_stream_is_read_once() -> None:
    client = PagedLambda([mapping(CONSUMER, 40)])
    mappings = LambdaMappings(client)
    assert [mappings.batch_size(CONSUMER, STREAM) for _ in range(3)] == [40, 40, 40]
    assert len(client.calls) == 1
