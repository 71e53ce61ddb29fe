"""Plan: classify every record, apply the rules, and cut the redrive into batches.

Classes: ``transient`` (no rule decided: redriven as it is), ``poison`` (a rule repaired
or discarded it), ``rule-error`` (a rule raised: the record is held back unchanged and
returns to the DLQ, never dropped), ``expired`` (the stream no longer holds it), and for
messages ``unrecognised``. Batches keep one shard's records in sequence order.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from ..rules.base import InvalidRecord, Rule
from ..rules.dynamodb_json import json_to_image
from ..rules.engine import apply_rules, rule_document

SAMPLES_PER_RULE = 3
PREVIEW_CHARS = 300


def json_preview(value: Any) -> str:
    """Compact, key-sorted JSON of a sample, cut to PREVIEW_CHARS: samples travel in plans,
    emails and the approval record (a DynamoDB item), so a large record must not."""
    text = json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


@dataclass
class RunPlan:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    expired: list[dict[str, Any]] = field(default_factory=list)
    message_records: dict[str, list[str]] = field(default_factory=dict)
    batches: list[dict[str, Any]] = field(default_factory=list)
    rules_fired: dict[str, dict[str, Any]] = field(default_factory=dict)
    get_records_calls: int = 0
    oldest_arrival: str | None = None

    def summary(self) -> dict[str, Any]:
        by_class: dict[str, int] = {}
        by_action: dict[str, int] = {}
        for entry in self.records.values():
            by_class[entry["class"]] = by_class.get(entry["class"], 0) + 1
            by_action[entry["action"]] = by_action.get(entry["action"], 0) + 1
        expired = sum(e["count"] for e in self.expired)
        if expired:
            by_class["expired"] = expired
        return {
            "records": len(self.records),
            "expired": expired,
            "byClass": by_class,
            "byAction": by_action,
            "batches": len(self.batches),
            "rules": self.rules_fired,
            "getRecordsCalls": self.get_records_calls,
            "oldestArrival": self.oldest_arrival,
        }

    def lanes(self) -> list[list[str]]:
        """Batch ids per lane (one shard and consumer), in the order they must go."""
        lanes: dict[int, list[str]] = {}
        for batch in self.batches:
            lanes.setdefault(batch["lane"], []).append(batch["batchId"])
        return [lanes[k] for k in sorted(lanes)]

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "expired": self.expired,
            "messageRecords": self.message_records,
            "batches": [b["batchId"] for b in self.batches],
            "lanes": self.lanes(),
            "summary": self.summary(),
        }


def _redriven_form(record: dict[str, Any], new_data: Any) -> dict[str, Any]:
    """The record as it will be redriven: its payload replaced by the repaired data."""
    out = {k: v for k, v in record.items() if k != "failure"}
    if record["source"] == "kinesis":
        out["payload"] = base64.b64encode(json.dumps(new_data, separators=(",", ":")).encode()).decode()
    else:
        if not isinstance(new_data, dict):
            raise TypeError("a repaired DynamoDB record must be a JSON object (it becomes the item's NewImage)")
        out["newImage"] = json_to_image(new_data)
    return out


def _function_for(record: dict[str, Any], override: str | None, default: str | None) -> str | None:
    return override or (record.get("failure") or {}).get("functionArn") or default


def plan_records(
    fetched: list[dict[str, Any]],
    rules: list[Rule],
    target: str,
    batch_size: int,
    function_override: str | None = None,
    default_function: str | None = None,
) -> RunPlan:
    """Decide every fetched record and cut the ones to redrive into batches."""
    plan = RunPlan()
    records: dict[str, dict[str, Any]] = {}
    for group in fetched:
        plan.get_records_calls += int(group.get("getRecordsCalls", 0))
        by_id = {r["recordId"]: r for r in group["records"]}
        for assignment in group["assignments"]:
            ids = list(assignment["recordIds"])
            plan.message_records.setdefault(assignment["messageId"], []).extend(ids)
            failure = (assignment.get("pointer") or {}).get("failure")
            for rid in ids:
                record = dict(by_id[rid])
                if failure and not record.get("failure"):
                    record["failure"] = failure
                records.setdefault(rid, record)
            if assignment.get("expired"):
                plan.expired.append(
                    {
                        "messageId": assignment["messageId"],
                        "pointer": assignment.get("pointer"),
                        "count": int(assignment["expired"]),
                    }
                )

    arrivals = [r["approximateArrival"] for r in records.values() if r.get("approximateArrival")]
    plan.oldest_arrival = min(arrivals) if arrivals else None
    to_redrive: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for rid, record in records.items():
        try:
            document = rule_document(record, record.get("failure") or {})
        except InvalidRecord as error:
            plan.records[rid] = {
                "recordId": rid,
                "class": "invalid-record",
                "action": "hold",
                "rule": None,
                "reason": f"the record cannot be read: {error}",
                "repaired": False,
            }
            continue
        outcome = apply_rules(rules, document)
        entry: dict[str, Any] = {"recordId": rid, "rule": outcome.rule, "reason": outcome.reason, "repaired": False}
        if outcome.outcome == "discard":
            entry.update({"class": "poison", "action": "discard"})
        elif outcome.outcome == "rule-error":
            entry.update({"class": "rule-error", "action": "hold"})
        elif outcome.outcome == "repair":
            try:
                redriven = _redriven_form(record, outcome.data)
            except TypeError as error:
                entry.update({"class": "rule-error", "action": "hold", "reason": str(error)})
            else:
                entry.update({"class": "poison", "action": "redrive", "repaired": True, "data": outcome.data})
                to_redrive.append((record, redriven))
        else:
            entry.update({"class": "transient", "action": "redrive"})
            to_redrive.append((record, {k: v for k, v in record.items() if k != "failure"}))
        if outcome.rule:
            fired = plan.rules_fired.setdefault(
                outcome.rule, {"count": 0, "outcome": outcome.outcome, "reason": outcome.reason, "samples": []}
            )
            fired["count"] += 1
            if len(fired["samples"]) < SAMPLES_PER_RULE:
                before = document.get("data") if document.get("data") is not None else document.get("text")
                sample = {"recordId": rid, "before": json_preview(before)}
                if outcome.outcome == "repair":
                    sample["after"] = json_preview(outcome.data)
                fired["samples"].append(sample)
        plan.records[rid] = entry

    plan.batches = cut_batches(to_redrive, target, batch_size, function_override, default_function)
    for batch in plan.batches:
        for record in batch["records"]:
            plan.records[record["recordId"]]["batchId"] = batch["batchId"]
    return plan


def cut_batches(
    to_redrive: list[tuple[dict[str, Any], dict[str, Any]]],
    target: str,
    batch_size: int,
    function_override: str | None,
    default_function: str | None,
) -> list[dict[str, Any]]:
    """Batches of at most ``batch_size``, one shard each, in sequence order. A shard's
    batches form a lane, redriven one after another, so its records keep their order."""
    lanes: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for original, redriven in to_redrive:
        function = _function_for(original, function_override, default_function) if target == "invoke" else ""
        key = (function or "", original["source"], original.get("streamArn", ""), original.get("shardId", ""))
        lanes.setdefault(key, []).append(redriven)
    batches: list[dict[str, Any]] = []
    for lane, ((function, source, stream_arn, shard_id), members) in enumerate(sorted(lanes.items())):
        members.sort(key=lambda r: int(r["sequenceNumber"]) if str(r.get("sequenceNumber", "")).isdigit() else 0)
        for start in range(0, len(members), batch_size):
            batches.append(
                {
                    "batchId": f"b{len(batches) + 1:05d}",
                    "lane": lane,
                    "target": target,
                    "functionArn": function or None,
                    "source": source,
                    "streamArn": stream_arn,
                    "shardId": shard_id,
                    "records": members[start : start + batch_size],
                }
            )
    return batches
