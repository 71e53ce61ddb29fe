"""The completion notice operators get by email (SNS): short, plain text."""

from __future__ import annotations

from typing import Any

from ..models import RunConfig

_TITLES = {
    "complete": "finished",
    "dry-run": "dry run finished (nothing redriven)",
    "rejected": "rejected (nothing redriven)",
    "release": "stopped (messages returned to the DLQ)",
}


def completion_notice(run: RunConfig, report: dict[str, Any]) -> tuple[str, str]:
    counts = report["counts"]
    subject = f"Stream Redrive {run.run_id[:40]}: {_TITLES.get(report['mode'], report['mode'])}"
    lines = [
        f"Run {run.run_id} on {run.dlq_url}",
        f"Outcome: {_TITLES.get(report['mode'], report['mode'])}",
        "",
        f"DLQ messages collected: {counts['dlqMessages']} ({counts['unrecognised']} unrecognised, returned untouched)",
        f"Records fetched: {counts['recordsFetched']}; expired from the stream: {counts['expired']}",
        f"Redriven: {counts['redriven']} (repaired: {counts['repaired']}) to {run.redrive.target}",
        f"Discarded (archived with reasons): {counts['discarded']}",
        f"Failed again (back in the DLQ as self-contained messages): {counts['failed']}",
        f"Planned only: {counts['planned']}; messages returned as they were: {counts['returnedMessages']}",
    ]
    approval = report.get("approval") or {}
    if approval.get("decision"):
        who = f" by {approval['decidedBy']}" if approval.get("decidedBy") else ""
        why = f": {approval['comment']}" if approval.get("comment") else ""
        lines += ["", f"Approval: {approval['decision']}{who}{why}"]
    if report.get("error"):
        lines += ["", f"Error: {report['error']}"]
    lines += ["", f"Report: s3://{run.bucket}/{run.prefix}report.json"]
    return subject, "\n".join(lines)
