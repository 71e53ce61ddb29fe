"""The run's data in S3: manifest, fetched records, plan, batches, results, report.

Layout under ``runs/<runId>/``:
``messages/<n>.json`` (DLQ messages, written before they leave the DLQ),
``fetched/<groupId>.json``, ``plan.json``, ``batches/<batchId>.json``,
``results/<batchId>.json``, ``discarded/<recordId>.json``, ``records/<recordId>.json``
(large records sent back to the DLQ by reference), ``report.json``.
"""

from __future__ import annotations

import json
from typing import Any, Protocol


class ObjectStore(Protocol):
    def put_json(self, key: str, value: Any) -> None: ...
    def get_json(self, key: str) -> Any: ...
    def exists(self, key: str) -> bool: ...
    def list_keys(self, prefix: str) -> list[str]: ...


class S3Store:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def put_json(self, key: str, value: Any) -> None:
        body = json.dumps(value, separators=(",", ":"), default=str).encode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def get_json(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
            return True
        except self.s3.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)


class MemoryStore:
    """An in-memory ObjectStore for unit tests."""

    def __init__(self) -> None:
        self.objects: dict[str, str] = {}

    def put_json(self, key: str, value: Any) -> None:
        self.objects[key] = json.dumps(value, default=str)

    def get_json(self, key: str) -> Any:
        return json.loads(self.objects[key])

    def exists(self, key: str) -> bool:
        return key in self.objects

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))
