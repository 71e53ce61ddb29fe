"""Plan step: fetched records (and records that travelled with their messages) to a plan."""

from __future__ import annotations

from typing import Any

from ..adapters.store import ObjectStore
from ..models import RunConfig
from ..rules.engine import load_rules
from .planning import plan_records


def _resolve_references(store: ObjectStore, group: dict[str, Any]) -> dict[str, Any]:
    """Re-queued records too large for a message are in S3; read them back."""
    records = []
    for record in group["records"]:
        ref = record.get("recordRef")
        if ref:
            loaded = store.get_json(ref["key"])
            record = {
                **loaded,
                "failure": record.get("failure", {}),
                "recordId": record["recordId"],
            }
        records.append(record)
    return {**group, "records": records}


def plan_run(run: RunConfig, store: ObjectStore, default_function: str | None) -> dict[str, Any]:
    fetched = []
    for key in store.list_keys(f"{run.prefix}fetched/"):
        group = store.get_json(key)
        resolved = _resolve_references(store, group)
        if resolved != group:
            store.put_json(key, resolved)  # later steps (finalize, approval) see the record itself
        fetched.append(resolved)
    plan = plan_records(
        fetched,
        load_rules(run.rules),
        target=run.redrive.target,
        batch_size=run.redrive.batch_size,
        function_override=run.redrive.function_name,
        default_function=default_function,
    )
    for batch in plan.batches:
        store.put_json(f"{run.prefix}batches/{batch['batchId']}.json", batch)
    document = plan.to_json()
    store.put_json(f"{run.prefix}plan.json", document)
    summary = document["summary"]
    return {
        "batches": document["batches"],
        "lanes": document["lanes"],
        "records": summary["records"],
        "expired": summary["expired"],
        "byAction": summary["byAction"],
        "getRecordsCalls": summary["getRecordsCalls"],
    }
