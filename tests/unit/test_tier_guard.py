"""The unit tier's guard: no sockets, and no engine modules among those it may import."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support.tiers import TESTS_ROOT, NetworkInUnitTest, engine_modules, rule_of, tier_of, worker_group


def test_a_unit_test_cannot_open_a_connection() -> None:
    with pytest.raises(NetworkInUnitTest):
        socket.create_connection(("127.0.0.1", 9))
    with socket.socket() as sock, pytest.raises(NetworkInUnitTest):
        sock.connect(("127.0.0.1", 9))


def test_moto_and_the_engine_modules_are_named_but_pure_local_modules_are_not() -> None:
    loaded = ["moto", "moto.core", "redrive_local", "redrive_local.scenario", "redrive_local.engine", "redrive.core"]
    assert engine_modules(loaded) == ["moto", "moto.core", "redrive_local.engine"]


def test_a_test_file_belongs_to_the_tier_of_its_folder(request: pytest.FixtureRequest) -> None:
    assert tier_of(request.path) == "unit"
    assert request.node.get_closest_marker("unit") is not None
    assert tier_of(request.path.parent.parent / "conftest.py") is None


def test_the_reliability_suite_is_held_to_the_unit_rule() -> None:
    suite_file = TESTS_ROOT / "reliability" / "test_classify.py"
    assert tier_of(suite_file) is None
    assert rule_of(suite_file) == "unit"
    assert rule_of(TESTS_ROOT / "functional" / "test_validate.py") == "functional"


def test_a_worker_runs_a_whole_module_or_a_whole_folder_checked_as_one() -> None:
    """Under pytest-xdist: a module's tests share its fixtures; the workaround and strict-rule
    folders end with a check of what every test there pinned, so each goes to one worker."""
    workarounds = TESTS_ROOT / "functional" / "workarounds"
    assert worker_group(workarounds / "test_pins.py") == worker_group(workarounds / "test_lambda.py")
    assert worker_group(workarounds / "test_pins.py") == "functional/workarounds"
    assert worker_group(TESTS_ROOT / "functional" / "strict" / "test_sqs.py") == "functional/strict"
    module = worker_group(TESTS_ROOT / "workflow" / "test_faults.py")
    assert module == "workflow/test_faults.py"
    assert worker_group(Path("tests/workflow/test_faults.py")) == module, "a node id's path, relative to the repository"
    assert worker_group(TESTS_ROOT / "functional" / "test_strict_cli.py") == "functional/test_strict_cli.py"
