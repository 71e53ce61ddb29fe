"""The decision page behind API Gateway (HTTP API, payload format 2.0).

GET /decision?id=... shows the page; POST /decision (the page's form) decides. Neither
the signed id nor the task token is logged.
"""

from __future__ import annotations

from typing import Any

from ..core.decision_page import handle_request
from ..core.ports import Adapters
from ..observability import logger, observed
from ..settings import ApprovalApiSettings
from .wiring import adapters_or_aws

HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


@observed
def handler(event: dict[str, Any], context: Any, adapters: Adapters | None = None) -> dict[str, Any]:
    ports = adapters_or_aws(adapters)
    settings = ApprovalApiSettings.from_env()
    status, page = handle_request(
        event,
        key=ports.signing_key(settings.approval_secret_arn),
        approvals=ports.approvals(settings.state_table),
        callback=ports.task_callback(),
        executions=ports.executions(),
    )
    logger.info("decision page", extra={"status": status})
    return {"statusCode": status, "headers": HEADERS, "body": page}
