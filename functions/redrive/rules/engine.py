"""Load a rule list from the run input, and apply it to one record.

Every record gets an outcome: "redrive" (no rule decided, or a rule said keep),
"repair" (redrive ``data`` instead), "discard" (with a reason), or "rule-error" (a rule
failed on this record; it is left unchanged and never dropped). The outcome names the
deciding rule and its reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from redrive.contracts.vocab import RuleVerdict
from redrive.rules.base import Decision, InvalidRule, Rule, RuleConfigError, RuleDocument, RuleEvaluationError
from redrive.rules.document import rule_document
from redrive.rules.json_values import JsonValue, NotJson, checked_json, clone_json
from redrive.rules.jsonata_rule import DEFAULT_MAX_DEPTH, DEFAULT_TIMEOUT_MS, jsonata_rule_from_spec
from redrive.rules.registry import RuleRegistry, python_rule_from_spec

__all__ = ["OUTCOMES", "Outcome", "RuleOutcome", "apply_rules", "load_rules", "rule_document"]

Outcome = RuleVerdict
OUTCOMES: tuple[RuleVerdict, ...] = tuple(RuleVerdict)


@dataclass(frozen=True)
class RuleOutcome:
    """What happens to one record. ``data`` is the new data, and only set, for "repair"."""

    outcome: Outcome
    rule: str | None = None
    reason: str | None = None
    data: JsonValue = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form for plans and reports; ``data`` only appears for "repair"."""
        result: dict[str, Any] = {"outcome": self.outcome, "rule": self.rule, "reason": self.reason}
        if self.outcome == "repair":
            result["data"] = self.data
        return result


def _where(index: int, spec: object) -> str:
    name = (spec.get("name") or spec.get("python")) if isinstance(spec, Mapping) else None
    return f"rules[{index}] ({name!r})" if isinstance(name, str) and name else f"rules[{index}]"


def load_rules(
    specs: Sequence[Mapping[str, Any]] | None,
    *,
    registry: RuleRegistry | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> list[Rule]:
    """Build and check every rule before any record is touched.

    A spec with a ``python`` field is a Python rule, looked up by name in ``registry``
    (fixed at deploy time; None means the built-ins and installed entry points only);
    any other spec is a JSONata rule.
    Raises InvalidRule or UnknownRule; the message starts with ``rules[i] ('name')``.
    ``timeout_ms`` and ``max_depth`` bound each JSONata evaluation.
    """
    if specs is None:
        return []
    if isinstance(specs, str | bytes) or not isinstance(specs, Sequence):
        raise InvalidRule(f"rules must be a list of rule objects, got {type(specs).__name__}")
    registry = registry if registry is not None else RuleRegistry()
    rules: list[Rule] = []
    first_index: dict[str, int] = {}
    for index, spec in enumerate(specs):
        where = _where(index, spec)
        if not isinstance(spec, Mapping):
            raise InvalidRule(f"{where}: a rule must be an object, got {type(spec).__name__}")
        try:
            rule: Rule = (
                python_rule_from_spec(spec, registry)
                if "python" in spec
                else jsonata_rule_from_spec(spec, timeout_ms=timeout_ms, max_depth=max_depth)
            )
        except RuleConfigError as err:
            raise type(err)(f"{where}: {err}") from None
        if rule.name in first_index:
            raise InvalidRule(
                f"{where}: name {rule.name!r} is already used by rules[{first_index[rule.name]}]; names must be unique"
            )
        first_index[rule.name] = index
        rules.append(rule)
    return rules


def _error_reason(err: Exception) -> str:
    if isinstance(err, RuleEvaluationError):
        return str(err)
    return f"{type(err).__name__}: {err}"


def _outcome(rule: Rule, decision: object) -> RuleOutcome:
    if not isinstance(decision, Decision):
        raise RuleEvaluationError(f"returned a {type(decision).__name__}; a rule returns a Decision or None")
    if decision.action == "keep":
        return RuleOutcome(RuleVerdict.REDRIVE, rule=rule.name, reason=decision.reason)
    if decision.action == "discard":
        return RuleOutcome(RuleVerdict.DISCARD, rule=rule.name, reason=decision.reason)
    try:
        data = checked_json(decision.data, "repaired data")
    except NotJson as err:
        raise RuleEvaluationError(f"repaired data is not JSON: {err}") from None
    return RuleOutcome(RuleVerdict.REPAIR, rule=rule.name, reason=decision.reason, data=data)


def _private_copy(document: RuleDocument) -> RuleDocument:
    return cast(RuleDocument, clone_json(cast(JsonValue, document)))


def apply_rules(rules: Sequence[Rule], document: RuleDocument) -> RuleOutcome:
    """The first rule that decides wins; no decision means redrive as is.

    Each rule gets its own copy of ``document``, so a rule that changes it in place
    affects neither later rules nor the caller. A rule that raises (or returns something
    that is not a Decision, or repaired data that is not JSON) ends evaluation with
    outcome "rule-error", that rule's name, and the error as the reason.
    """
    for rule in rules:
        try:
            decision = rule.decide(_private_copy(document))
            if decision is None:
                continue
            return _outcome(rule, decision)
        except Exception as err:
            return RuleOutcome(RuleVerdict.RULE_ERROR, rule=rule.name, reason=_error_reason(err))
    return RuleOutcome(RuleVerdict.REDRIVE)
