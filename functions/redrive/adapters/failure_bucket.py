"""An S3 on-failure destination's bucket (the FailureObjects port): the objects an event
source mapping wrote, listed and read for Collect, deleted by the settle once finished."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..contracts.messages import DlqMessage, FailureObject
from ..errors import aws_error_code

DELETE_OBJECTS_MAX_KEYS = 1000  # DeleteObjects takes at most 1,000 keys a request


class FailureBucket:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def list_keys(self, prefix: str, limit: int) -> list[str]:
        keys: list[str] = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            keys.extend(item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/"))
            if len(keys) >= limit:
                break
        return keys[:limit]

    def read(self, key: str) -> DlqMessage | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.ClientError as error:
            if aws_error_code(error) in ("NoSuchKey", "404", "NotFound"):
                return None  # deleted since it was listed: another reader finished it
            raise
        content = response["Body"].read()
        return DlqMessage(
            message_id=key,
            # Lambda writes the record as UTF-8 JSON; anything else is kept (and classified
            # unrecognised) without failing the run, and the object itself stays untouched.
            body=content.decode("utf-8", errors="replace"),
            failure_object=FailureObject(bucket=self.bucket, key=key, etag=str(response.get("ETag", "")) or None),
        )

    def delete(self, keys: Sequence[str]) -> list[str]:
        failed: list[str] = []
        for start in range(0, len(keys), DELETE_OBJECTS_MAX_KEYS):
            chunk = keys[start : start + DELETE_OBJECTS_MAX_KEYS]
            response = self.s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True}
            )
            failed.extend(str(error["Key"]) for error in response.get("Errors", []))
        return failed
