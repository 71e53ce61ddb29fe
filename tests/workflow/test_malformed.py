"""Odd DLQ messages through the real path: each run succeeds, nothing is lost, and what
the workflow cannot use goes back to the DLQ exactly as it was."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections import Counter
from typing import Any
from urllib.parse import quote, urlsplit

from redrive.contracts.messages import RETURNED_ATTRIBUTE
from redrive_local.approver import decide_through_page, fetch, topic_emails
from redrive_local.engine import LocalEngine
from redrive_local.inspect import queue_bodies
from redrive_local.rehearsal import Rehearsal
from tests.support.dlq import attributes_by_body, backend_attributes, nothing_lost, send, take_all
from tests.support.executions import wait_for_execution
from tests.support.rules import AMOUNT_AS_NUMBER

from .conftest import kinesis_scenario, run_id_of, s3_json

MISSING_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:no-such-consumer"
SKIP = {"approval": {"skip": True}}


def prepared(engine: LocalEngine, records: list[dict[str, Any]]) -> Rehearsal:
    """A one-shard stack whose runs may skip approval, the consumer's pointers in the DLQ."""
    rehearsal = Rehearsal(kinesis_scenario(records), trigger="manual", engine=engine)
    rehearsal.extra_parameters = {"AllowSkipApproval": "true"}
    rehearsal.prepare()
    return rehearsal


def pointers_by_start(engine: LocalEngine, rehearsal: Rehearsal) -> dict[str, str]:
    """The consumer's pointers, taken out of the DLQ: body per start sequence number."""
    taken = take_all(engine, rehearsal.outputs["DeadLetterQueueUrl"])
    return {json.loads(m["Body"])["KinesisBatchInfo"]["startSequenceNumber"]: m["Body"] for m in taken}


def record_json(rehearsal: Rehearsal, index: int, data: Any) -> dict[str, Any]:
    """A scenario record as a re-queued message carries it (StreamRecord's JSON)."""
    shard, sequence = rehearsal.written[index]
    return {
        "source": "kinesis",
        "streamArn": rehearsal.outputs["ExampleSourceArn"],
        "shardId": shard,
        "sequenceNumber": sequence,
        "partitionKey": f"p{index}",
        "payload": base64.b64encode(json.dumps(data).encode()).decode(),
    }


