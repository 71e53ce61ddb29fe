"""Repair / discard rules: the protocol, the JSONata and Python rule kinds, and the engine.

Typical use::

    rules = load_rules(run_input["rules"])          # InvalidRule / UnknownRule, before any record
    outcome = apply_rules(rules, rule_document(record, failure))
"""

from redrive.rules.base import (
    Decision,
    InvalidRecord,
    InvalidRule,
    Rule,
    RuleConfigError,
    RuleDocument,
    RuleEvaluationError,
    UnknownRule,
)
from redrive.rules.engine import RuleOutcome, apply_rules, load_rules, rule_document

__all__ = [
    "Decision",
    "InvalidRecord",
    "InvalidRule",
    "Rule",
    "RuleConfigError",
    "RuleDocument",
    "RuleEvaluationError",
    "RuleOutcome",
    "UnknownRule",
    "apply_rules",
    "load_rules",
    "rule_document",
]
