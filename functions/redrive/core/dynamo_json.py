"""Plain JSON to DynamoDB's attribute-value JSON (what a stream's NewImage holds)."""

from __future__ import annotations

from typing import Any


def to_attribute_value(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else str(value)
        return {"N": text}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [to_attribute_value(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {str(k): to_attribute_value(v) for k, v in value.items()}}
    raise TypeError(f"{type(value).__name__} has no DynamoDB attribute form")


def to_dynamodb_image(data: Any) -> dict[str, Any]:
    """An item image from a JSON object (a repaired DynamoDB record's data)."""
    if not isinstance(data, dict):
        raise TypeError("a DynamoDB item image must be a JSON object")
    return {str(k): to_attribute_value(v) for k, v in data.items()}
