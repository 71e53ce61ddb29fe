"""Rehearsal scenarios: what the stream holds, how the consumer is set up, and the run.

A scenario file is JSON (see events/scenarios/). Problems with it are reported as
:class:`ScenarioError` naming the file and the field, before anything starts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ScenarioError(Exception):
    """The scenario file is missing, not JSON, or not a valid scenario."""


# What a scenario file may hold. The first group keeps Python's json module honest (it reads
# NaN, 1e400 and 10**5000 without complaint, or fails deep inside); the second are the AWS
# limits the rehearsal would otherwise hit half-way, on the local stack, as a traceback.

# A scenario is a hand-written rehearsal, not a data dump: 50 MiB is far more than any needs.
MAX_FILE_BYTES = 50 * 1024 * 1024
# Nesting deeper than this is refused with its field named (json would raise RecursionError
# somewhere near 1,000 levels, and the workflow's functions would recurse over it again).
MAX_DEPTH = 64
# Python refuses to convert integers longer than this to or from text (CVE-2020-10735; the
# default of sys.set_int_max_str_digits), so such a number could not even reach the report.
MAX_INTEGER_DIGITS = 4300

# Kinesis: "When the data blob (the payload before base64-encoding) is added to the partition
# key size, the total size must not exceed the maximum record size (1 MiB)" (Kinesis API
# reference, Record). A stream can be raised to 10 MiB; the rehearsal's stream keeps the default.
KINESIS_MAX_RECORD_BYTES = 1024 * 1024
# DynamoDB: "The maximum item size in DynamoDB is 400 KB", counted as the lengths of the
# attribute names and values (DynamoDB developer guide, Constraints and "Item sizes and
# formats"); DynamoDB's KB is 1,024 bytes. The local stack (moto) refuses items over
# 405,000 bytes by its own count, so the rehearsal stops at 400,000: what it takes, AWS takes.
DYNAMODB_MAX_ITEM_BYTES = 400_000
# DynamoDB: a partition key value is 1 to 2,048 bytes (Constraints, "Partition keys and sort keys").
DYNAMODB_MAX_PARTITION_KEY_BYTES = 2048
# DynamoDB: "DynamoDB supports nested attributes up to 32 levels deep" (Constraints, Attributes).
DYNAMODB_MAX_DEPTH = 32
# DynamoDB: a number has up to 38 digits of precision; positive ones lie between 1E-130 and
# 9.9999999999999999999999999999999999999E+125, negative ones likewise (Constraints, Data types).
DYNAMODB_NUMBER_DIGITS = 38
DYNAMODB_NUMBER_EXPONENTS = range(-130, 126)  # of the leading digit, as Decimal.adjusted() counts
# SQS: a message body is 1 character to 1 MiB (1,048,576 bytes), and holds only
# #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF; SQS refuses
# anything else with InvalidMessageContents (SQS API reference, SendMessage, MessageBody).
SQS_MAX_MESSAGE_BYTES = 1024 * 1024
_SQS_REFUSED = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# JSON may spell a lone UTF-16 surrogate ("\ud800"); Python reads it into a str that cannot be
# encoded as UTF-8, so no AWS API (nor the report) could take it.
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Source(_Strict):
    type: Literal["kinesis", "dynamodb"]
    shards: int = Field(default=1, ge=1, le=16)


class Consumer(_Strict):
    batch_size: int = Field(default=10, alias="batchSize", ge=1, le=10000)
    maximum_retry_attempts: int = Field(default=2, alias="maximumRetryAttempts", ge=-1, le=10000)
    bisect_batch_on_function_error: bool = Field(default=True, alias="bisectBatchOnFunctionError")
    report_batch_item_failures: bool = Field(default=False, alias="reportBatchItemFailures")
    maximum_record_age_in_seconds: int = Field(default=-1, alias="maximumRecordAgeInSeconds", ge=-1, le=604800)


class Record(_Strict):
    partition_key: str | None = Field(default=None, alias="partitionKey", min_length=1, max_length=256)
    data: Any = None
    text: str | None = None
    item: dict[str, Any] | None = None


class Scenario(_Strict):
    description: str = ""
    source: Source
    consumer: Consumer = Field(default_factory=Consumer)
    records: list[Record] = Field(min_length=1)
    trim: list[int] = Field(default_factory=list)
    extra_dlq_messages: list[str] = Field(default_factory=list, alias="extraDlqMessages")
    run: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _records_match_source(self) -> Scenario:
        # A ValueError here reaches the user as it is: its text names its field.
        for index, record in enumerate(self.records):
            if self.source.type == "dynamodb":
                if record.item is None:
                    raise ValueError(f"records[{index}]: a DynamoDB scenario record needs 'item'")
                if not isinstance(record.item.get("pk"), str):
                    raise ValueError(f"records[{index}].item: needs a string 'pk' (the table's partition key)")
            else:
                if record.item is not None:
                    raise ValueError(f"records[{index}]: 'item' is for DynamoDB scenarios; use 'data' or 'text'")
                if record.partition_key is None:
                    raise ValueError(f"records[{index}]: needs 'partitionKey'")
                if (record.data is None) == (record.text is None):
                    raise ValueError(f"records[{index}]: give exactly one of 'data' or 'text'")
        for position in self.trim:
            if not 0 <= position < len(self.records):
                raise ValueError(f"trim: {position} is not a record index (0..{len(self.records) - 1})")
        return self

    def template_parameters(self) -> dict[str, str]:
        c = self.consumer
        return {
            "ExampleSourceType": self.source.type,
            "ExampleShardCount": str(self.source.shards),
            "ExampleBatchSize": str(c.batch_size),
            "ExampleMaximumRetryAttempts": str(c.maximum_retry_attempts),
            "ExampleMaximumRecordAgeInSeconds": str(c.maximum_record_age_in_seconds),
            "ExampleBisectBatchOnFunctionError": str(c.bisect_batch_on_function_error).lower(),
            "ExampleReportBatchItemFailures": str(c.report_batch_item_failures).lower(),
        }


@dataclass(frozen=True)
class _Unreadable:
    """Stands in, while parsing, for a JSON number Python cannot hold faithfully."""

    problem: str


def _parse_int(text: str) -> int | _Unreadable:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        return _Unreadable(f"an integer of {digits} digits (at most {MAX_INTEGER_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float | _Unreadable:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        return _Unreadable(f"{_shorten(text)} is too large for a double (it would be read as infinity)")
    if value == 0 and any(c in "123456789" for c in text.lower().split("e")[0]):
        return _Unreadable(f"{_shorten(text)} is too small for a double (it would be read as 0)")
    return value


def _parse_constant(text: str) -> _Unreadable:
    return _Unreadable(f"{text} is not a JSON number (JSON has no NaN or Infinity)")


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}..."


_FIELD_PARTS = 8  # a field deeper than this is named by its first parts and its depth


def _field(path: tuple[str | int, ...]) -> str:
    """``records[0].item.pk``; keys that are not plain names are quoted, so a message stays one line."""
    if not path:
        return "scenario"
    out = ""
    for part in path[:_FIELD_PARTS]:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(_shorten(part))}]"
    if len(path) > _FIELD_PARTS:
        out += f"... ({len(path)} levels down)"
    return out


def _document_problems(value: Any, path: tuple[str | int, ...] = ()) -> str | None:
    """The first thing in the parsed JSON that Python (or any AWS API) cannot take faithfully."""
    if isinstance(value, _Unreadable):
        return f"{_field(path)}: {value.problem}"
    if isinstance(value, str):
        if _SURROGATE.search(value):
            return f"{_field(path)}: holds a lone UTF-16 surrogate, which is not a Unicode character"
        return None
    if isinstance(value, dict | list):
        if len(path) >= MAX_DEPTH:
            return f"{_field(path)}: nests deeper than {MAX_DEPTH} levels"
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            if isinstance(key, str) and _SURROGATE.search(key):
                return f"{_field(path)}: a key holds a lone UTF-16 surrogate, which is not a Unicode character"
            problem = _document_problems(child, (*path, key))
            if problem:
                return problem
    return None


def _dynamodb_number_problem(value: int | float) -> str | None:
    # What the rehearsal sends: ints as they are, floats as json.dumps writes them (it puts
    # items through json.dumps and parse_float=Decimal before boto3's TypeSerializer).
    number = Decimal(value) if isinstance(value, int) else Decimal(json.dumps(value))
    if isinstance(value, int) and len(str(abs(value))) > DYNAMODB_NUMBER_DIGITS:
        # boto3's serializer refuses to round an integer, even when only zeros would go.
        return f"has {len(str(abs(value)))} digits; a DynamoDB number has at most {DYNAMODB_NUMBER_DIGITS}"
    if len(number.normalize().as_tuple().digits) > DYNAMODB_NUMBER_DIGITS:
        return f"has more than {DYNAMODB_NUMBER_DIGITS} significant digits, DynamoDB's limit"
    if number != 0 and number.adjusted() not in DYNAMODB_NUMBER_EXPONENTS:
        return f"{_shorten(str(value))} is outside DynamoDB's number range (1E-130 to 9.99...E+125)"
    return None


def _dynamodb_value(value: Any, path: tuple[str | int, ...], depth: int) -> tuple[int, str | None]:
    """The value's size as DynamoDB counts it, and its first problem."""
    if isinstance(value, bool) or value is None:
        return 1, None
    if isinstance(value, int | float):
        # DynamoDB counts about one byte per two significant digits, plus one; we count the
        # number's text (at least as much, and what the local stack counts).
        problem = _dynamodb_number_problem(value)
        return len(json.dumps(value)), problem and f"{_field(path)}: {problem}"
    if isinstance(value, str):
        return len(value.encode("utf-8")), None
    if depth > DYNAMODB_MAX_DEPTH:
        return 0, f"{_field(path)}: nests deeper than {DYNAMODB_MAX_DEPTH} levels, DynamoDB's limit"
    # A list or map costs 3 bytes, and each element 1 more (a map's keys count as names).
    size = 3
    children = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in children:
        child_size, problem = _dynamodb_value(child, (*path, key), depth + 1)
        if problem:
            return size, problem
        size += 1 + child_size + (len(key.encode("utf-8")) if isinstance(key, str) else 0)
    return size, None


