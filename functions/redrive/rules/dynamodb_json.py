"""DynamoDB attribute values <-> plain JSON, without boto3.

Stream records carry images as DynamoDB JSON (``{"S": "x"}``, ``{"N": "12"}``, ...).
Rules see plain JSON instead. The mapping:

- S -> string; N -> int when integral, else float (a float keeps ~17 significant digits;
  DynamoDB allows 38); BOOL -> bool; NULL -> null
- M -> object; L -> array
- SS -> array of strings; NS -> array of numbers; B / BS -> base64 string(s)
  (bytes, as boto3 returns them, are base64-encoded; strings are kept as given)

``to_attribute_value`` goes back for repaired data. That direction cannot restore
sets or binary: arrays become L and strings become S.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from redrive.rules.json_values import JsonValue


class InvalidAttributeValue(ValueError):
    """Not a DynamoDB attribute value; the message gives the path."""


def _number(text: object, path: str) -> int | float:
    if not isinstance(text, str):
        raise InvalidAttributeValue(f"{path}: N must be a string, got {type(text).__name__}")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise InvalidAttributeValue(f"{path}: N {text!r} is not a number") from None
    if not number.is_finite():
        raise InvalidAttributeValue(f"{path}: N {text!r} is not a finite number")
    # DynamoDB numbers: at most 38 significant digits, magnitude from 1E-130 to below 1E+126.
    # Refused before any conversion: "1e10000000" would otherwise become a ten-million-digit int.
    if number and not -130 <= number.adjusted() <= 125:
        raise InvalidAttributeValue(f"{path}: N {text[:40]!r} is outside DynamoDB's number range")
    if number == number.to_integral_value():
        return int(number)
    return float(number)


def _binary(value: object, path: str) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, str):
        return value
    raise InvalidAttributeValue(f"{path}: binary must be bytes or a base64 string, got {type(value).__name__}")


def _list(value: object, path: str, kind: str) -> list[object]:
    if not isinstance(value, list):
        raise InvalidAttributeValue(f"{path}: {kind} must be a list, got {type(value).__name__}")
    return value


def _string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidAttributeValue(f"{path}: S must be a string, got {type(value).__name__}")
    return value


def from_attribute_value(attribute: object, path: str = "$") -> JsonValue:
    """One DynamoDB attribute value as plain JSON (see the module docstring for the mapping)."""
    if not isinstance(attribute, Mapping) or len(attribute) != 1:
        raise InvalidAttributeValue(f"{path}: expected an object with exactly one type key, got {attribute!r:.80}")
    ((kind, value),) = attribute.items()
    if kind == "S":
        return _string(value, path)
    if kind == "N":
        return _number(value, path)
    if kind == "BOOL":
        if not isinstance(value, bool):
            raise InvalidAttributeValue(f"{path}: BOOL must be true or false, got {value!r:.40}")
        return value
    if kind == "NULL":
        return None
    if kind == "M":
        return image_to_json(value, path)
    if kind == "L":
        return [from_attribute_value(item, f"{path}[{i}]") for i, item in enumerate(_list(value, path, kind))]
    if kind == "SS":
        return [_string(item, f"{path}[{i}]") for i, item in enumerate(_list(value, path, kind))]
    if kind == "NS":
        return [_number(item, f"{path}[{i}]") for i, item in enumerate(_list(value, path, kind))]
    if kind == "B":
        return _binary(value, path)
    if kind == "BS":
        return [_binary(item, f"{path}[{i}]") for i, item in enumerate(_list(value, path, kind))]
    raise InvalidAttributeValue(f"{path}: unknown DynamoDB type {kind!r}")


def image_to_json(image: object, path: str = "$") -> dict[str, JsonValue]:
    """A DynamoDB item (NewImage, Keys, or an M value) as a plain JSON object."""
    if not isinstance(image, Mapping):
        raise InvalidAttributeValue(f"{path}: expected a map of attribute values, got {type(image).__name__}")
    return {str(name): from_attribute_value(value, f"{path}.{name}") for name, value in image.items()}


def to_attribute_value(value: JsonValue, path: str = "$") -> dict[str, object]:
    """Plain JSON as a DynamoDB attribute value (arrays -> L, objects -> M, numbers -> N)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidAttributeValue(f"{path}: {value} cannot be stored as a DynamoDB number")
        return {"N": str(Decimal(repr(value)))}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [to_attribute_value(item, f"{path}[{i}]") for i, item in enumerate(value)]}
    if isinstance(value, dict):
        return {"M": json_to_image(value, path)}
    raise InvalidAttributeValue(f"{path}: {type(value).__name__} is not a JSON value")


def json_to_image(data: Mapping[str, JsonValue], path: str = "$") -> dict[str, object]:
    """A plain JSON object as a DynamoDB item (the inverse of image_to_json, minus sets and binary)."""
    return {name: to_attribute_value(value, f"{path}.{name}") for name, value in data.items()}
