"""Declarative rules: ``when`` and ``repair`` are JSONata expressions over the RuleDocument.

Semantics:
- ``when`` must evaluate to true or false. Undefined (e.g. a path to a missing field)
  and null count as false. Any other result (a string, a number, an array of booleans)
  makes the record a rule-error, because a truthy guess could discard good records.
- ``repair`` returns the new ``data``. It must be a JSON value; null is allowed,
  undefined (nothing) is a rule-error.
- Expressions compile when the rule is built, so a bad expression is an InvalidRule
  before any record is touched.

jsonata-python 0.7.1 behaviours this module works around (pinned by
tests/unit/test_rules_jsonata_quirks.py):
- Undefined and null both come back as None by default; output null conversion is
  switched off so the two can be told apart, and nested nulls are converted here.
- The runtime bounds (timeout, depth) start their clock when they are set, not per
  evaluation; they are re-armed before every evaluation. Without a timeout an
  infinitely tail-recursive expression loops for ever.
- ``$now()``, ``$millis()`` and higher-order functions read a thread-local "current
  expression" that the constructor sets, so after compiling several rules they used
  the last one's; the current expression is set before every evaluation.
- A result may be the very object passed in (``repair: "data"``); results are copied.
- Regex literals compile with Python's ``re`` by default, which backtracks: a match can
  take exponential time, and the timeout above cannot interrupt it. They are compiled
  with RE2 instead (``redrive.rules.regex``); a pattern RE2 cannot take is an InvalidRule.
- Some errors are plain Python ones (``$number('abc')`` raises ValueError, ``1/0``
  ZeroDivisionError); every exception from an evaluation becomes a rule-error.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import cast

import jsonata
from jsonata.utils import Utils

from redrive.rules.base import ACTIONS, Action, Decision, InvalidRule, RuleDocument, RuleEvaluationError
from redrive.rules.json_values import NotJson, checked_json
from redrive.rules.regex import UnsupportedRegex, re2_engine

DEFAULT_TIMEOUT_MS = 1000
"""Wall-clock limit for one evaluation of one expression."""

DEFAULT_MAX_DEPTH = 500
"""Evaluation depth limit (a recursive function uses about three levels per call)."""

SPEC_FIELDS = ("name", "when", "action", "repair", "reason", "description")

_UNDEFINED = object()


class CompiledExpression:
    """One JSONata expression, compiled once and evaluated with fresh runtime bounds each time."""

    def __init__(self, source: str, *, timeout_ms: int = DEFAULT_TIMEOUT_MS, max_depth: int = DEFAULT_MAX_DEPTH):
        self.source = source
        self._timeout_ms = timeout_ms
        self._max_depth = max_depth
        self._expression = jsonata.Jsonata(source, re2_engine)
        self._expression.set_output_convert_nulls(False)
        self._lock = threading.Lock()

    def evaluate(self, document: RuleDocument) -> object:
        """The result with JSON nulls as None, or ``_UNDEFINED`` when there is no result."""
        with self._lock:
            self._expression.environment.set_runtime_bounds(self._timeout_ms, self._max_depth)
            jsonata.Jsonata.CURRENT.jsonata = self._expression
            try:
                result = self._expression.evaluate(document)
            finally:
                self._expression.environment.bind("$", None)
        if result is None:
            return _UNDEFINED
        return Utils.convert_nulls(result)


def _compile(field: str, source: str, timeout_ms: int, max_depth: int) -> CompiledExpression:
    try:
        return CompiledExpression(source, timeout_ms=timeout_ms, max_depth=max_depth)
    except UnsupportedRegex as err:
        raise InvalidRule(f"field {field!r}: {err}") from None
    except Exception as err:
        code = getattr(err, "error", None)
        position = getattr(err, "location", None)
        where = f" ({code} at character {position})" if code is not None else ""
        raise InvalidRule(f"field {field!r} is not valid JSONata: {err}{where}") from None


def _describe(value: object) -> str:
    if isinstance(value, str):
        kind = "string"
    elif isinstance(value, int | float):
        kind = "number"
    elif isinstance(value, dict):
        kind = "object"
    elif isinstance(value, list):
        kind = "array"
    else:
        return f"a {type(value).__name__}"
    try:
        preview = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        preview = repr(value)
    if len(preview) > 60:
        preview = preview[:57] + "..."
    return f"{kind} {preview}"


class JsonataRule:
    """A rule from the run input: ``when`` decides whether ``action`` applies to a record.

    Raises InvalidRule at construction for an unknown action, a missing or non-compiling
    expression, ``repair`` without action "repair" (or the reverse), or a discard with
    no reason.
    """

    def __init__(
        self,
        name: str,
        when: str,
        action: str,
        repair: str | None = None,
        reason: str | None = None,
        *,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ):
        if not name:
            raise InvalidRule("field 'name' is required (a non-empty string)")
        if not when or not when.strip():
            raise InvalidRule("field 'when' is required: a JSONata expression that evaluates to true or false")
        if action not in ACTIONS:
            raise InvalidRule(f"field 'action' is {action!r}; use one of {', '.join(ACTIONS)}")
        if action == "repair" and not (repair and repair.strip()):
            raise InvalidRule(
                "field 'repair' is required when action is 'repair': a JSONata expression for the new data"
            )
        if action != "repair" and repair is not None:
            raise InvalidRule(f"field 'repair' is only used with action 'repair', and this rule's action is {action!r}")
        if action == "discard" and not reason:
            raise InvalidRule(
                "field 'reason' is required when action is 'discard'; discarded records are archived with it"
            )
        self._name = name
        self._action = cast(Action, action)
        self.reason = reason
        self.when = _compile("when", when, timeout_ms, max_depth)
        self.repair = _compile("repair", repair, timeout_ms, max_depth) if repair is not None else None

    @property
    def name(self) -> str:
        return self._name

    @property
    def action(self) -> Action:
        return self._action

    def __repr__(self) -> str:
        return f"JsonataRule(name={self._name!r}, action={self._action!r}, when={self.when.source!r})"

    def _evaluate(self, field: str, expression: CompiledExpression, document: RuleDocument) -> object:
        try:
            return expression.evaluate(document)
        except Exception as err:
            raise RuleEvaluationError(f"{field!r} failed: {type(err).__name__}: {err}") from err

    def decide(self, document: RuleDocument) -> Decision | None:
        matched = self._evaluate("when", self.when, document)
        if matched is _UNDEFINED or matched is None:
            return None
        if not isinstance(matched, bool):
            raise RuleEvaluationError(f"'when' must evaluate to true or false, got {_describe(matched)}")
        if not matched:
            return None
        if self.repair is None:
            return Decision(self._action, reason=self.reason, rule=self._name)
        new_data = self._evaluate("repair", self.repair, document)
        if new_data is _UNDEFINED:
            raise RuleEvaluationError("'repair' returned nothing (undefined); it must return the new data")
        try:
            checked = checked_json(new_data, "repair result")
        except NotJson as err:
            raise RuleEvaluationError(f"'repair' did not return JSON: {err}") from None
        return Decision("repair", reason=self.reason, data=checked, rule=self._name)


def _optional_text(spec: Mapping[str, object], field: str) -> str | None:
    value = spec.get(field)
    if value is not None and not isinstance(value, str):
        raise InvalidRule(f"field {field!r} must be a string, got {type(value).__name__}")
    return value


def jsonata_rule_from_spec(
    spec: Mapping[str, object], *, timeout_ms: int = DEFAULT_TIMEOUT_MS, max_depth: int = DEFAULT_MAX_DEPTH
) -> JsonataRule:
    """A JsonataRule from its run-input form; InvalidRule names the offending field."""
    unknown = sorted(str(key) for key in spec if key not in SPEC_FIELDS)
    if unknown:
        raise InvalidRule(
            f"unknown field(s) {', '.join(map(repr, unknown))}; a JSONata rule has {', '.join(SPEC_FIELDS)}"
        )
    if "action" not in spec:
        raise InvalidRule(f"field 'action' is required; use one of {', '.join(ACTIONS)}")
    _optional_text(spec, "description")
    return JsonataRule(
        name=_optional_text(spec, "name") or "",
        when=_optional_text(spec, "when") or "",
        action=_optional_text(spec, "action") or "",
        repair=_optional_text(spec, "repair"),
        reason=_optional_text(spec, "reason"),
        timeout_ms=timeout_ms,
        max_depth=max_depth,
    )
