"""What the strict package holds: every rule by which the local stack refuses what AWS
refuses and moto accepts, recorded by name as each module defines it.

A rule is a function that patches one piece of moto once; the patch itself asks
:func:`~redrive_local.strict.switch.enabled` on every call, so a test (or ``--lenient``)
can compare the two behaviours in one process. ``install()`` applies exactly
``AWS_RULES``, and ``tests/functional/strict`` checks that each is pinned by a test that
passed (``@pytest.mark.aws_rule(name)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Apply = Callable[[], None]


@dataclass(frozen=True)
class AwsRule:
    name: str
    rule: str  # the AWS rule, as AWS documents it
    apply: Apply


AWS_RULES: dict[str, AwsRule] = {}


class DuplicateRuleError(Exception):
    """Two strict rules share a name: rename one, since tests pin by name."""


def aws_rule(rule: str) -> Callable[[Apply], Apply]:
    """Record the decorated function as the strict rule ``rule`` (AWS's words) for install."""

    def register(apply: Apply) -> Apply:
        if apply.__name__ in AWS_RULES:
            raise DuplicateRuleError(f"a strict rule named {apply.__name__} is already registered")
        AWS_RULES[apply.__name__] = AwsRule(apply.__name__, rule, apply)
        return apply

    return register
