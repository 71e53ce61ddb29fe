"""Fixtures shared by the workaround tests, and the record of which workaround each passing
test pins (``@pytest.mark.pins(name, ...)``), read by ``test_pins.py``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from redrive_local.engine import LocalEngine
from tests.support.stack import PythonFunction

PINNED_BY_PASSING_TESTS = pytest.StashKey[dict[str, list[str]]]()
"""Workaround or local model name -> node ids of the tests marked as pinning it that passed."""

PINS_CHECK = "test_every_workaround_is_pinned_by_a_test_that_passed"


def pins_of(item: pytest.Item) -> list[str]:
    return [str(name) for marker in item.iter_markers("pins") for name in marker.args]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.when == "call" and report.passed:
        passed = item.config.stash.setdefault(PINNED_BY_PASSING_TESTS, {})
        for name in pins_of(item):
            passed.setdefault(name, []).append(item.nodeid)
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The pins check runs after every other test, so it sees what they pinned."""
    checks = [item for item in items if item.name == PINS_CHECK]
    for check in checks:
        items.remove(check)
        items.append(check)


@pytest.fixture
def rules(engine: LocalEngine) -> Iterator[Callable[..., str]]:
    """``rule(pattern, targets)`` puts a rule on the default bus; removed after the test."""
    events = engine.client("events")
    made: list[tuple[str, list[str]]] = []

    def _rule(pattern: dict[str, Any], targets: list[dict[str, Any]]) -> str:
        name = f"wa-{uuid.uuid4().hex[:8]}"
        events.put_rule(Name=name, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, Targets=targets)
        made.append((name, [t["Id"] for t in targets]))
        return name

    yield _rule
    for name, ids in made:
        events.remove_targets(Rule=name, Ids=ids)
        events.delete_rule(Name=name)


PROBE = """
    import os

    class ProbeError(Exception):
        pass

    def handler(event, context):
        if event.get("fail"):
            raise ProbeError("asked to fail")
        return {"pid": os.getpid(), "seen": event}
"""


@pytest.fixture(scope="module")
def probe(python_function: PythonFunction) -> str:
    return python_function(PROBE)
