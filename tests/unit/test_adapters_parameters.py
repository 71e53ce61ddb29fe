"""The run defaults from SSM Parameter Store: read once per container, kept for a while."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from redrive.adapters import parameters
from redrive.adapters.parameters import CACHE_SECONDS, SsmRunDefaults


class CountingSsm:
    def __init__(self, value: str) -> None:
        self.value = value
        self.calls: list[str] = []

    def get_parameter(self, Name: str) -> dict[str, Any]:
        self.calls.append(Name)
        return {"Parameter": {"Name": Name, "Value": self.value}}


@pytest.fixture(autouse=True)
def fresh_container() -> Iterator[None]:
    parameters.forget_cached()
    yield
    parameters.forget_cached()


def test_a_warm_container_reads_the_parameter_once() -> None:
    ssm = CountingSsm('{"dryRun": true}')
    now = [100.0]
    for _ in range(3):
        assert SsmRunDefaults(ssm, "/s/run-defaults", clock=lambda: now[0]).get() == '{"dryRun": true}'
        now[0] += 1
    assert ssm.calls == ["/s/run-defaults"]


def test_a_changed_parameter_is_seen_once_the_cache_expires() -> None:
    ssm = CountingSsm("{}")
    now = [0.0]
    source = SsmRunDefaults(ssm, "/s/run-defaults", clock=lambda: now[0])
    assert source.get() == "{}"
    ssm.value = '{"maxMessages": 5}'
    now[0] = CACHE_SECONDS - 1
    assert source.get() == "{}"
    now[0] = CACHE_SECONDS + 1
    assert source.get() == '{"maxMessages": 5}'
    assert len(ssm.calls) == 2
