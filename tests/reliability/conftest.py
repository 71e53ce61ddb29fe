"""Reliability suite: the core's steps, driven with generated DLQs over fakes.

Held to the unit tier's rule (see tests/support/tiers.py: it loads no moto, opens no
connection). Every test here is marked ``reliability``; the suite's figures are written
to ``$REDRIVE_RELIABILITY_SUMMARY`` at the end of the session (see tally.py).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.profiles import LEVEL
from tests.reliability.tally import TALLY
from tests.support.tiers import refuse_connection

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture(autouse=True, scope="package")
def _no_network() -> Iterator[None]:
    # Package scope: Hypothesis refuses function-scoped fixtures around @given tests.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse_connection)
        patch.setattr(socket.socket, "connect_ex", refuse_connection)
        patch.setattr(socket, "create_connection", refuse_connection)
        patch.setattr(socket, "getaddrinfo", refuse_connection)
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    finally:
        if HERE in item.path.resolve().parents:
            TALLY.close_test(expected_to_fail=item.get_closest_marker("xfail") is not None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("REDRIVE_RELIABILITY_SUMMARY")
    if target:
        TALLY.write(Path(target), LEVEL, exitstatus)
