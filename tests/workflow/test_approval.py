"""Human approval, through the real link, page and POST on the local API server."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from redrive_local.approver import Email, PageResponse, decide_through_page, fetch, topic_emails
from redrive_local.engine import LocalEngine
from redrive_local.inspect import queue_bodies, trim_stream_records
from redrive_local.rehearsal import Rehearsal
from tests.support.executions import wait_for_execution
from tests.support.rules import AMOUNT_AS_NUMBER, DROP_TEST_EVENTS

from .conftest import kinesis_scenario, s3_json

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
    assert wait_for_execution(engine.client("stepfunctions"), arn)["status"] == "SUCCEEDED"
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
    assert wait_for_execution(engine.client("stepfunctions"), arn)["status"] == "SUCCEEDED"
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
    assert wait_for_execution(engine.client("stepfunctions"), arn)["status"] == "SUCCEEDED"


def test_a_replayed_post_changes_nothing(engine: LocalEngine) -> None:
    rehearsal, arn, email = waiting_run(engine, {})
    _, first = decide_through_page(str(email.link), "approve", name="first", comment="")
    assert first.status == 200
    signed = str(email.link).split("id=", 1)[1]
    replay = fetch(str(email.link).split("?", 1)[0], {"id": signed, "decision": "reject", "name": "second"})
    assert refused_as_decided_by(replay, "first")
    assert refused_as_decided_by(fetch(str(email.link)), "first")
    assert wait_for_execution(engine.client("stepfunctions"), arn)["status"] == "SUCCEEDED"
    assert report_of(engine, rehearsal, arn)["approval"]["decidedBy"] == "first"


def refused_as_decided_by(page: PageResponse, who: str) -> bool:
    """409 while the approved run is still redriving; 410 once it has ended (it may be quick)."""
    if page.status == 409:
        return "already decided" in page.html and f"approved by {who}" in page.html
    return page.status == 410 and "This run has ended (SUCCEEDED)" in page.html and f"approved by {who}" in page.html


def test_after_a_stop_the_link_says_the_run_ended(engine: LocalEngine) -> None:
    rehearsal, arn, email = waiting_run(engine, {})
    sfn = engine.client("stepfunctions")
    sfn.stop_execution(executionArn=arn)
    assert wait_for_execution(sfn, arn, timeout=20)["status"] == "ABORTED"
    page = fetch(str(email.link))
    assert page.status == 410
    assert "This run has ended (ABORTED); nothing more will happen." in page.html
    assert "Approve" not in page.html, "no form to submit"
    signed = str(email.link).split("id=", 1)[1]
    post = fetch(str(email.link).split("?", 1)[0], {"id": signed, "decision": "approve", "name": "late"})
    assert post.status == 410 and "This run has ended (ABORTED)" in post.html
    [item] = approval_items(engine, rehearsal)
    assert item["status"]["S"] == "closed" and "ABORTED" in item["closedReason"]["S"]
    assert item["executionArn"]["S"] == arn


@pytest.fixture
def flaky_send_task_success(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[tuple[str, int]]], list[str]]:
    """Make the local Step Functions answer SendTaskSuccess with the given errors first.

    Returns the log of calls ("error code" or "delivered"); monkeypatch restores moto."""
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.send_task_success
    calls: list[str] = []
    errors: list[tuple[str, int]] = []

    def send_task_success(self: StepFunctionsParserBackend, task_token: str, outcome: str) -> Any:
        if errors:
            code, status = errors.pop(0)
            calls.append(code)
            raise AWSError(f"{code} (injected by the test)", code, status)
        calls.append("delivered")
        return original(self, task_token, outcome)

    monkeypatch.setattr(StepFunctionsParserBackend, "send_task_success", send_task_success)

    def arm(injected: list[tuple[str, int]]) -> list[str]:
        errors.extend(injected)
        return calls

    return arm


@pytest.mark.parametrize(
    "injected",
    [
        [("ThrottlingException", 400)],
        # A 400 the SDK does not retry by itself: the page's own retry is what delivers it.
        [("ServiceUnavailable", 400), ("InternalServerError", 400)],
    ],
    ids=["throttled-once", "unavailable-twice"],
)
def test_a_throttled_send_task_success_still_approves_and_redrives(
    injected: list[tuple[str, int]],
    engine: LocalEngine,
    flaky_send_task_success: Callable[[list[tuple[str, int]]], list[str]],
) -> None:
    rehearsal, arn, email = waiting_run(engine, {"rules": [AMOUNT_AS_NUMBER]})
    calls = flaky_send_task_success(injected)
    _, answer = decide_through_page(str(email.link), "approve", name="Dana", comment="retry me")
    assert answer.status == 200 and "approved" in answer.html
    assert calls == [code for code, _ in injected] + ["delivered"]
    assert wait_for_execution(engine.client("stepfunctions"), arn)["status"] == "SUCCEEDED"
    report = report_of(engine, rehearsal, arn)
    assert report["counts"]["redriven"] == 2
    assert report["approval"]["decision"] == "approved" and report["approval"]["decidedBy"] == "Dana"
    [item] = approval_items(engine, rehearsal)
    assert item["status"]["S"] == "approved" and item["decidedBy"]["S"] == "Dana"


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
    assert wait_for_execution(engine.client("stepfunctions"), arn, timeout=20)["status"] == "ABORTED", (
        "a stop ends a waiting approval at once"
    )


def test_no_decision_times_out_as_a_rejection_and_the_link_expires(engine: LocalEngine) -> None:
    rehearsal, arn, email = waiting_run(engine, {"approval": {"timeoutSeconds": 2}})
    described = wait_for_execution(engine.client("stepfunctions"), arn)
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
    assert wait_for_execution(engine.client("stepfunctions"), arn)["status"] == "SUCCEEDED"
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
    assert wait_for_execution(engine.client("stepfunctions"), arn)["status"] == "SUCCEEDED"
    logs = "\n".join(text for _, text in engine.runtime.logs)
    assert "approval requested" in logs, "the functions' logs are captured"
    assert token not in logs
    assert signed not in logs


def test_skipping_approval_needs_the_stack_to_allow_it(engine: LocalEngine) -> None:
    strict = Rehearsal(kinesis_scenario(RECORDS), trigger="manual", engine=engine, approve="manual")
    strict.prepare()
    described = wait_for_execution(engine.client("stepfunctions"), strict.start({"approval": {"skip": True}}))
    assert (described["status"], described["error"]) == ("FAILED", "InvalidInput")
    assert "AllowSkipApproval" in described["cause"]
    assert described["cause"].startswith("approval.skip:"), "the cause is the message, no stack trace"

    lenient = Rehearsal(kinesis_scenario(RECORDS), trigger="manual", engine=engine, approve="manual")
    lenient.extra_parameters = {"AllowSkipApproval": "true"}
    lenient.prepare()
    emails_before = len(topic_emails(lenient.outputs["OperatorsTopicArn"]))
    arn = lenient.start({"approval": {"skip": True}, "rules": [AMOUNT_AS_NUMBER]})
    assert wait_for_execution(engine.client("stepfunctions"), arn)["status"] == "SUCCEEDED"
    report = report_of(engine, lenient, arn)
    assert report["approval"] == {"decision": "skipped"}
    assert report["counts"]["redriven"] == 2
    new_emails = topic_emails(lenient.outputs["OperatorsTopicArn"])[emails_before:]
    assert [e for e in new_emails if e.link] == [], "no approval email was sent"


def test_no_approval_is_asked_when_nothing_would_be_redriven(engine: LocalEngine) -> None:
    """Every record is discarded by a rule: the plan redrives none, so the run goes from Plan
    straight to Finalize (no email, no pending approval, no 24 h wait) and Finalize still
    gives each record its outcome."""
    test_records = [
        {"partitionKey": "a", "data": {"id": "t-1", "type": "test"}},
        {"partitionKey": "b", "data": {"id": "t-2", "type": "test"}},
    ]
    rehearsal = Rehearsal(kinesis_scenario(test_records), trigger="manual", engine=engine, approve="manual")
    rehearsal.prepare()
    topic = rehearsal.outputs["OperatorsTopicArn"]
    before = len(topic_emails(topic))
    arn = rehearsal.start({"rules": [DROP_TEST_EVENTS]})
    assert wait_for_execution(engine.client("stepfunctions"), arn)["status"] == "SUCCEEDED"
    assert [e for e in topic_emails(topic)[before:] if e.link] == []
    assert approval_items(engine, rehearsal) == []
    history = engine.client("stepfunctions").get_execution_history(executionArn=arn)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert "NothingToRedrive" in entered and "RequestApproval" not in entered and entered[-1] == "Finalize"
    report = report_of(engine, rehearsal, arn)
    assert report["mode"] == "complete"
    assert report["approval"]["decision"] == "not-needed"
    assert report["counts"]["redriven"] == 0
    assert Counter(r["outcome"] for r in report["records"]) == Counter({"discarded": 2})
    assert queue_bodies(rehearsal.outputs["DeadLetterQueueUrl"]) == []


def test_a_topic_no_one_confirmed_fails_the_run_clearly_and_returns_every_message(engine: LocalEngine) -> None:
    """No confirmed subscription on the operators' topic (OperatorEmail empty here; on AWS also
    an email never confirmed, or unsubscribed by a scanner): RequestApproval refuses to wait,
    the run fails through Release with the named cause, and every message is back in the DLQ."""
    rehearsal = Rehearsal(kinesis_scenario(RECORDS), trigger="manual", engine=engine, approve="manual")
    rehearsal.extra_parameters = {"OperatorEmail": ""}
    rehearsal.prepare()
    arn = rehearsal.start({"rules": [AMOUNT_AS_NUMBER]})
    done = wait_for_execution(engine.client("stepfunctions"), arn)
    assert done["status"] == "FAILED" and done["error"] == "RedriveFailed"
    assert "NoConfirmedSubscriber" in done["cause"] and "no confirmed subscription" in done["cause"]
    assert approval_items(engine, rehearsal) == []
    dlq = queue_bodies(rehearsal.outputs["DeadLetterQueueUrl"])
    assert len(dlq) == 2 and all("KinesisBatchInfo" in b for b in dlq)
