"""Request approval: store the task token server side and email the operators a link.

Invoked by the state machine with ``lambda:invoke.waitForTaskToken``.
"""

from __future__ import annotations

import time
from typing import Any

from ..contracts.steps import RequestApprovalEvent
from ..core.approval_request import request_approval
from ..core.ports import Adapters
from ..observability import logger, observed
from ..settings import RequestApprovalSettings
from .wiring import adapters_or_aws


@observed
def handler(event: dict[str, Any], context: Any, adapters: Adapters | None = None) -> dict[str, Any]:
    ports = adapters_or_aws(adapters)
    settings = RequestApprovalSettings.from_env()
    step = RequestApprovalEvent.parse(event)
    run = step.run
    requested = request_approval(
        run,
        step.task_token,
        data=ports.run_data(run.bucket, run.run_id),
        approvals=ports.approvals(settings.state_table),
        notifier=ports.notifier(settings.topic_arn),
        signing_key=ports.signing_key(settings.approval_secret_arn),
        approval_url=settings.approval_url,
        now=int(time.time()),
    )
    logger.info("approval requested", extra={"deadline": requested.deadline})
    return {"requested": True}
