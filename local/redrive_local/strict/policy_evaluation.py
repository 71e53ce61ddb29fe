"""IAM's policy evaluation for one identity, on policy documents alone (no moto): the part of
:mod:`.iam` that decides, apart from the part that names callers and resources.

AWS's rule (IAM User Guide, policy evaluation logic): an explicit Deny in any policy wins;
otherwise the request is allowed only if some statement allows it; with neither, it is
implicitly denied. Wildcards in actions (case-insensitive) and resources (case-sensitive):
``*`` any run of characters, ``?`` one character.
"""

from __future__ import annotations

import fnmatch
from typing import Any


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _glob(pattern: str, value: str, case_sensitive: bool) -> bool:
    # IAM wildcards: * any run of characters, ? one character; nothing else is special.
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _statement_applies(statement: dict[str, Any], action: str, resource: str | None) -> bool:
    if "NotAction" in statement:
        if any(_glob(p, action, False) for p in _listed(statement["NotAction"])):
            return False
    elif not any(_glob(p, action, False) for p in _listed(statement.get("Action"))):
        return False
    if resource is not None:
        if "NotResource" in statement:
            if any(_glob(p, resource, True) for p in _listed(statement["NotResource"])):
                return False
        elif not any(_glob(p, resource, True) for p in _listed(statement.get("Resource"))):
            return False
    return True


_CONDITION_OPERATORS = {"StringEquals": False, "StringLike": True}


def _condition_holds(condition: Any, context: dict[str, str]) -> bool:
    """A Condition block with only StringEquals / StringLike on keys the request names
    (``context``: e.g. ``s3:prefix`` of a ListBucket); any other operator, or a key the
    request does not carry, does not hold (the statement then never allows)."""
    if not isinstance(condition, dict):
        return False
    for operator, tests in condition.items():
        if operator not in _CONDITION_OPERATORS or not isinstance(tests, dict):
            return False
        for key, wanted in tests.items():
            value = context.get(str(key))
            if value is None:
                return False
            if _CONDITION_OPERATORS[operator]:
                if not any(_glob(str(w), value, True) for w in _listed(wanted)):
                    return False
            elif value not in [str(w) for w in _listed(wanted)]:
                return False
    return True


def is_allowed(
    policies: list[dict[str, Any]], action: str, resource: str | None, context: dict[str, str] | None = None
) -> bool:
    """AWS's evaluation for one identity: an explicit Deny wins; else an Allow must match.

    ``resource`` None: the call's resource cannot be named locally, so any statement for the
    action counts. A statement with a Condition allows only when the condition holds on the
    request's ``context`` (StringEquals / StringLike only, see :func:`_condition_holds`); it
    denies only when it matches without its condition.
    """
    allowed = False
    for document in policies:
        statements = document.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            # moto's CloudFormation leaves an ``AWS::NoValue`` list item as null, where
            # CloudFormation removes it.
            if not isinstance(statement, dict) or not _statement_applies(statement, action, resource):
                continue
            if statement.get("Effect") == "Deny":
                return False
            if statement.get("Effect") == "Allow" and (
                "Condition" not in statement or _condition_holds(statement["Condition"], context or {})
            ):
                allowed = True
    return allowed
