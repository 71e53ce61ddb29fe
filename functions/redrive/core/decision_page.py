"""The decision page's logic: GET shows, POST decides once; every refusal is a clear page.

Responses are (status, html). Nothing here logs the signed id or the task token.

A POST decides in three steps, so that a decision is never recorded that the run did not
get: take the approval's short ``deciding`` lease (two POSTs cannot both go on; a crashed
one blocks for a minute at most), send the decision to Step Functions (retrying what a
retry can fix), and only then record it. A decision that could not be delivered gives the
lease back, so the same link works again; one the run no longer waits for closes the
approval. Both GET and POST look at the execution first: a run that has ended says so.
"""

from __future__ import annotations

import base64
import json
import random
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from ..contracts.approval import PendingApproval
from ..errors import aws_error_code
from .approval import (
    ExpiredLink,
    LinkError,
    render_message_page,
    render_page,
    verify_decision_id,
)
from .ports import Approvals, ExecutionStatus, TaskCallback

DECISIONS = {"approve": "approved", "reject": "rejected"}
LEASE_SECONDS = 60
CALLBACK_ATTEMPTS = 4
BACKOFF_SECONDS = 0.25
CALLBACK_BUDGET_SECONDS = 8.0  # the function has 15 s; the client retries inside each attempt too
RETRYABLE = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerError",
        "InternalServerException",
        "InternalFailure",
        "RequestTimeout",
        "RequestTimeoutException",
        # botocore's connection errors (no response, so the class name is the code)
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionError",
        "ProxyConnectionError",
        "HTTPClientError",
    }
)
NO_LONGER_WAITING = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})

Sleep = Callable[[float], None]


def _refusal(error: LinkError) -> tuple[int, str]:
    status = 410 if isinstance(error, ExpiredLink) else 400
    return status, render_message_page("This link cannot be used", str(error))


def _unknown() -> tuple[int, str]:
    return 404, render_message_page("Unknown decision", "No redrive is waiting for this decision.")


def _decided_by(approval: PendingApproval) -> str:
    return f" by {approval.decided_by}" if approval.decided_by else ""


def ended_status(executions: ExecutionStatus | None, approval: PendingApproval) -> str | None:
    """The execution's status once it is no longer RUNNING; None while it runs, or when it
    cannot be told (no ARN stored, or the lookup failed: then the approval decides alone)."""
    if executions is None or not approval.execution_arn:
        return None
    try:
        status = executions.status(approval.execution_arn)
    except Exception:
        return None
    return None if status == "RUNNING" else status


def _ended_page(status: str, approval: PendingApproval) -> tuple[int, str]:
    message = f"This run has ended ({status}); nothing more will happen."
    if approval.status in ("approved", "rejected"):
        message += f" The redrive was {approval.status}{_decided_by(approval)}."
    return 410, render_message_page("This run has ended", message)


def _no_longer_waiting(reason: str) -> tuple[int, str]:
    return 410, render_message_page(
        "The run is no longer waiting",
        f"The run is no longer waiting for a decision ({reason}); nothing was changed.",
    )


def _not_open_page(approval: PendingApproval, now: float) -> tuple[int, str]:
    """The page for an approval that cannot be decided now (and whose run is not known to have ended)."""
    if approval.deciding_now(now):
        return 409, render_message_page(
            "A decision is being recorded",
            "Someone is deciding this redrive right now; nothing was changed. Reload in a minute to see the outcome.",
        )
    if approval.status == "closed":
        return _no_longer_waiting(approval.closed_reason or "closed")
    return 409, render_message_page(
        "Already decided",
        f"This redrive was already decided ({approval.status}{_decided_by(approval)}); nothing was changed.",
    )


def show_decision_page(
    signed_id: str,
    key: bytes,
    approvals: Approvals,
    now: float | None = None,
    executions: ExecutionStatus | None = None,
) -> tuple[int, str]:
    """GET: the summary and the form; decides nothing (link scanners may fetch it)."""
    at = now if now is not None else time.time()
    try:
        decision_id = verify_decision_id(signed_id, key, at)
    except LinkError as error:
        return _refusal(error)
    approval: PendingApproval | None = approvals.get(decision_id)
    if approval is None:
        return _unknown()
    ended = ended_status(executions, approval)
    if ended is not None:
        return _ended_page(ended, approval)
    if not approval.open_to_decide(at):
        return _not_open_page(approval, at)
    return 200, render_page(approval.summary, signed_id, now)


