"""Human approval that is safe to click from an email.

The email carries one link with an opaque, signed, expiring decision id; the Step
Functions task token never leaves the server (it is stored with the decision). A GET only
shows the decision page; only a POST of the page's form decides, once.

Decision id: ``<payload>.<signature>``, both base64url; the payload is
``{"d": decisionId, "e": expiresAt}`` and the signature an HMAC-SHA256 of it with the
stack's signing key. Tampering or expiry is found before any stored state is read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import time
from datetime import UTC, datetime

from ..contracts.approval import ApprovalSummary


class LinkError(Exception):
    """A decision link that cannot decide anything; the message is safe to show."""


class TamperedLink(LinkError):
    """The decision id was altered or was not signed by this stack."""


class ExpiredLink(LinkError):
    """The decision id is past its expiry."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_decision_id(decision_id: str, expires_at: int, key: bytes) -> str:
    payload = _b64(json.dumps({"d": decision_id, "e": expires_at}, separators=(",", ":")).encode())
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def verify_decision_id(token: str, key: bytes, now: float | None = None) -> str:
    """The decision id inside a signed token; TamperedLink or ExpiredLink otherwise."""
    payload, _, signature = (token or "").partition(".")
    if not payload or not signature:
        raise TamperedLink("This link is not a valid decision link.")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not signature.isascii() or not hmac.compare_digest(expected, signature):
        raise TamperedLink("This link is not a valid decision link.")
    try:
        claims = json.loads(_unb64(payload))
        decision_id, expires_at = str(claims["d"]), int(claims["e"])
    except (ValueError, KeyError, TypeError):
        raise TamperedLink("This link is not a valid decision link.") from None
    if (now if now is not None else time.time()) > expires_at:
        raise ExpiredLink("This decision link has expired; the run was not approved.")
    return decision_id


def expiry_note(summary: ApprovalSummary, now: float | None = None) -> str:
    """How long before the oldest record leaves the stream (the records are in S3)."""
    if not summary.oldest_arrival:
        return "No record depends on the stream any more (all are in the run's S3 data)."
    arrived = datetime.fromisoformat(summary.oldest_arrival).timestamp()
    left = arrived + summary.retention_hours * 3600 - (now if now is not None else time.time())
    if left <= 0:
        return "The oldest record has left the stream already; the run's copy in S3 is what will be redriven."
    hours, minutes = int(left // 3600), int(left % 3600 // 60)
    return (
        f"The oldest record leaves the stream in about {hours} h {minutes} min "
        f"(assuming {summary.retention_hours} h retention); the run already holds a copy in S3."
    )


def summary_lines(summary: ApprovalSummary, now: float | None = None) -> list[str]:
    lines = [
        f"Run: {summary.run_id}",
        f"DLQ: {summary.dlq_url}",
        f"Records fetched: {summary.records}; expired from the stream: {summary.expired}",
        "By class: " + (", ".join(f"{k} {v}" for k, v in sorted(summary.counts_by_class.items())) or "none"),
        "Planned: " + (", ".join(f"{k} {v}" for k, v in sorted(summary.counts_by_action.items())) or "nothing"),
        f"Redrive: {summary.target} at most {summary.rate_per_second:g} records/s, "
        f"concurrency {summary.concurrency}, {summary.batches} batch(es)",
        expiry_note(summary, now),
    ]
    for name, fired in sorted(summary.rules.items()):
        lines.append(f"Rule {name}: {fired.outcome} x{fired.count} {fired.reason or ''}".rstrip())
        for sample in fired.samples:
            after = f" -> {sample.after}" if sample.after is not None else ""
            lines.append(f"    {sample.before}{after}")
    return lines


def render_email(summary: ApprovalSummary, link: str, now: float | None = None) -> tuple[str, str]:
    deadline = datetime.fromtimestamp(summary.deadline, UTC).strftime("%Y-%m-%d %H:%M UTC")
    subject = f"Stream Redrive: approve the redrive of {summary.counts_by_action.get('redrive', 0)} record(s)?"
    body = "\n".join(
        [
            "A redrive is waiting for your decision.",
            "",
            *summary_lines(summary, now),
            "",
            f"Decide here (the page asks you to confirm; opening it decides nothing): {link}",
            f"Without a decision by {deadline} the run is treated as rejected and every message goes back to the DLQ.",
        ]
    )
    return subject[:100], body


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}}
pre{{background:#f4f4f4;padding:1rem;white-space:pre-wrap}}
button{{font-size:1rem;padding:.5rem 1.5rem;margin-right:1rem}}
label{{display:block;margin:.5rem 0}}input,textarea{{width:100%}}</style></head>
<body><h1>{title}</h1>{content}</body></html>"""


def render_page(summary: ApprovalSummary, signed_id: str, now: float | None = None) -> str:
    text = html.escape("\n".join(summary_lines(summary, now)))
    content = f"""<pre id="summary">{text}</pre>
<form method="post" action="decision">
<input type="hidden" name="id" value="{html.escape(signed_id, quote=True)}">
<label>Your name <input name="name" maxlength="100" autocomplete="name"></label>
<label>Comment <textarea name="comment" maxlength="1000" rows="3"></textarea></label>
<button type="submit" name="decision" value="approve" id="approve">Approve</button>
<button type="submit" name="decision" value="reject" id="reject">Reject</button>
</form>"""
    return _PAGE.format(title="Approve this redrive?", content=content)


def render_message_page(title: str, message: str) -> str:
    content = f'<p id="message">{html.escape(message)}</p>'
    return _PAGE.format(title=html.escape(title), content=content)
