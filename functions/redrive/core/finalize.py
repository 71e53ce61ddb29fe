"""Finalize (and release): give every message and record of the run its outcome.

Modes:
- ``complete``: after the redrive. Records are redriven, discarded (archived in S3 with
  rule and reason), expired, or failed; failed ones go back to the DLQ as self-contained
  messages (the record inline, or by S3 reference when large), so a later run does not
  depend on the stream's retention.
- ``dry-run`` / ``rejected``: nothing was redriven; every message returns to the DLQ as
  it was. Records are reported ``planned``.
- ``release``: the run failed or was aborted. Messages none of whose records finished
  return as they were; records of partly finished messages return one by one.

Unrecognised messages always return untouched. A message is finished once all its
records are; nothing is dropped on any path. A run is finalized once: a retried Finalize,
or a Release after a Finalize that got as far as the DLQ, changes nothing more.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..adapters.store import ObjectStore
from ..rules.base import InvalidRecord
from ..rules.engine import rule_document
from .messages import REDRIVE_MARKER

Mode = Literal["complete", "dry-run", "rejected", "release"]
MAX_INLINE_BYTES = 200_000  # SQS allows 256 KiB a message; leave room for the envelope


class MessageSink(Protocol):
    def send(self, body: str, message_attributes: dict[str, Any] | None = None) -> str: ...


@dataclass
class FinalizeResult:
    report: dict[str, Any]
    returned_messages: list[str] = field(default_factory=list)
    requeued_records: list[str] = field(default_factory=list)


def load_messages(store: ObjectStore, prefix: str) -> dict[str, dict[str, Any]]:
    messages: dict[str, dict[str, Any]] = {}
    for key in store.list_keys(f"{prefix}messages/"):
        for message in store.get_json(key):
            messages.setdefault(message["messageId"], message)
    return messages


def load_results(store: ObjectStore, prefix: str) -> dict[str, dict[str, Any]]:
    results = (store.get_json(k) for k in store.list_keys(f"{prefix}results/"))
    return {result["batchId"]: result for result in results}


def load_fetched_records(store: ObjectStore, prefix: str) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    for key in store.list_keys(f"{prefix}fetched/"):
        for record in store.get_json(key)["records"]:
            records.setdefault(record["recordId"], record)
    return records


def requeue_body(record: dict[str, Any], run_id: str, reason: str, store: ObjectStore, prefix: str, bucket: str) -> str:
    """A self-contained DLQ message for a record: inline, or by S3 reference when large.

    Its failure context counts the runs that redrove the record and saw it fail again
    (``redriveAttempts``), so a rule can give up on a record that never gets through."""
    failure = record.get("failure") or {}
    marker: dict[str, Any] = {
        "version": "1",
        "kind": "record",
        "recordId": record["recordId"],
        "runId": run_id,
        "reason": reason,
        "failure": {**failure, "redriveAttempts": int(failure.get("redriveAttempts") or 0) + 1},
        "record": {k: v for k, v in record.items() if k != "failure"},
    }
    body = json.dumps({REDRIVE_MARKER: marker}, separators=(",", ":"))
    if len(body.encode()) <= MAX_INLINE_BYTES:
        return body
    key = f"{prefix}records/{record['recordId'].replace('/', '_')}.json"
    store.put_json(key, marker["record"])
    marker["record"] = None
    marker["recordRef"] = {"bucket": bucket, "key": key}
    return json.dumps({REDRIVE_MARKER: marker}, separators=(",", ":"))


def _outcome(mode: Mode, entry: dict[str, Any], results: dict[str, dict[str, Any]]) -> tuple[str, str | None, bool]:
    """(outcome, reason, finished) of one planned record."""
    action = entry["action"]
    if action == "discard":
        if mode == "complete":
            return "discarded", entry.get("reason"), True
        return ("planned" if mode != "release" else "failed"), entry.get("reason"), False
    if action == "hold":
        if mode == "complete":
            return "failed", f"rule-error: {entry.get('reason')}", True
        return ("planned" if mode != "release" else "failed"), entry.get("reason"), False
    result = results.get(entry.get("batchId") or "")
    if result is not None:
        reason = result["failed"].get(entry["recordId"])
        if reason is None:
            return "redriven", entry.get("reason"), True
        return "failed", reason, True
    if mode == "complete":
        return "failed", "the redrive did not reach this record's batch", True
    return ("planned" if mode in ("dry-run", "rejected") else "failed"), entry.get("reason"), False


def finalize_run(
    *,
    mode: Mode,
    run_id: str,
    prefix: str,
    bucket: str,
    store: ObjectStore,
    dlq: MessageSink,
    error: dict[str, Any] | None = None,
    redrive_settings: dict[str, Any] | None = None,
    approval: dict[str, Any] | None = None,
    now: float | None = None,
) -> FinalizeResult:
    if store.exists(f"{prefix}report.json"):
        earlier = store.get_json(f"{prefix}report.json")
        if earlier.get("completed"):
            return FinalizeResult(report=earlier)
    messages = load_messages(store, prefix)
    manifest = store.get_json(f"{prefix}manifest.json") if store.exists(f"{prefix}manifest.json") else None
    plan = store.get_json(f"{prefix}plan.json") if store.exists(f"{prefix}plan.json") else None
    results = load_results(store, prefix)
    fetched = load_fetched_records(store, prefix)
    kinds = {e["messageId"]: e for e in (manifest or {}).get("messages", [])}
    planned: dict[str, dict[str, Any]] = (plan or {}).get("records", {})
    message_records: dict[str, list[str]] = (plan or {}).get("messageRecords", {})

    report_records = []
    outcomes: dict[str, tuple[str, str | None, bool]] = {}
    for rid, entry in planned.items():
        outcome = _outcome(mode, entry, results)
        outcomes[rid] = outcome
        record = fetched.get(rid, {})
        try:
            document: dict[str, Any] = dict(rule_document(record, record.get("failure") or {}))
        except (InvalidRecord, KeyError):
            document = {}
        final_data = entry.get("data") if entry.get("repaired") else document.get("data")
        report_records.append(
            {
                "recordId": rid,
                "source": record.get("source"),
                "shardId": record.get("shardId"),
                "sequenceNumber": record.get("sequenceNumber"),
                "partitionKey": record.get("partitionKey"),
                "data": final_data,
                "originalData": document.get("data"),
                "text": document.get("text"),
                "class": entry["class"],
                "outcome": outcome[0],
                "repaired": bool(entry.get("repaired")),
                "rule": entry.get("rule"),
                "reason": outcome[1],
                "batchId": entry.get("batchId"),
            }
        )
        if mode == "complete" and outcome[0] == "discarded":
            store.put_json(
                f"{prefix}discarded/{rid.replace('/', '_')}.json",
                {"runId": run_id, "rule": entry.get("rule"), "reason": entry.get("reason"), "record": record},
            )
    for expired in (plan or {}).get("expired", []):
        pointer = expired.get("pointer") or {}
        for _ in range(int(expired["count"])):
            report_records.append(
                {
                    "recordId": None,
                    "source": pointer.get("source"),
                    "shardId": pointer.get("shardId"),
                    "sequenceNumber": None,
                    "partitionKey": None,
                    "data": None,
                    "text": None,
                    "class": "expired",
                    "outcome": "expired",
                    "repaired": False,
                    "rule": None,
                    "reason": "the stream no longer holds this record of the pointer's range",
                    "pointer": pointer,
                    "messageId": expired["messageId"],
                }
            )

    expired_only = {e["messageId"] for e in (plan or {}).get("expired", [])}
    returned: list[str] = []
    requeued: dict[str, str] = {}  # record id -> reason
    for message_id in messages:
        kind = kinds.get(message_id, {}).get("kind", "unrecognised")
        rids = message_records.get(message_id, [])
        finished_any = any(outcomes.get(r, ("", None, False))[2] for r in rids)
        if kind == "unrecognised" or plan is None or not finished_any:
            if mode == "complete" and kind != "unrecognised" and not rids and message_id in expired_only:
                continue  # every record of the pointer expired: the pointer is kept in the report
            returned.append(message_id)
            continue
        for rid in rids:
            record_outcome, reason, finished = outcomes[rid]
            if rid not in requeued and (not finished or record_outcome == "failed"):
                requeued[rid] = reason or record_outcome

    counts = {
        "dlqMessages": len(messages),
        "pointers": sum(
            1 for e in kinds.values() if e["kind"] in ("kinesis-pointer", "dynamodb-pointer", "s3-destination")
        ),
        "recordsFetched": len(planned),
        "expired": sum(1 for r in report_records if r["outcome"] == "expired"),
        "repaired": sum(1 for r in report_records if r["repaired"]),
        "discarded": sum(1 for r in report_records if r["outcome"] == "discarded"),
        "redriven": sum(1 for r in report_records if r["outcome"] == "redriven"),
        "failed": sum(1 for r in report_records if r["outcome"] == "failed"),
        "planned": sum(1 for r in report_records if r["outcome"] == "planned"),
        "unrecognised": sum(1 for e in kinds.values() if e["kind"] == "unrecognised"),
        "returnedMessages": len(returned),
        "requeuedRecords": len(requeued),
    }
    sent = [r for r in results.values() if r.get("sent")]
    redrive = None
    if sent:
        started = min(r["startedAt"] for r in sent)
        finished = max(r["finishedAt"] for r in sent)
        delivered = sum(r["records"] for r in sent)
        redrive = {
            "startedAt": started,
            "finishedAt": finished,
            "records": delivered,
            "achievedPerSecond": delivered / (finished - started) if finished > started else None,
        }
    report = {
        "runId": run_id,
        "mode": mode,
        "finishedAt": now or time.time(),
        "error": error,
        "approval": approval,
        "counts": counts,
        "records": report_records,
        "unrecognised": [
            {"messageId": mid, "reason": e.get("reason")} for mid, e in kinds.items() if e["kind"] == "unrecognised"
        ],
        "summary": (plan or {}).get("summary"),
        "redrive": redrive,
        "target": (redrive_settings or {}).get("target"),
        "ratePerSecond": (redrive_settings or {}).get("ratePerSecond"),
        "concurrency": (redrive_settings or {}).get("concurrency"),
        "getRecordsCalls": ((plan or {}).get("summary") or {}).get("getRecordsCalls", 0),
    }
    # The report (with what is about to go back) is durable before the sends, and marked
    # complete after them: a retried or second finalize of the run sends nothing again.
    report["completed"] = False
    store.put_json(f"{prefix}report.json", report)
    for message_id in returned:
        message = messages[message_id]
        dlq.send(message["body"], message.get("messageAttributes"))
    for rid, reason in requeued.items():
        dlq.send(requeue_body(fetched[rid], run_id, reason, store, prefix, bucket))
    report["completed"] = True
    store.put_json(f"{prefix}report.json", report)
    return FinalizeResult(report=report, returned_messages=returned, requeued_records=list(requeued))
