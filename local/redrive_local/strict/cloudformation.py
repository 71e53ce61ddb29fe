"""CloudFormation as strict as AWS where moto accepts more."""

from __future__ import annotations

import json
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend

from .registry import aws_rule
from .switch import enabled


class UnsupportedRuleFunction(Exception):
    """A template's Rules use a function this evaluator does not know (add it here)."""


def _parse(template: str) -> dict[str, Any]:
    try:
        parsed = json.loads(template)
    except json.JSONDecodeError:
        from samtranslator.yaml_helper import yaml_parse

        parsed = yaml_parse(template)
    return parsed if isinstance(parsed, dict) else {}


def _value(node: Any, parameters: dict[str, str]) -> Any:
    """A rule function's value: Ref to a parameter, a list, or a literal, as CloudFormation reads it."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return parameters.get(node["Ref"], "")
        return _holds(node, parameters)
    if isinstance(node, list):
        return [_value(item, parameters) for item in node]
    return node


def _holds(expression: Any, parameters: dict[str, str]) -> bool:
    if isinstance(expression, bool):
        return expression
    if not isinstance(expression, dict) or len(expression) != 1:
        raise UnsupportedRuleFunction(f"not a rule function: {expression!r}")
    ((function, args),) = expression.items()
    if function == "Fn::Equals":
        return str(_value(args[0], parameters)) == str(_value(args[1], parameters))
    if function == "Fn::Not":
        return not _holds(args[0], parameters)
    if function == "Fn::And":
        return all(_holds(arg, parameters) for arg in args)
    if function == "Fn::Or":
        return any(_holds(arg, parameters) for arg in args)
    if function == "Fn::Contains":
        return str(_value(args[1], parameters)) in [str(item) for item in _value(args[0], parameters)]
    raise UnsupportedRuleFunction(f"rule function {function} is not evaluated locally")


def failed_assertions(template: dict[str, Any], given: dict[str, str]) -> list[str]:
    """The AssertDescription of every assertion that fails, for the given parameter values
    (the template's defaults for the others), rules whose RuleCondition is false skipped."""
    parameters = {
        name: str(declared.get("Default", ""))
        for name, declared in (template.get("Parameters") or {}).items()
        if isinstance(declared, dict)
    }
    parameters.update({name: str(value) for name, value in given.items()})
    failures = []
    for name, rule in (template.get("Rules") or {}).items():
        if "RuleCondition" in rule and not _holds(rule["RuleCondition"], parameters):
            continue
        for assertion in rule.get("Assertions", []):
            if not _holds(assertion["Assert"], parameters):
                failures.append(str(assertion.get("AssertDescription") or f"Assertion for rule {name} failed"))
    return failures


@aws_rule(
    "CreateStack: CloudFormation evaluates the template's Rules against the parameter values and "
    "refuses the stack when an assertion fails (ValidationError, with the AssertDescription)"
)
def _cloudformation_template_rules() -> None:
    """moto ignores a template's Rules section; AWS refuses the stack before creating anything."""
    original = CloudFormationBackend.create_stack

    def create_stack(
        self: CloudFormationBackend, name: str, template: str, parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        if enabled():
            failures = failed_assertions(_parse(template), dict(parameters or {}))
            if failures:
                raise ValidationError(message="; ".join(failures))
        return original(self, name, template, parameters, *args, **kwargs)

    CloudFormationBackend.create_stack = create_stack  # type: ignore[method-assign]
