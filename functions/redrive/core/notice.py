"""The completion notice operators get by email (SNS): short, plain text."""

from __future__ import annotations

from ..contracts.report import Report
from ..contracts.run import RunConfig

_TITLES = {
    "complete": "finished",
    "dry-run": "dry run finished (nothing redriven)",
    "rejected": "rejected (nothing redriven)",
    "release": "stopped (messages returned to the DLQ)",
}


def completion_notice(run: RunConfig, report: Report) -> tuple[str, str]:
    counts = report.counts
    title = _TITLES.get(report.mode, report.mode)
    subject = f"Stream Redrive {run.run_id[:40]}: {title}"
    lines = [
        f"Run {run.run_id} on {run.source_label}",
        f"Outcome: {title}",
        "",
        f"{'S3 objects read' if run.source else 'DLQ messages collected'}: {counts.dlq_messages} "
        f"({counts.unrecognised} unrecognised, returned untouched)",
        f"Records fetched: {counts.records_fetched}; expired from the stream: {counts.expired}",
        f"Redriven: {counts.redriven} (repaired: {counts.repaired}) to {run.redrive.target}",
        f"Discarded (archived with reasons): {counts.discarded}",
        f"Failed again (back in the DLQ as self-contained messages): {counts.failed}",
        f"Planned only: {counts.planned}; messages returned as they were: {counts.returned_messages}",
    ]
    approval = report.approval or {}
    if approval.get("decision"):
        who = f" by {approval['decidedBy']}" if approval.get("decidedBy") else ""
        why = f": {approval['comment']}" if approval.get("comment") else ""
        lines += ["", f"Approval: {approval['decision']}{who}{why}"]
    if report.error:
        lines += ["", f"Error: {report.error}"]
    lines += ["", f"Report: s3://{run.bucket}/{run.paths.report}"]
    return subject, "\n".join(lines)
