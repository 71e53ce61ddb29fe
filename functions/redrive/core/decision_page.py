"""The decision page's logic: GET shows, POST decides once; every refusal is a clear page.

Responses are (status, html). Nothing here logs the signed id or the task token.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

from .approval import (
    ApprovalSummary,
    ExpiredLink,
    LinkError,
    render_message_page,
    render_page,
    verify_decision_id,
)

DECISIONS = {"approve": "approved", "reject": "rejected"}


class Approvals(Protocol):
    def get(self, decision_id: str) -> dict[str, Any] | None: ...
    def mark_decided(self, decision_id: str, decision: str, decided_by: str, comment: str) -> bool: ...


class TaskCallback(Protocol):
    def send_task_success(self, taskToken: str, output: str) -> Any: ...


def _refusal(error: LinkError) -> tuple[int, str]:
    status = 410 if isinstance(error, ExpiredLink) else 400
    return status, render_message_page("This link cannot be used", str(error))


def show_decision_page(signed_id: str, key: bytes, approvals: Approvals, now: float | None = None) -> tuple[int, str]:
    """GET: the summary and the form; decides nothing (link scanners may fetch it)."""
    try:
        decision_id = verify_decision_id(signed_id, key, now)
    except LinkError as error:
        return _refusal(error)
    approval = approvals.get(decision_id)
    if approval is None:
        return 404, render_message_page("Unknown decision", "No redrive is waiting for this decision.")
    if approval["status"] != "pending":
        return 409, render_message_page(
            "Already decided", f"This redrive was already {approval['status']}; nothing was changed."
        )
    return 200, render_page(ApprovalSummary.from_json(approval["summary"]), signed_id, now)


def decide(
    form: dict[str, str],
    key: bytes,
    approvals: Approvals,
    callback: TaskCallback,
    now: float | None = None,
) -> tuple[int, str]:
    """POST: approve or reject, once."""
    try:
        decision_id = verify_decision_id(form.get("id", ""), key, now)
    except LinkError as error:
        return _refusal(error)
    decision = DECISIONS.get(form.get("decision", ""))
    if decision is None:
        return 400, render_message_page("No decision", "Choose Approve or Reject on the decision page.")
    approval = approvals.get(decision_id)
    if approval is None:
        return 404, render_message_page("Unknown decision", "No redrive is waiting for this decision.")
    name = (form.get("name") or "").strip()[:100] or "anonymous"
    comment = (form.get("comment") or "").strip()[:1000]
    if not approvals.mark_decided(decision_id, decision, name, comment):
        return 409, render_message_page(
            "Already decided", "This redrive was already decided; this second answer changed nothing."
        )
    output = {
        "decision": decision,
        "decidedBy": name,
        "comment": comment,
        "decidedAt": int(now if now is not None else time.time()),
    }
    try:
        callback.send_task_success(taskToken=approval["taskToken"], output=json.dumps(output))
    except Exception as error:
        code = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
        return 410, render_message_page(
            "The run is no longer waiting", f"The run ended before this decision arrived ({code}); nothing changed."
        )
    verb = "approved: the redrive starts now" if decision == "approved" else "rejected: nothing will be redriven"
    return 200, render_message_page(f"Redrive {decision}", f"Thank you, {name}. The run was {verb}.")
