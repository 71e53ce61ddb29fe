"""The strict local stack: every place where it refuses what AWS refuses and moto accepts.

moto is more lenient than AWS (sizes, polling, throttles, history, timeouts, IAM). Where
the product depends on the difference, a rule here makes the local stack at least as strict
as AWS, with the error AWS returns. One module per service; each rule is a function
registered with ``@aws_rule`` (``registry.py``) whose text names the AWS rule, and
``tests/functional/strict`` pins every one of them with a test that shows moto accepting
the call lenient and the rule refusing it strict.

Strict is the default; ``REDRIVE_LOCAL_LENIENT=1`` or ``switch.lenient()`` turns every rule
off at once (``switch.py``).

Installed once per process by :func:`install`, with the workarounds.
"""

from __future__ import annotations

import threading

from . import cloudformation, dynamodb, iam, kinesis, lambda_, s3, sqs, stepfunctions
from .registry import AWS_RULES, AwsRule, aws_rule
from .switch import enabled, lenient, set_lenient

__all__ = [
    "AWS_RULES",
    "AwsRule",
    "aws_rule",
    "cloudformation",
    "dynamodb",
    "enabled",
    "iam",
    "install",
    "kinesis",
    "lambda_",
    "lenient",
    "s3",
    "set_lenient",
    "sqs",
    "stepfunctions",
]

__all__ = [
    "AWS_RULES",
    "AwsRule",
    "aws_rule",
]

_installed = False
_lock = threading.Lock()


def install() -> None:
    """Apply every registered rule (idempotent); each patches its own piece of moto."""
    global _installed
    with _lock:
        if _installed:
            return
        for rule in AWS_RULES.values():
            rule.apply()
        _installed = True