def _dynamodb_item_problems(index: int, item: dict[str, Any]) -> str | None:
    where = ("records", index, "item")
    pk = item["pk"]  # a string: the model checked that
    if not pk:
        return f"{_field((*where, 'pk'))}: is empty; DynamoDB refuses an empty partition key"
    if len(pk.encode("utf-8")) > DYNAMODB_MAX_PARTITION_KEY_BYTES:
        return (
            f"{_field((*where, 'pk'))}: is {len(pk.encode('utf-8'))} bytes; "
            f"a DynamoDB partition key is at most {DYNAMODB_MAX_PARTITION_KEY_BYTES}"
        )
    total = 0
    for name, value in item.items():
        if not name:
            return f"{_field(where)}: has an attribute with an empty name; DynamoDB names are 1 character or more"
        size, problem = _dynamodb_value(value, (*where, name), 1)
        if problem:
            return problem
        total += len(name.encode("utf-8")) + size
    if total > DYNAMODB_MAX_ITEM_BYTES:
        return (
            f"{_field(where)}: is about {total:,} bytes; DynamoDB refuses items over 400 KB "
            f"(the rehearsal stops at {DYNAMODB_MAX_ITEM_BYTES:,})"
        )
    return None


def _aws_problems(scenario: Scenario) -> str | None:
    """The first record or message AWS would refuse, so the rehearsal refuses it up front."""
    for index, record in enumerate(scenario.records):
        if scenario.source.type == "dynamodb":
            assert record.item is not None  # the model checked that
            problem = _dynamodb_item_problems(index, record.item)
            if problem:
                return problem
        else:
            # The bytes the rehearsal puts: the text, or the data as json.dumps writes it.
            data = record.text if record.text is not None else json.dumps(record.data)
            size = len(data.encode("utf-8")) + len((record.partition_key or "").encode("utf-8"))
            if size > KINESIS_MAX_RECORD_BYTES:
                field = "text" if record.text is not None else "data"
                return (
                    f"{_field(('records', index, field))}: the record is {size:,} bytes with its partition key; "
                    f"Kinesis refuses records over 1 MiB ({KINESIS_MAX_RECORD_BYTES:,} bytes)"
                )
    for index, body in enumerate(scenario.extra_dlq_messages):
        where = _field(("extraDlqMessages", index))
        if not body:
            return f"{where}: is empty; an SQS message body is at least one character"
        if len(body.encode("utf-8")) > SQS_MAX_MESSAGE_BYTES:
            return (
                f"{where}: is {len(body.encode('utf-8')):,} bytes; "
                f"SQS refuses message bodies over 1 MiB ({SQS_MAX_MESSAGE_BYTES:,} bytes)"
            )
        refused = _SQS_REFUSED.search(body)
        if refused:
            return (
                f"{where}: character U+{ord(refused.group()):04X} at position {refused.start()} "
                "is not one SQS accepts in a message body"
            )
    return None


