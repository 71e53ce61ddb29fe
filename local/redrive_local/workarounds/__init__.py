"""Every place where the local stack corrects or extends moto, one module per service.

Each workaround is a function registered with ``@workaround`` (``registry.py``) whose
docstring names the moto behaviour it works around; each local CloudFormation model is
registered with ``@local_model``. ``tests/functional/workarounds`` pins every one of them
(a test marked ``@pytest.mark.pins(name)``), so an upgrade of moto that fixes (or changes) a
behaviour shows up as a failing test there rather than as a mystery elsewhere.

- ``config``: moto's flags (execute state machines, no Docker, no S3 code check).
- ``lambda_``: in-process invoke, the simple backend running functions, moto's stream
  delivery off, environment values as strings.
- ``eventbridge``: Step Functions and Lambda targets, ISO-8601 event times.
- ``stepfunctions``: unnamed and stopped executions, status change events, state machines
  from CloudFormation that run, with DefinitionSubstitutions, Express Map children as Standard.
- ``streams``: DynamoDB stream shards that lose records, Kinesis iterators by stream ARN.
- ``dynamodb``: transactions that back up the items they write, not whole tables.
- ``server``: moto's package folder listed once, not on every request.
- ``cloudformation``: the local models for the types moto lacks, and their registration.

Installed once per process by :func:`install`, before moto's server handles a request.
"""

from __future__ import annotations

import threading

from . import cloudformation, config, dynamodb, eventbridge, lambda_, server, stepfunctions, streams
from .eventbridge import event_with_iso_time
from .lambda_ import LambdaInvoker, set_lambda_invoker
from .registry import LOCAL_MODELS, WORKAROUNDS
from .stepfunctions import apply_definition_substitutions, express_children_as_standard

__all__ = [
    "LOCAL_MODELS",
    "WORKAROUNDS",
    "LambdaInvoker",
    "apply_definition_substitutions",
    "cloudformation",
    "config",
    "dynamodb",
    "event_with_iso_time",
    "eventbridge",
    "express_children_as_standard",
    "install",
    "lambda_",
    "server",
    "set_lambda_invoker",
    "stepfunctions",
    "streams",
]

_installed = False
_lock = threading.Lock()


def install() -> None:
    """Apply every registered workaround (idempotent). Each patches its own piece of moto,
    so the order does not matter."""
    global _installed
    with _lock:
        if _installed:
            return
        for apply in WORKAROUNDS.values():
            apply()
        _installed = True