def send_decision(
    callback: TaskCallback,
    task_token: str,
    output: str,
    sleep: Sleep = time.sleep,
    attempts: int = CALLBACK_ATTEMPTS,
    budget_seconds: float = CALLBACK_BUDGET_SECONDS,
) -> str | None:
    """SendTaskSuccess, retried with backoff on errors a retry can fix. None once
    delivered; otherwise the error code of the last failure."""
    started = time.monotonic()
    for attempt in range(attempts):
        try:
            callback.send_task_success(taskToken=task_token, output=output)
            return None
        except Exception as error:
            code = aws_error_code(error)
            last = attempt == attempts - 1 or time.monotonic() - started > budget_seconds
            if code not in RETRYABLE or last:
                return code
            sleep(BACKOFF_SECONDS * 2**attempt * random.uniform(0.5, 1.0))
    return "NotAttempted"  # attempts < 1


def decide(
    form: dict[str, str],
    key: bytes,
    approvals: Approvals,
    callback: TaskCallback,
    now: float | None = None,
    executions: ExecutionStatus | None = None,
    sleep: Sleep = time.sleep,
    new_lease: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> tuple[int, str]:
    """POST: approve or reject, once; recorded only once the run has the decision."""
    at = now if now is not None else time.time()
    try:
        decision_id = verify_decision_id(form.get("id", ""), key, at)
    except LinkError as error:
        return _refusal(error)
    decision = DECISIONS.get(form.get("decision", ""))
    if decision is None:
        return 400, render_message_page("No decision", "Choose Approve or Reject on the decision page.")
    approval: PendingApproval | None = approvals.get(decision_id)
    if approval is None:
        return _unknown()
    name = (form.get("name") or "").strip()[:100] or "anonymous"
    comment = (form.get("comment") or "").strip()[:1000]

    lease = new_lease()
    if not approval.open_to_decide(at) or not approvals.begin_deciding(
        decision_id, lease, int(at) + LEASE_SECONDS, int(at)
    ):
        current = approvals.get(decision_id) or approval
        ended = ended_status(executions, current)
        return _ended_page(ended, current) if ended is not None else _not_open_page(current, at)

    ended = ended_status(executions, approval)
    if ended is not None:
        approvals.close(decision_id, lease, f"the run ended ({ended})")
        return _ended_page(ended, approval)

    output = json.dumps({"decision": decision, "decidedBy": name, "comment": comment, "decidedAt": int(at)})
    failure = send_decision(callback, approval.task_token, output, sleep)
    if failure in NO_LONGER_WAITING:
        approvals.close(decision_id, lease, failure)
        return _no_longer_waiting(failure)
    if failure is not None:
        approvals.release(decision_id, lease)
        return 503, render_message_page(
            "Decision not recorded",
            f"Step Functions could not be reached ({failure}), so your decision was not recorded and "
            "the run is still waiting. Try again in a moment: this link still works.",
        )

    for attempt in range(2):
        try:
            approvals.record_decision(decision_id, decision, name, comment, int(at))
            break
        except Exception:
            # The run has the decision (and its report will say so); the page must not say
            # otherwise. The lease lapses, and the token, now used, cannot decide again.
            if attempt == 0:
                sleep(BACKOFF_SECONDS)
    verb = "approved: the redrive starts now" if decision == "approved" else "rejected: nothing will be redriven"
    return 200, render_message_page(f"Redrive {decision}", f"Thank you, {name}. The run was {verb}.")


def _form(event: dict[str, Any]) -> dict[str, str]:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body).decode("utf-8", "replace")
        except (ValueError, TypeError):
            body = ""
    if not isinstance(body, str):
        return {}
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def handle_request(
    event: Any,
    *,
    key: bytes,
    approvals: Approvals,
    callback: TaskCallback,
    executions: ExecutionStatus | None = None,
    now: float | None = None,
    sleep: Sleep = time.sleep,
) -> tuple[int, str]:
    """An HTTP API (payload 2.0) request: GET shows the page, POST decides, nothing else."""
    event = event if isinstance(event, dict) else {}
    http = (event.get("requestContext") or {}).get("http") or {}
    method = str(http.get("method", "GET")).upper() if isinstance(http, dict) else "GET"
    if method == "GET":
        signed = (event.get("queryStringParameters") or {}).get("id", "")
        return show_decision_page(signed if isinstance(signed, str) else "", key, approvals, now, executions)
    if method == "POST":
        return decide(_form(event), key, approvals, callback, now, executions, sleep)
    return 405, render_message_page("Not allowed", "Open the link from the email.")
