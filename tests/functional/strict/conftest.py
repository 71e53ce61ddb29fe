"""The record of which strict rule each passing test pins (``@pytest.mark.aws_rule(name)``),
read by ``test_rules_pinned.py``."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

RULES_PINNED_BY_PASSING_TESTS = pytest.StashKey[dict[str, list[str]]]()
"""Strict rule name -> node ids of the tests marked as pinning it that passed."""

RULES_CHECK = "test_every_strict_rule_is_pinned_by_a_test_that_passed"


def rules_of(item: pytest.Item) -> list[str]:
    return [str(name) for marker in item.iter_markers("aws_rule") for name in marker.args]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.when == "call" and report.passed:
        passed = item.config.stash.setdefault(RULES_PINNED_BY_PASSING_TESTS, {})
        for name in rules_of(item):
            passed.setdefault(name, []).append(item.nodeid)
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The check runs after every other test, so it sees what they pinned."""
    checks = [item for item in items if item.name == RULES_CHECK]
    for check in checks:
        items.remove(check)
        items.append(check)