def marker(record: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
    """A re-queued record message, shaped as core/finalize.py requeue_body writes it."""
    body: dict[str, Any] = {
        "version": "1",
        "kind": "record",
        "recordId": f"{record['shardId']}:{record['sequenceNumber']}" if record else None,
        "runId": "an-earlier-run",
        "reason": "consumer failed again",
        "failure": {"condition": "RetryAttemptsExhausted", "redriveAttempts": 1},
        "record": record,
        "recordRef": None,
    }
    body.update(fields)
    return {"streamRedrive": body}


def marker_of(body: str) -> dict[str, Any]:
    return dict(json.loads(body)["streamRedrive"])


def requeued_by(body: str, run_id: str) -> bool:
    """Whether ``body`` is a record the run ``run_id`` sent back."""
    try:
        return marker_of(body).get("runId") == run_id
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


def altered(pointer: str, **batch_info: Any) -> dict[str, Any]:
    body = json.loads(pointer)
    body["KinesisBatchInfo"].update(batch_info)
    return dict(body)


# --- 1. A DLQ of real pointers and odd bodies ---------------------------------------------

POISON = [{"partitionKey": f"p{i}", "data": {"id": f"mf-{i}", "amount": str(i)}} for i in range(6)]


def test_odd_messages_go_back_as_they_were_and_the_run_succeeds(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, POISON)
    dlq = rehearsal.outputs["DeadLetterQueueUrl"]
    by_start = pointers_by_start(engine, rehearsal)
    seqs = [sequence for _, sequence in rehearsal.written]
    assert sorted(by_start) == sorted(seqs), "one pointer per poison record"
    real = [by_start[s] for s in seqs[:4]]
    template = json.loads(real[0])
    arn = template["KinesisBatchInfo"]["streamArn"]

    # Usable pointers with odd context: no requestContext object; a consumer that does not exist.
    no_context = {**json.loads(by_start[seqs[4]]), "requestContext": "not an object"}
    missing_consumer = json.loads(by_start[seqs[5]])
    missing_consumer["requestContext"]["functionArn"] = MISSING_FUNCTION

    record = record_json(rehearsal, 0, POISON[0]["data"])
    s3_form = {
        **template,
        "payload": json.dumps(
            {"Records": [{"kinesis": {"partitionKey": "p0", "data": record["payload"]}, "eventSourceARN": arn}]}
        ),
    }
    ddb_with_kinesis_arn = {k: v for k, v in template.items() if k != "KinesisBatchInfo"}
    ddb_with_kinesis_arn["DDBStreamBatchInfo"] = template["KinesisBatchInfo"]
    odd: dict[str, tuple[dict[str, Any], str]] = {
        "record-id-object": (marker(record, recordId={"shard": record["shardId"]}), "recordId"),
        "record-id-list": (marker(record, recordId=[record["shardId"], record["sequenceNumber"]]), "recordId"),
        "superscript-two": (altered(real[0], startSequenceNumber="²", endSequenceNumber="²"), "startSequenceNumber"),
        "arabic-indic": (altered(real[0], startSequenceNumber="١٢٣", endSequenceNumber="١٢٣"), "startSequenceNumber"),
        "stream-arn-number": (altered(real[0], streamArn=12345), "streamArn"),
        "shard-id-list": (altered(real[0], shardId=[template["KinesisBatchInfo"]["shardId"]]), "shardId"),
        "ddb-with-kinesis-arn": (ddb_with_kinesis_arn, "not a dynamodb stream ARN"),
        "s3-no-sequence-numbers": (s3_form, "payload Records[0] is not a stream record"),
        "record-ref-gone": (
            marker(None, recordRef={"bucket": "no-such-bucket", "key": "runs/gone/records/x.json"}),
            "is gone",
        ),
        "failure-not-object": (marker(record, failure="three times"), "failure"),
    }
    sent: dict[str, str] = {}  # message id -> name
    for body in real:
        send(engine, dlq, body)
    for name, (body, _) in odd.items():
        sent[send(engine, dlq, body)] = name
    finishing = {"no-context": no_context, "missing-consumer": missing_consumer}
    for body in finishing.values():
        send(engine, dlq, body)
    assert len(queue_bodies(dlq)) == 16

    report = rehearsal.redrive({"rules": [AMOUNT_AS_NUMBER], **SKIP})

    assert report["execution"]["status"] == "SUCCEEDED", report["execution"].get("cause")
    assert report["counts"]["dlqMessages"] == 16
    assert report["counts"]["unrecognised"] == len(odd)
    reasons = {sent[u["messageId"]]: u["reason"] for u in report["unrecognised"]}
    assert set(reasons) == set(odd), "each odd body is unrecognised (and only those)"
    for name, (_, says) in odd.items():
        assert says in reasons[name], (name, reasons[name])

    outcome = {r["sequenceNumber"]: (r["outcome"], r["reason"]) for r in report["records"]}
    assert set(outcome) == set(seqs), "each record of a usable pointer once"
    assert all(outcome[s][0] == "redriven" for s in seqs[:5]), outcome
    failed, why = outcome[seqs[5]]
    # IAM is checked before existence: a function the role may not invoke is AccessDenied.
    assert failed == "failed" and "could not be invoked" in why and "AccessDenied" in why, why
    assert {item["id"] for item in report["consumer"]["processed"]} == {f"mf-{i}" for i in range(5)}

    after = report["dlq"]["after"]
    requeued = [b for b in after if requeued_by(b, run_id_of(report))]
    assert [(m["record"]["sequenceNumber"], m["reason"]) for m in map(marker_of, requeued)] == [(seqs[5], why)]
    returned = [b for b in after if b not in requeued]
    bad_bodies = [json.dumps(body, separators=(",", ":"), ensure_ascii=False) for body, _ in odd.values()]
    assert Counter(returned) == Counter(bad_bodies), "odd bodies back byte for byte, nothing else whole"
    finished = [*real, *(json.dumps(b, separators=(",", ":"), ensure_ascii=False) for b in finishing.values())]
    nothing_lost(report["dlq"]["before"], returned, finished)


# --- 2. Binary message attributes come back byte for byte ----------------------------------

ALL_BYTES = bytes(range(256))
POINTER_ATTRIBUTES = {
    "raw": {"DataType": "Binary", "BinaryValue": ALL_BYTES},
    "edges": {"DataType": "Binary.custom", "BinaryValue": b"\x00\xff\x00\xff"},
    "note": {"DataType": "String", "StringValue": "zürich ✓"},
}
ODD_ATTRIBUTES = {"blob": {"DataType": "Binary", "BinaryValue": b"\xff\xfe\x00\x00\x01" * 7 + b"\x00"}}


def as_sent(attributes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Attributes as ReceiveMessage gives them back (binary values as bytes)."""
    return {name: dict(value) for name, value in attributes.items()}


def values_of(attributes: dict[str, dict[str, Any]]) -> dict[str, bytes | str]:
    return {name: value.get("BinaryValue", value.get("StringValue")) for name, value in attributes.items()}


def own(attributes: dict[str, Any]) -> dict[str, Any]:
    """A returned message's own attributes: without the marker the run added (asserted there)."""
    assert RETURNED_ATTRIBUTE in attributes, "a returned message carries the run's marker"
    return {name: value for name, value in attributes.items() if name != RETURNED_ATTRIBUTE}


def test_binary_message_attributes_come_back_identical(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, [{"partitionKey": "b", "data": {"id": "bin-1", "amount": "3"}}])
    dlq = rehearsal.outputs["DeadLetterQueueUrl"]
    [pointer] = pointers_by_start(engine, rehearsal).values()
    odd = "not a pointer, with binary attributes"
    send(engine, dlq, pointer, POINTER_ATTRIBUTES)
    send(engine, dlq, odd, ODD_ATTRIBUTES)

    dry = rehearsal.redrive({"dryRun": True, **SKIP})
    assert dry["execution"]["status"] == "SUCCEEDED", dry["execution"].get("cause")
    assert Counter(dry["dlq"]["after"]) == Counter([pointer, odd])
    held = backend_attributes(dlq)
    assert own(held[pointer]) == values_of(POINTER_ATTRIBUTES)
    assert own(held[odd]) == values_of(ODD_ATTRIBUTES)
    received = attributes_by_body(engine, dlq)
    assert own(received[pointer]) == as_sent(POINTER_ATTRIBUTES), (
        "a dry run returns the pointer's attributes as they were"
    )
    assert own(received[odd]) == as_sent(ODD_ATTRIBUTES)

    done = rehearsal.redrive({"rules": [AMOUNT_AS_NUMBER], **SKIP})
    assert done["execution"]["status"] == "SUCCEEDED", done["execution"].get("cause")
    assert [r["outcome"] for r in done["records"]] == ["redriven"]
    nothing_lost(done["dlq"]["before"], done["dlq"]["after"], [pointer])
    assert {b: own(a) for b, a in attributes_by_body(engine, dlq).items()} == {odd: as_sent(ODD_ATTRIBUTES)}, (
        "the unrecognised one, untouched"
    )


# --- 3. A pointer names at most batchSize records, however wide its range -----------------

SHARD = [
    {"partitionKey": "w", "data": {"id": "w-0", "amount": "0"}},  # poison
    {"partitionKey": "w", "data": {"id": "w-1", "amount": 1}},
    {"partitionKey": "w", "data": {"id": "w-2", "amount": 2}},
    {"partitionKey": "w", "data": {"id": "w-3", "amount": "3"}},  # poison
    {"partitionKey": "w", "data": {"id": "w-4", "amount": 4}},
]


def test_a_pointer_over_the_whole_shard_redrives_at_most_its_batch_size(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, SHARD)
    dlq = rehearsal.outputs["DeadLetterQueueUrl"]
    seqs = [sequence for _, sequence in rehearsal.written]
    by_start = pointers_by_start(engine, rehearsal)
    assert sorted(by_start) == sorted([seqs[0], seqs[3]])
    wide = altered(by_start[seqs[0]], startSequenceNumber="0", endSequenceNumber="9" * 60, batchSize=1)
    send(engine, dlq, wide)
    send(engine, dlq, by_start[seqs[3]])
    consumer = rehearsal.outputs["ExampleConsumerFunction"]
    invoked = engine.runtime.invocations[consumer]

    report = rehearsal.redrive({"rules": [AMOUNT_AS_NUMBER], "redrive": {"batchSize": 1}, **SKIP})

    assert report["execution"]["status"] == "SUCCEEDED", report["execution"].get("cause")
    outcome = {r["sequenceNumber"]: r["outcome"] for r in report["records"]}
    assert outcome == {seqs[0]: "redriven", seqs[3]: "redriven"}, report["records"]
    assert engine.runtime.invocations[consumer] - invoked == 2, "no record the consumer had processed is sent again"
    assert report["dlq"]["after"] == []
    nothing_lost(report["dlq"]["before"], report["dlq"]["after"], report["dlq"]["before"])


def test_a_pointer_over_the_whole_shard_alone_redrives_one_record(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, SHARD)
    dlq = rehearsal.outputs["DeadLetterQueueUrl"]
    seqs = [sequence for _, sequence in rehearsal.written]
    by_start = pointers_by_start(engine, rehearsal)
    wide = altered(by_start[seqs[0]], startSequenceNumber="0", endSequenceNumber="9" * 60, batchSize=1)
    send(engine, dlq, wide)
    consumer = rehearsal.outputs["ExampleConsumerFunction"]
    invoked = engine.runtime.invocations[consumer]

    report = rehearsal.redrive({"rules": [AMOUNT_AS_NUMBER], "redrive": {"batchSize": 1}, **SKIP})

    assert report["execution"]["status"] == "SUCCEEDED", report["execution"].get("cause")
    assert [(r["sequenceNumber"], r["outcome"]) for r in report["records"]] == [(seqs[0], "redriven")]
    assert engine.runtime.invocations[consumer] - invoked == 1
    assert report["metrics"]["getRecordsCalls"] <= 2, "the shard was not read to its end"
    nothing_lost(report["dlq"]["before"], report["dlq"]["after"], report["dlq"]["before"])


# --- 4. Re-queued copies of one record reach the consumer once ----------------------------


def test_seven_requeued_copies_of_one_record_reach_the_consumer_once(engine: LocalEngine) -> None:
    rehearsal = prepared(engine, [{"partitionKey": "p0", "data": {"id": "dup-1", "amount": "9"}}])
    dlq = rehearsal.outputs["DeadLetterQueueUrl"]
    take_all(engine, dlq)
    record = record_json(rehearsal, 0, {"id": "dup-1", "amount": "9"})
    bucket = rehearsal.outputs["RunBucketName"]
    key = "runs/an-earlier-run/records/dup-1.json"
    engine.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(record).encode())
    copies = [marker(record, recordId=f"copy-{n}", failure={"redriveAttempts": n}) for n in range(6)]
    copies.append(marker(None, recordId="copy-by-reference", recordRef={"bucket": bucket, "key": key}))
    bodies = [json.dumps(body, separators=(",", ":")) for body in copies]
    for body in bodies:
        send(engine, dlq, body)
    consumer = rehearsal.outputs["ExampleConsumerFunction"]
    invoked = engine.runtime.invocations[consumer]

    report = rehearsal.redrive({"rules": [AMOUNT_AS_NUMBER], "redrive": {"batchSize": 1}, **SKIP})

    assert report["execution"]["status"] == "SUCCEEDED", report["execution"].get("cause")
    assert report["counts"]["dlqMessages"] == 7 and report["counts"]["unrecognised"] == 0
    assert [(r["sequenceNumber"], r["outcome"]) for r in report["records"]] == [(record["sequenceNumber"], "redriven")]
    assert engine.runtime.invocations[consumer] - invoked == 1, "the consumer received the record once"
    assert {"id": "dup-1", "amount": 9} in report["consumer"]["processed"]
    nothing_lost(report["dlq"]["before"], report["dlq"]["after"], bodies)


# --- 5. A decision link with a non-ASCII signature is refused, not a server error ---------


def waiting_for_decision(engine: LocalEngine) -> tuple[Rehearsal, str, str]:
    """A run waiting for its approval: (rehearsal, execution ARN, the email's link)."""
    rehearsal = Rehearsal(
        kinesis_scenario([{"partitionKey": "a", "data": {"id": "na-1", "amount": "1"}}]),
        trigger="manual",
        engine=engine,
        approve="manual",
    )
    rehearsal.prepare()
    topic = rehearsal.outputs["OperatorsTopicArn"]
    before = len(topic_emails(topic))
    arn = rehearsal.start({})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        links = [e.link for e in topic_emails(topic)[before:] if e.link]
        if links:
            return rehearsal, arn, str(links[0])
        time.sleep(0.05)
    raise AssertionError("no approval email")


def raw_get(url: str, target: bytes) -> tuple[int, str]:
    """GET with a request target sent as raw bytes (not percent-encoded), as a careless client may."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30) as connection:
        connection.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode("utf-8", "replace")


def refused(status: int, html: str) -> bool:
    return status == 400 and "This link cannot be used" in html and "not a valid decision link" in html


def test_a_decision_link_with_a_non_ascii_signature_is_refused_with_400(engine: LocalEngine) -> None:
    rehearsal, arn, link = waiting_for_decision(engine)
    page_url, _, signed = link.partition("?id=")
    payload, _, signature = signed.partition(".")
    tampered = [
        f"{payload}.{signature[:-1]}é",  # one letter swapped for a non-ASCII one
        f"{payload}.{signature}²",
        f"{payload}.١٢٣{signature}",
        f"{payload}.✓",
        f"{payload}ü.{signature}",  # the payload too
    ]
    for bad in tampered:
        page = fetch(f"{page_url}?id={quote(bad, safe='')}")
        assert refused(page.status, page.html), (bad, page.status, page.html[:300])
        post = fetch(page_url, {"id": bad, "decision": "approve", "name": "mallory", "comment": "ünïcode"})
        assert refused(post.status, post.html), (bad, post.status, post.html[:300])
    target = urlsplit(page_url).path.encode() + b"?id=" + f"{payload}.{signature[:-2]}ßé".encode()
    assert refused(*raw_get(page_url, target))

    sfn = engine.client("stepfunctions")
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING", "nothing was decided"
    page, answer = decide_through_page(link, "reject", name="Dana", comment="the real link still works")
    assert (page.status, answer.status) == (200, 200), answer.html[:300]
    assert wait_for_execution(sfn, arn)["status"] == "SUCCEEDED"
    report = s3_json(engine, rehearsal.outputs["RunBucketName"], f"runs/{arn.rsplit(':', 1)[-1]}/report.json")
    assert report["mode"] == "rejected" and report["approval"]["decidedBy"] == "Dana"
