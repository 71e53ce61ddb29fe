"""JSON values as plain Python data, and the checks rules' output must pass.

A rule may only hand back data that can be redriven as JSON: dicts with string keys,
lists, strings, finite numbers, booleans and None. Anything else (a set, bytes, NaN, an
object) is refused here with a message that says where it sits in the value.
"""

from __future__ import annotations

import math
from typing import TypeAlias

JsonValue: TypeAlias = "dict[str, JsonValue] | list[JsonValue] | str | int | float | bool | None"


class NotJson(ValueError):
    """A value that should be JSON is not; the message gives its path and type."""


def clone_json(value: JsonValue) -> JsonValue:
    """A deep copy of a JSON value (faster than copy.deepcopy for plain data)."""
    if isinstance(value, dict):
        return {key: clone_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clone_json(item) for item in value]
    return value


def checked_json(value: object, path: str = "$") -> JsonValue:
    """A fresh copy of ``value`` made of plain JSON types only, or NotJson.

    List subclasses (such as the sequences JSONata returns) become plain lists.
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotJson(f"{path} is {value}, which JSON cannot represent")
        return value
    if isinstance(value, dict):
        copied: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotJson(f"{path} has a key of type {type(key).__name__}; JSON keys are strings")
            copied[key] = checked_json(item, f"{path}.{key}")
        return copied
    if isinstance(value, list):
        return [checked_json(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise NotJson(f"{path} is a {type(value).__name__}, which is not a JSON value")
