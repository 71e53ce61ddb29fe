"""The unit tier's import guard, run as pytest runs it: it passes on tests/unit as it is,
and stops the run when something loads moto while only unit tests are collected."""

from __future__ import annotations

import subprocess
import sys

import pytest

from redrive_local.engine import REPO_ROOT


def collect_unit(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/unit", "--collect-only", "-q", "-p", "no:cacheprovider", *options],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_collecting_the_unit_tier_loads_no_engine_module() -> None:
    result = collect_unit()
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_guard_stops_a_unit_run_that_loaded_moto() -> None:
    result = collect_unit("-p", "moto")  # a plugin import stands in for a unit test importing moto
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "the unit tier may touch nothing" in result.stderr
    assert "moto" in result.stderr
