"""S3 as strict as AWS where moto accepts more."""

from __future__ import annotations

from typing import Any

from moto.s3.exceptions import MalformedXML
from moto.s3.models import S3Backend

from .registry import aws_rule
from .switch import enabled

DELETE_OBJECTS_MAX_KEYS = 1000


@aws_rule("DeleteObjects: the request contains a list of up to 1,000 keys (more is refused: MalformedXML)")
def _s3_delete_objects_at_most_1000_keys() -> None:
    """moto deletes any number of keys in one DeleteObjects; AWS refuses the whole request.
    The settle of an S3-sourced run deletes its finished objects in requests of 1,000."""
    original = S3Backend.delete_objects

    def delete_objects(
        self: S3Backend, bucket_name: str, objects: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> Any:
        if enabled() and len(objects) > DELETE_OBJECTS_MAX_KEYS:
            raise MalformedXML()
        return original(self, bucket_name, objects, *args, **kwargs)

    S3Backend.delete_objects = delete_objects  # type: ignore[method-assign]
