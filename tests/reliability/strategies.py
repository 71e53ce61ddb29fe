"""Hypothesis strategies for DLQ message bodies.

Valid bodies are built as their writers write them: the event source mapping's on-failure
pointers (see events/dlq/*.json), an S3 destination's record (the pointer plus the whole
failed invocation event in ``payload``), and the messages this workflow sends back
(:func:`redrive.core.finalize.requeue_body`). Each comes as a JSON value (a dict) so
:func:`mutated` can break it, and :func:`any_body` mixes all of them with arbitrary JSON,
non-JSON text and binary garbage.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from hypothesis import strategies as st

from redrive.contracts.messages import REDRIVE_MARKER, RecordReference, RedriveMarker
from redrive.contracts.records import FailureContext, StreamRecord, from_invocation_event_record
from redrive.core.finalize import requeue_body
from tests.fakes import memory_run

REGIONS = st.sampled_from(["us-east-1", "eu-west-3", "ap-southeast-2"])
ACCOUNTS = st.from_regex(r"\A[0-9]{12}\Z")
NAMES = st.from_regex(r"\A[A-Za-z0-9_.-]{1,30}\Z")
CONDITIONS = st.sampled_from(["RetryAttemptsExhausted", "RecordAgeExceeded", "MaximumPayloadSizeExceeded"])
ARRIVALS = st.sampled_from(["2026-11-22T03:12:38.850Z", "2026-11-22T03:02:11Z"])
# Fuzzed shards never collide with the shards of the generated streams (see runs.py).
KINESIS_SHARDS = st.integers(100, 999).map(lambda i: f"shardId-{i:012d}")
DYNAMODB_SHARDS = st.builds(
    lambda t, h: f"shardId-{t:020d}-{h}", st.integers(10**15, 10**20 - 1), st.from_regex(r"\A[0-9a-f]{8}\Z")
)
SEQUENCES = st.integers(0, 10**56)

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
ARBITRARY_JSON = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)


def kinesis_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:kinesis:{region}:{account}:stream/{name}"


def dynamodb_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:dynamodb:{region}:{account}:table/{name}/stream/2026-11-01T00:00:00.000"


KINESIS_ARNS = st.builds(kinesis_arn, REGIONS, ACCOUNTS, NAMES)
DYNAMODB_ARNS = st.builds(dynamodb_arn, REGIONS, ACCOUNTS, NAMES)
FUNCTION_ARNS = st.builds(lambda r, a, n: f"arn:aws:lambda:{r}:{a}:function:{n}", REGIONS, ACCOUNTS, NAMES)


# --- record data -------------------------------------------------------------------------
ORDER_DATA = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=8)},
    optional={
        "amount": st.integers(0, 10**6) | st.sampled_from(["3.5", "12.50", "abc", ""]),
        "type": st.sampled_from(["order", "test"]),
        "fail": st.booleans(),
        "note": st.text(max_size=20),
    },
)


def kinesis_data(data: Any) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


KINESIS_PAYLOADS = ORDER_DATA.map(kinesis_data) | st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())

ATTRIBUTE_VALUES: st.SearchStrategy[dict[str, Any]] = st.recursive(
    st.one_of(
        st.text(max_size=10).map(lambda s: {"S": s}),
        st.integers(-(10**20), 10**20).map(lambda n: {"N": str(n)}),
        st.decimals(allow_nan=False, allow_infinity=False, places=3).map(lambda d: {"N": str(d)}),
        st.booleans().map(lambda b: {"BOOL": b}),
        st.just({"NULL": True}),
        st.binary(max_size=8).map(lambda b: {"B": base64.b64encode(b).decode()}),
        st.lists(st.text(max_size=5), min_size=1, max_size=3, unique=True).map(lambda s: {"SS": s}),
    ),
    lambda children: (
        st.lists(children, max_size=3).map(lambda v: {"L": v})
        | st.dictionaries(st.text(min_size=1, max_size=6), children, max_size=3).map(lambda v: {"M": v})
    ),
    max_leaves=10,
)


def image_of(data: dict[str, Any]) -> dict[str, Any]:
    """A plain order as a DynamoDB image."""
    image: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, bool):
            image[name] = {"BOOL": value}
        elif isinstance(value, int):
            image[name] = {"N": str(value)}
        else:
            image[name] = {"S": str(value)}
    return image


DYNAMODB_IMAGES = ORDER_DATA.map(image_of) | st.dictionaries(st.text(min_size=1, max_size=6), ATTRIBUTE_VALUES)


# --- the ESM's on-failure pointer --------------------------------------------------------
def pointer_dict(
    source: str,
    stream_arn: str,
    shard_id: str,
    start: int,
    end: int,
    batch_size: int,
    function_arn: str,
    **context: Any,
) -> dict[str, Any]:
    """A pointer as the event source mapping writes it (see events/dlq/*.json)."""
    info = {
        "shardId": shard_id,
        "startSequenceNumber": str(start),
        "endSequenceNumber": str(end),
        "approximateArrivalOfFirstRecord": "2026-11-22T03:12:38.850Z",
        "approximateArrivalOfLastRecord": "2026-11-22T03:12:39.120Z",
        "batchSize": batch_size,
        "streamArn": stream_arn,
    }
    body: dict[str, Any] = {
        "requestContext": {
            "requestId": context.get("request_id", "3f1c7a52-6b0d-4e8e-a1d4-2c9b8e7f6a01"),
            "functionArn": function_arn,
            "condition": context.get("condition", "RetryAttemptsExhausted"),
            "approximateInvokeCount": context.get("invoke_count", 3),
        },
        "version": "1.0",
        "timestamp": "2026-11-22T03:12:41.207Z",
    }
    if source == "kinesis":
        body["responseContext"] = {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
        body["KinesisBatchInfo"] = info
    else:
        body["DDBStreamBatchInfo"] = info
    return body


@st.composite
def pointer_bodies(draw: st.DrawFn, source: str | None = None) -> dict[str, Any]:
    source = source or draw(st.sampled_from(["kinesis", "dynamodb"]))
    start = draw(SEQUENCES)
    width = draw(st.integers(0, 10_000))
    return pointer_dict(
        source,
        draw(KINESIS_ARNS if source == "kinesis" else DYNAMODB_ARNS),
        draw(KINESIS_SHARDS if source == "kinesis" else DYNAMODB_SHARDS),
        start,
        start + width,
        draw(st.integers(1, 10_000)),
        draw(FUNCTION_ARNS),
        condition=draw(CONDITIONS),
        invoke_count=draw(st.integers(1, 10_000)),
    )


# --- the records of a failed invocation event (an S3 destination's payload) ---------------
def kinesis_event_record(
    stream_arn: str, shard_id: str, sequence: int, data: str, pk: str, **extra: Any
) -> dict[str, Any]:
    kinesis: dict[str, Any] = {
        "kinesisSchemaVersion": "1.0",
        "partitionKey": pk,
        "sequenceNumber": str(sequence),
        "data": data,
    }
    if "arrival" in extra:
        kinesis["approximateArrivalTimestamp"] = extra["arrival"]
    return {
        "kinesis": kinesis,
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence}",
        "eventName": "aws:kinesis:record",
        "awsRegion": "us-east-1",
        "eventSourceARN": stream_arn,
    }


def dynamodb_event_record(
    stream_arn: str, sequence: int, keys: dict[str, Any], image: dict[str, Any], event_name: str, **extra: Any
) -> dict[str, Any]:
    ddb: dict[str, Any] = {
        "Keys": keys,
        "SequenceNumber": str(sequence),
        "SizeBytes": len(json.dumps(image)),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if event_name != "REMOVE":
        ddb["NewImage"] = image
    if "arrival" in extra:
        ddb["ApproximateCreationDateTime"] = extra["arrival"]
    return {
        "eventID": f"e{sequence:x}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": ddb,
        "eventSourceARN": stream_arn,
    }


@st.composite
def s3_destination_bodies(draw: st.DrawFn, payload_as_text: bool | None = None) -> dict[str, Any]:
    body = draw(pointer_bodies())
    source = "kinesis" if "KinesisBatchInfo" in body else "dynamodb"
    info = body["KinesisBatchInfo" if source == "kinesis" else "DDBStreamBatchInfo"]
    start = int(info["startSequenceNumber"])
    count = draw(st.integers(1, 6))
    arrival = st.floats(1_500_000_000, 2_000_000_000)
    records = []
    for offset in range(count):
        sequence = start + offset
        if source == "kinesis":
            pk = draw(st.text(min_size=1, max_size=10))
            record = kinesis_event_record(info["streamArn"], info["shardId"], sequence, draw(KINESIS_PAYLOADS), pk)
        else:
            keys = {"id": {"S": draw(st.text(min_size=1, max_size=6))}}
            event_name = draw(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]))
            record = dynamodb_event_record(info["streamArn"], sequence, keys, draw(DYNAMODB_IMAGES), event_name)
        if draw(st.booleans()):
            record["kinesis" if source == "kinesis" else "dynamodb"][
                "approximateArrivalTimestamp" if source == "kinesis" else "ApproximateCreationDateTime"
            ] = draw(arrival)
        records.append(record)
    info["endSequenceNumber"] = str(start + count - 1)
    info["batchSize"] = count
    payload = {"Records": records}
    as_text = draw(st.booleans()) if payload_as_text is None else payload_as_text
    body["payload"] = json.dumps(payload) if as_text else payload
    return body


# --- the messages this workflow sends back ------------------------------------------------
@st.composite
def stream_records(draw: st.DrawFn) -> StreamRecord:
    """A record as an S3 destination's payload would carry it."""
    body = draw(s3_destination_bodies(payload_as_text=False))
    source = "kinesis" if "KinesisBatchInfo" in body else "dynamodb"
    info = body["KinesisBatchInfo" if source == "kinesis" else "DDBStreamBatchInfo"]
    item = draw(st.sampled_from(body["payload"]["Records"]))
    record = from_invocation_event_record(item, info["streamArn"], info["shardId"])
    failure = FailureContext(
        condition=draw(CONDITIONS),
        function_arn=draw(FUNCTION_ARNS),
        approximate_invoke_count=draw(st.integers(1, 100)),
        redrive_attempts=draw(st.integers(0, 20)),
    )
    return record.model_copy(update={"failure": failure})


@st.composite
def requeued_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """``{"streamRedrive": {...}}`` as requeue_body writes it (inline), or by reference."""
    record = draw(stream_records())
    body = json.loads(requeue_body(record, "run-0", draw(st.text(min_size=1, max_size=40)), memory_run("run-0"), "b"))
    if draw(st.booleans()):
        marker = RedriveMarker.parse(body[REDRIVE_MARKER])
        reference = RecordReference(bucket="b", key=f"runs/run-0/records/{record.record_id}.json")
        marker = marker.model_copy(update={"record": None, "record_ref": reference})
        body = {REDRIVE_MARKER: marker.to_json()}
    return dict(body)


def valid_bodies() -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """(the kind classify_message must give, the body)."""
    return st.one_of(
        pointer_bodies("kinesis").map(lambda b: ("kinesis-pointer", b)),
        pointer_bodies("dynamodb").map(lambda b: ("dynamodb-pointer", b)),
        s3_destination_bodies().map(lambda b: ("s3-destination", b)),
        requeued_bodies().map(lambda b: ("redrive-record", b)),
    )


# --- breaking them -------------------------------------------------------------------------
# Digits that str.isdigit() and int() accept but a sequence number must not (escaped, to be
# unambiguous): Arabic-Indic, fullwidth, NKo, Devanagari, mathematical bold, mixed, and a zero.
UNICODE_DIGITS = st.sampled_from(
    [
        "\u0661\u0662\u0663",
        "\uff11\uff12\uff13",
        "\u07c0\u07c1",
        "\u0967\u0968\u0969",
        "\U0001d7cf\U0001d7d0",
        "12\u0663",
        "\u0660",
    ]
)
WEIRD_VALUES = st.one_of(
    st.sampled_from([None, True, False, 0, -1, 1.5, -0.0, "", " ", "0", "-5", "+5", "1e5", "0x10", "12\n", " 12"]),
    st.sampled_from([2**63, 2**64 + 1, -(10**30), 10**200, float("inf"), float("-inf"), float("nan"), 1e308]),
    UNICODE_DIGITS,
    st.integers(10, 129).map(lambda n: "9" * n),
    st.integers(130, 5000).map(lambda n: "7" * n),
    st.integers(1000, 50_000).map(lambda n: "x" * n),
    st.text(min_size=1, max_size=30),
    st.sampled_from([[], {}, [1, 2], {"a": "b"}, {"S": "x"}, [{}]]),
    st.integers(1, 300).map(lambda depth: _nested(depth)),
    ARBITRARY_JSON,
)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for level in range(depth):
        value = [value] if level % 2 else {"n": value}
    return value


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = []
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return out
    for key, child in items:
        out.append((*prefix, key))
        out.extend(_paths(child, (*prefix, key)))
    return out


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _parent(root: Any, path: tuple[Any, ...]) -> Any:
    node = root
    for key in path[:-1]:
        node = node[key]
    return node


@st.composite
def mutated(draw: st.DrawFn, body: dict[str, Any]) -> dict[str, Any]:
    """The body with one to three of its fields removed or replaced by a wrong value."""
    body = _copy(body)
    if isinstance(body.get("payload"), str) and draw(st.booleans()):
        body["payload"] = json.loads(body["payload"])  # so the payload's own fields can break too
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(body)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(body, path)
        key = path[-1]
        operation = draw(st.sampled_from(["remove", "replace", "replace", "sequence", "range"]))
        if operation == "remove":
            del parent[key]
        elif operation == "sequence":
            for info_name in ("KinesisBatchInfo", "DDBStreamBatchInfo"):
                info = body.get(info_name)
                if isinstance(info, dict) and "startSequenceNumber" in info:
                    info[draw(st.sampled_from(["startSequenceNumber", "endSequenceNumber"]))] = draw(UNICODE_DIGITS)
        elif operation == "range":
            for info_name in ("KinesisBatchInfo", "DDBStreamBatchInfo"):
                info = body.get(info_name)
                if isinstance(info, dict) and {"startSequenceNumber", "endSequenceNumber"} <= set(info):
                    info["startSequenceNumber"], info["endSequenceNumber"] = "1000", str(draw(st.integers(0, 999)))
        else:
            # A copy: sampled_from gives the same object every time, and a later mutation
            # of this body would change it for every draw after (flaky generation).
            parent[key] = copy.deepcopy(draw(WEIRD_VALUES))
    return body


@st.composite
def broken_text(draw: st.DrawFn, text: str) -> str:
    """The serialised body damaged as text: cut, spliced, prefixed, or not JSON at all."""
    how = draw(st.sampled_from(["cut", "splice", "bom", "nul", "duplicate-key", "deep", "trailing"]))
    if how == "cut":
        return text[: draw(st.integers(0, max(0, len(text) - 1)))]
    if how == "splice":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(st.text(min_size=1, max_size=5)) + text[at:]
    if how == "bom":
        return "\ufeff" + text
    if how == "nul":
        return text.replace(",", ",\u0000", 1)
    if how == "duplicate-key":
        return text.replace("{", '{"KinesisBatchInfo": 1, ', 1)
    if how == "deep":
        depth = draw(st.integers(100, 5_000))
        return text[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    return text + draw(st.sampled_from([" ", "\n", "x", "}", "]"]))


BINARY_GARBAGE = st.binary(min_size=1, max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape"))
NOT_JSON = st.one_of(
    st.text(max_size=200),
    BINARY_GARBAGE,
    st.sampled_from(["", "null", "[]", "1", '"a"', "NaN", "{", "}", "{}", "1" * 5000, '{"a": ' + "1" * 5000 + "}"]),
)


def dumps(body: Any) -> str:
    """As a writer would put it on the queue (Python's json writes NaN and Infinity too)."""
    return json.dumps(body)


@st.composite
def any_body(draw: st.DrawFn) -> tuple[str | None, str]:
    """(the kind a valid body must get, or None for a fuzzed one; the body text)."""
    how = draw(st.sampled_from(["valid", "mutated", "mutated", "mutated", "broken", "json", "garbage"]))
    if how == "json":
        return None, dumps(draw(ARBITRARY_JSON))
    if how == "garbage":
        return None, draw(NOT_JSON)
    kind, body = draw(valid_bodies())
    if how == "valid":
        return kind, dumps(body)
    if how == "mutated":
        return None, dumps(draw(mutated(body)))
    return None, draw(broken_text(dumps(body)))
