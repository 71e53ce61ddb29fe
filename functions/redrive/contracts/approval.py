"""What a person sees to decide, and the pending approval kept in the state table."""

from __future__ import annotations

from typing import Literal

from .base import Contract
from .plan import RuleFired


class ApprovalSummary(Contract):
    run_id: str
    dlq_url: str
    counts_by_class: dict[str, int]
    counts_by_action: dict[str, int]
    records: int
    expired: int
    rules: dict[str, RuleFired]
    target: str
    rate_per_second: float
    concurrency: int
    batches: int
    oldest_arrival: str | None
    retention_hours: int
    deadline: int


ApprovalStatus = Literal["pending", "deciding", "approved", "rejected", "closed"]
"""``pending`` until a POST takes the short ``deciding`` lease; ``approved``/``rejected`` once
Step Functions has taken the decision; ``closed`` when the run was no longer waiting."""


class PendingApproval(Contract):
    status: ApprovalStatus
    task_token: str
    run_id: str
    summary: ApprovalSummary
    execution_arn: str | None = None  # absent on approvals stored before it was kept
    decided_by: str | None = None
    deciding_until: int | None = None
    closed_reason: str | None = None

    def deciding_now(self, now: float) -> bool:
        """A POST holds the lease: another one must not decide meanwhile."""
        return self.status == "deciding" and (self.deciding_until or 0) > now

    def open_to_decide(self, now: float) -> bool:
        """Pending, or left ``deciding`` by a request that crashed (its lease has run out)."""
        return self.status == "pending" or (self.status == "deciding" and not self.deciding_now(now))


class ApprovalRequested(Contract):
    """``approval.json``."""

    requested_at: int
    deadline: int
    subject: str
