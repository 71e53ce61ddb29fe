"""Functional tier: pieces of the local stack on moto, no network beyond it."""

from __future__ import annotations

from tests.support.stack import deploy, engine, lambda_role_arn, python_function, wait_execution

__all__ = ["deploy", "engine", "lambda_role_arn", "python_function", "wait_execution"]
