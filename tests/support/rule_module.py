"""A rule module as a deployment lists it (template parameter RuleModules).

Importable by the functions on the local stack, which run in the test process.
"""

from __future__ import annotations

from redrive.rules.base import Decision, RuleDocument


def drop_test_orders(document: RuleDocument) -> Decision | None:
    data = document["data"]
    if isinstance(data, dict) and data.get("type") == "test":
        return Decision.discard("a test order, dropped by a registered Python rule")
    return None


STREAM_REDRIVE_RULES = {"drop-test-orders": drop_test_orders}
