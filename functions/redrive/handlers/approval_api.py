"""The decision page behind API Gateway (HTTP API, payload format 2.0).

GET /decision?id=... shows the page; POST /decision (the page's form) decides. Neither
the signed id nor the task token is logged.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

from ..adapters import aws
from ..adapters.approvals import ApprovalStore
from ..core.approval import render_message_page
from ..core.decision_page import decide, show_decision_page
from ..settings import Settings
from .signing_key import signing_key

HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


def _form(event: dict[str, Any]) -> dict[str, str]:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    method = (event.get("requestContext") or {}).get("http", {}).get("method", "GET").upper()
    settings = Settings.from_env()
    approvals = ApprovalStore(aws.client("dynamodb"), settings.state_table)
    if method == "GET":
        signed = (event.get("queryStringParameters") or {}).get("id", "")
        status, page = show_decision_page(signed, signing_key(), approvals)
    elif method == "POST":
        status, page = decide(_form(event), signing_key(), approvals, aws.client("stepfunctions"))
    else:
        status, page = 405, render_message_page("Not allowed", "Open the link from the email.")
    return {"statusCode": status, "headers": HEADERS, "body": page}