def _validation_problems(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        if item["type"] == "value_error" and not item["loc"]:
            # The model's own checks: their text starts with the field they are about.
            problems.append(str(item["ctx"]["error"]))
            continue
        where = _field(tuple(item["loc"]))
        message = "is not a known field" if item["type"] == "extra_forbidden" else item["msg"]
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def load_scenario(path: Path) -> Scenario:
    """The scenario in ``path``, or :class:`ScenarioError` naming the file, the field and the problem."""
    if not path.is_file():
        raise ScenarioError(f"{path}: no such scenario file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioError(f"{path}: is {size:,} bytes; a scenario file is at most {MAX_FILE_BYTES:,}")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file (a scenario is UTF-8 JSON)") from None
    except OSError as error:
        raise ScenarioError(f"{path}: cannot be read: {error.strerror or error}") from None
    try:
        raw = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except json.JSONDecodeError as error:
        raise ScenarioError(f"{path}: not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise ScenarioError(f"{path}: scenario: nests deeper than {MAX_DEPTH} levels") from None
    problem = _document_problems(raw)
    if problem:
        raise ScenarioError(f"{path}: {problem}")
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as error:
        raise ScenarioError(f"{path}: {_validation_problems(error)}") from None
    problem = _aws_problems(scenario)
    if problem:
        raise ScenarioError(f"{path}: {problem}")
    return scenario
