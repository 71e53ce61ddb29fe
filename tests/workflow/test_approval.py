"""Human approval, through the real link, page and POST on the local API server."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest

from redrive_local.approver import Email, decide_through_page, fetch, topic_emails
from redrive_local.engine import LocalEngine
from redrive_local.inspect import queue_bodies, trim_stream_records
from redrive_local.rehearsal import Rehearsal

from .conftest import AMOUNT_AS_NUMBER, kinesis_scenario, s3_json, wait_for

RECORDS = [
    {"partitionKey": "a", "data": {"id": "ap-1", "amount": "5"}},
    {"partitionKey": "b", "data": {"id": "ap-2", "amount": "6"}},
]


def waiting_run(engine: LocalEngine, run_input: dict[str, Any]) -> tuple[Rehearsal, str, Email]:
    """A prepared stack and an execution waiting for its decision, with the email sent."""
    rehearsal = Rehearsal(kinesis_scenario(RECORDS), trigger="manual", engine=engine, approve="manual")
    rehearsal.prepare()
    topic = rehearsal.outputs["OperatorsTopicArn"]
    before = len(topic_emails(topic))
    arn = rehearsal.start(run_input)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        emails = [e for e in topic_emails(topic)[before:] if e.link]
        if emails:
            return rehearsal, arn, emails[0]
        time.sleep(0.05)
    raise AssertionError("no approval email")


def approval_items(engine: LocalEngine, rehearsal: Rehearsal) -> list[dict[str, Any]]:
    table = rehearsal.stack.resources["RunStateTable"] if rehearsal.stack else ""
    items = engine.client("dynamodb").scan(TableName=table)["Items"]
    return [i for i in items if i["pk"]["S"].startswith("approval#")]


def report_of(engine: LocalEngine, rehearsal: Rehearsal, arn: str) -> dict[str, Any]:
    run_id = arn.rsplit(":", 1)[-1]
    return dict(s3_json(engine, rehearsal.outputs["RunBucketName"], f"runs/{run_id}/report.json"))


def test_approve_redrives_and_the_decision_is_reported(engine: LocalEngine) -> None:
    rehearsal, arn, email = waiting_run(engine, {"rules": [AMOUNT_AS_NUMBER]})
    assert "redrive" in email.subject and "Rule amount-as-number: repair x2" in email.body
    assert "leaves the stream in about" in email.body
    page, answer = decide_through_page(str(email.link), "approve", name="Dana", comment="amounts fixed upstream")
    assert page.status == 200 and "Approve this redrive?" in page.html
    assert answer.status == 200 and "approved" in answer.html
    assert wait_for(engine, arn)["status"] == "SUCCEEDED"
    report = report_of(engine, rehearsal, arn)
    assert report["counts"]["redriven"] == 2
    assert report["approval"] == {
        "decision": "approved",
        "decidedBy": "Dana",
        "comment": "amounts fixed upstream",
        "decidedAt": report["approval"]["decidedAt"],
    }
    notice = topic_emails(rehearsal.outputs["OperatorsTopicArn"])[-1]
    assert "Approval: approved by Dana: amounts fixed upstream" in notice.body


def test_reject_redrives_nothing_and_returns_every_message(engine: LocalEngine) -> None:
    rehearsal, arn, email = waiting_run(engine, {"rules": [AMOUNT_AS_NUMBER]})
    dlq = rehearsal.outputs["DeadLetterQueueUrl"]
    _, answer = decide_through_page(str(email.link), "reject", name="Sam", comment="wrong fix")
    assert answer.status == 200 and "rejected" in answer.html
    assert wait_for(engine, arn)["status"] == "SUCCEEDED"
    report = report_of(engine, rehearsal, arn)
    assert report["mode"] == "rejected"
    assert {r["outcome"] for r in report["records"]} == {"planned"}
    assert report["approval"]["decision"] == "rejected" and report["approval"]["decidedBy"] == "Sam"
    assert len(queue_bodies(dlq)) == 2 and all("KinesisBatchInfo" in b for b in queue_bodies(dlq))


def test_a_get_never_decides(engine: LocalEngine) -> None:
    rehearsal, arn, email = waiting_run(engine, {})
    for _ in range(3):  # a mail scanner, a link preview, the person
        page = fetch(str(email.link))
        assert page.status == 200
    time.sleep(0.3)
    assert engine.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"
    [item] = approval_items(engine, rehearsal)
    assert item["status"]["S"] == "pending"
    decide_through_page(str(email.link), "approve", name="n", comment="")
    assert wait_for(engine, arn)["status"] == "SUCCEEDED"


def test_a_replayed_post_changes_nothing(engine: LocalEngine) -> None:
    rehearsal, arn, email = waiting_run(engine, {})
    _, first = decide_through_page(str(email.link), "approve", name="first", comment="")
    assert first.status == 200
    signed = str(email.link).split("id=", 1)[1]
    replay = fetch(str(email.link).split("?", 1)[0], {"id": signed, "decision": "reject", "name": "second"})
    assert replay.status == 409 and "already decided" in replay.html
    assert fetch(str(email.link)).status == 409
    assert wait_for(engine, arn)["status"] == "SUCCEEDED"
    assert report_of(engine, rehearsal, arn)["approval"]["decidedBy"] == "first"


@pytest.mark.parametrize("where", ["payload", "signature", "truncated", "empty"])
def test_a_tampered_link_is_refused(where: str, engine: LocalEngine) -> None:
    rehearsal, arn, email = waiting_run(engine, {})
    base, signed = str(email.link).split("?id=", 1)
    payload, signature = signed.split(".")
    flip = {"A": "B"}.get(payload[3], "A")
    tampered = {
        "payload": f"{payload[:3]}{flip}{payload[4:]}.{signature}",
        "signature": f"{payload}.{signature[:-2]}xy",
        "truncated": payload,
        "empty": "",
    }[where]
    page = fetch(f"{base}?id={tampered}")
    assert page.status == 400 and "not a valid decision link" in page.html
    post = fetch(base, {"id": tampered, "decision": "approve", "name": "mallory"})
    assert post.status == 400
    assert approval_items(engine, rehearsal)[0]["status"]["S"] == "pending"
    engine.client("stepfunctions").stop_execution(executionArn=arn)
    assert wait_for(engine, arn, timeout=20)["status"] == "ABORTED", "a stop ends a waiting approval at once"


def test_no_decision_times_out_as_a_rejection_and_the_link_expires(engine: LocalEngine) -> None:
    rehearsal, arn, email = waiting_run(engine, {"approval": {"timeoutSeconds": 2}})
    described = wait_for(engine, arn)
    assert described["status"] == "SUCCEEDED"
    report = report_of(engine, rehearsal, arn)
    assert report["mode"] == "rejected"
    assert report["approval"]["decision"] == "timeout"
    after = queue_bodies(rehearsal.outputs["DeadLetterQueueUrl"])
    assert Counter(canonical(b) for b in after) == Counter(
        canonical(json.dumps(f.message)) for f in rehearsal.consumer.failures
    )
    page = fetch(str(email.link))
    assert page.status == 410 and "expired" in page.html
    signed = str(email.link).split("id=", 1)[1]
    late = fetch(str(email.link).split("?", 1)[0], {"id": signed, "decision": "approve", "name": "late"})
    assert late.status == 410


def canonical(body: str) -> str:
    return json.dumps(json.loads(body), sort_keys=True)


def test_an_approval_that_outlives_the_stream_still_redrives_from_s3(engine: LocalEngine) -> None:
    rehearsal, arn, email = waiting_run(engine, {"rules": [AMOUNT_AS_NUMBER]})
    trim_stream_records(rehearsal.outputs["ExampleSourceArn"], rehearsal.written)  # retention passes meanwhile
    decide_through_page(str(email.link), "approve", name="late riser", comment="after 24 h")
    assert wait_for(engine, arn)["status"] == "SUCCEEDED"
    report = report_of(engine, rehearsal, arn)
    assert report["counts"]["redriven"] == 2
    assert report["counts"]["expired"] == 0


def test_the_token_and_the_signature_stay_out_of_pages_emails_and_logs(engine: LocalEngine) -> None:
    rehearsal, arn, email = waiting_run(engine, {})
    [item] = approval_items(engine, rehearsal)
    token = item["taskToken"]["S"]
    signed = str(email.link).split("id=", 1)[1]
    page = fetch(str(email.link))
    assert token not in email.body and token not in page.html
    decide_through_page(str(email.link), "approve", name="n", comment="")
    assert wait_for(engine, arn)["status"] == "SUCCEEDED"
    logs = "\n".join(text for _, text in engine.runtime.logs)
    assert "approval requested" in logs, "the functions' logs are captured"
    assert token not in logs
    assert signed not in logs


def test_skipping_approval_needs_the_stack_to_allow_it(engine: LocalEngine) -> None:
    strict = Rehearsal(kinesis_scenario(RECORDS), trigger="manual", engine=engine, approve="manual")
    strict.prepare()
    described = wait_for(engine, strict.start({"approval": {"skip": True}}))
    assert (described["status"], described["error"]) == ("FAILED", "InvalidInput")
    assert "AllowSkipApproval" in described["cause"]

    lenient = Rehearsal(kinesis_scenario(RECORDS), trigger="manual", engine=engine, approve="manual")
    lenient.extra_parameters = {"AllowSkipApproval": "true"}
    lenient.prepare()
    emails_before = len(topic_emails(lenient.outputs["OperatorsTopicArn"]))
    arn = lenient.start({"approval": {"skip": True}, "rules": [AMOUNT_AS_NUMBER]})
    assert wait_for(engine, arn)["status"] == "SUCCEEDED"
    report = report_of(engine, lenient, arn)
    assert report["approval"] == {"decision": "skipped"}
    assert report["counts"]["redriven"] == 2
    new_emails = topic_emails(lenient.outputs["OperatorsTopicArn"])[emails_before:]
    assert [e for e in new_emails if e.link] == [], "no approval email was sent"
