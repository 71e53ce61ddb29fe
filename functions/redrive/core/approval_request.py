"""Request approval: store the task token server side and email the operators a link.

The execution waits (``lambda:invoke.waitForTaskToken``) until the decision page's POST
calls SendTaskSuccess, or the task times out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from ..contracts.approval import ApprovalRequested, ApprovalSummary
from ..contracts.run import RunConfig
from ..errors import NoConfirmedSubscriber
from .approval import render_email, sign_decision_id
from .ports import Approvals, Notifier
from .run_data import RunData

RETENTION_HOURS = 24  # Kinesis default and DynamoDB Streams' fixed retention


def approval_summary(run: RunConfig, data: RunData, deadline: int) -> ApprovalSummary:
    plan = data.plan()
    if plan is None:
        raise ValueError(f"run {run.run_id} has no plan to approve")
    summary = plan.summary
    return ApprovalSummary(
        run_id=run.run_id,
        dlq_url=run.dlq_url,
        counts_by_class=summary.by_class,
        counts_by_action=summary.by_action,
        records=summary.records,
        expired=summary.expired,
        rules=summary.rules,
        target=run.redrive.target,
        rate_per_second=run.redrive.rate_per_second,
        concurrency=run.redrive.concurrency,
        batches=summary.batches,
        oldest_arrival=summary.oldest_arrival,
        retention_hours=RETENTION_HOURS,
        deadline=deadline,
    )


def request_approval(
    run: RunConfig,
    task_token: str,
    *,
    data: RunData,
    approvals: Approvals,
    notifier: Notifier,
    signing_key: bytes,
    approval_url: str,
    now: int,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> ApprovalRequested:
    """Refuses (NoConfirmedSubscriber) before storing anything when the topic has no
    confirmed subscription: the run then fails through Release, every message back in the DLQ,
    instead of waiting for a decision no one can make until the approval times out."""
    if notifier.confirmed_subscribers() < 1:
        raise NoConfirmedSubscriber(notifier.topic_arn)
    deadline = now + run.approval.timeout_seconds
    summary = approval_summary(run, data, deadline)
    decision_id = new_id()
    approvals.put_request(decision_id, task_token, run.run_id, summary.to_json(), deadline, run.execution_arn)
    link = f"{approval_url}?id={sign_decision_id(decision_id, deadline, signing_key)}"
    subject, body = render_email(summary, link)
    notifier.publish(subject, body)
    requested = ApprovalRequested(requested_at=now, deadline=deadline, subject=subject)
    data.put(data.paths.approval, requested)
    return requested
