"""The three test tiers, named by what they may touch (see README: Tests and checks).

Pure Python, so the root conftest can use it without loading anything a unit run must not.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

TESTS_ROOT = Path(__file__).resolve().parent.parent
TIERS = ("unit", "functional", "workflow")

# Folders of tests that are not a tier of their own but are held to a tier's rule: the
# reliability suite (property tests of the core on fakes) may touch what a unit test may.
SUITES = {"reliability": "unit"}

# Modules of the local package that hold no engine: plain models and event shapes.
PURE_LOCAL_MODULES = frozenset(
    {"redrive_local", "redrive_local.scenario", "redrive_local.esm_events", "redrive_local.esm_policy"}
)


def tier_of(path: Path) -> str | None:
    """The tier a test file belongs to: the first folder under ``tests/``, if it is a tier."""
    try:
        first = path.resolve().relative_to(TESTS_ROOT).parts[0]
    except (ValueError, IndexError):
        return None
    return first if first in TIERS else None


def rule_of(path: Path) -> str | None:
    """The tier whose rule a test file is held to: its own tier, or the one its suite rides on."""
    try:
        first = path.resolve().relative_to(TESTS_ROOT).parts[0]
    except (ValueError, IndexError):
        return None
    return first if first in TIERS else SUITES.get(first)


def engine_modules(loaded: Iterable[str]) -> list[str]:
    """The loaded modules a unit run must not hold: moto, and every module of the local
    engine package that is not in :data:`PURE_LOCAL_MODULES` (they start or drive moto)."""
    found = []
    for name in loaded:
        top = name.split(".", 1)[0]
        if top == "moto" or (top == "redrive_local" and name not in PURE_LOCAL_MODULES):
            found.append(name)
    return sorted(found)


class NetworkInUnitTest(RuntimeError):
    """A unit test tried to open a connection: use a fake, or move the test to tests/functional."""


def refuse_connection(*args: Any, **kwargs: Any) -> Any:
    raise NetworkInUnitTest("the unit tier may touch nothing: use a fake, or move the test to tests/functional")


# Folders whose last test checks what every other test there did (each workaround, each strict
# rule pinned by a test that passed): under pytest-xdist they run in one worker, whole.
CHECKED_AS_A_WHOLE = (("functional", "workarounds"), ("functional", "strict"))


def worker_group(path: Path) -> str:
    """The tests that must run in one process under pytest-xdist (``make test`` runs two
    workers): a module's tests together (they share its module-scoped fixtures), and the
    whole of each folder in :data:`CHECKED_AS_A_WHOLE`. ``path``: a test file, absolute or
    relative to the repository (as in a node id)."""
    if not path.is_absolute():
        path = TESTS_ROOT.parent / path
    try:
        parts = path.resolve().relative_to(TESTS_ROOT).parts
    except ValueError:
        return str(path)
    for folder in CHECKED_AS_A_WHOLE:
        if parts[: len(folder)] == folder:
            return "/".join(folder)
    return "/".join(parts)
