"""Fetch: one shard's pointer ranges read back from the stream into S3."""

from __future__ import annotations

from typing import Any

from ..adapters import aws
from ..adapters.store import S3Store
from ..adapters.streams import ShardRangeReader
from ..core.fetch_groups import assign_records
from ..models import run_config_from_state


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run = run_config_from_state(event["run"])
    store = S3Store(aws.client("s3"), run.bucket)
    group = store.get_json(f"{run.prefix}groups/{event['groupId']}.json")
    client = aws.client("kinesis" if group["source"] == "kinesis" else "dynamodbstreams")
    reader = ShardRangeReader(client, group["source"])
    records: list[dict[str, Any]] = []
    calls = throttled = 0
    trimmed = missing = False
    for part in group["ranges"]:
        read = reader.read_range(group["streamArn"], group["shardId"], part["start"], part["end"])
        records.extend(read.records)
        calls += read.get_records_calls
        throttled += read.throttled
        trimmed = trimmed or read.start_trimmed
        missing = missing or read.stream_missing
    assignments = assign_records(group, records)
    store.put_json(
        f"{run.prefix}fetched/{group['groupId']}.json",
        {
            "groupId": group["groupId"],
            "records": records,
            "assignments": [a.to_json() for a in assignments],
            "getRecordsCalls": calls,
            "throttled": throttled,
        },
    )
    return {
        "groupId": group["groupId"],
        "records": len(records),
        "expired": sum(a.expired for a in assignments),
        "getRecordsCalls": calls,
        "startTrimmed": trimmed,
        "streamMissing": missing,
    }
