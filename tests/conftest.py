"""What every tier needs: tier markers by folder, and the unit tier's guard.

Fixtures on the local stack live in :mod:`tests.support.stack`, which only the functional
and workflow conftest files load, so a unit run never imports moto.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.tiers import engine_modules, rule_of, tier_of, worker_group


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tier, and guard the unit tier. This runs before ``-m`` and
    ``-k`` deselect anything, so the guard sees what was collected, not what was selected:
    a run that collected unit tests alone must not have loaded the local engine (or moto)."""
    tiers = {rule_of(item.path) for item in items}  # the reliability suite is held to the unit rule
    for item in items:
        tier = tier_of(item.path)
        if tier is not None:
            item.add_marker(getattr(pytest.mark, tier))
    loaded = engine_modules(sys.modules) if tiers == {"unit"} else []
    if loaded:
        shown = ", ".join(loaded[:5]) + (", ..." if len(loaded) > 5 else "")
        raise pytest.UsageError(
            f"the unit tier may touch nothing, but collecting it loaded {shown}: keep that import out of "
            "tests/unit and tests/conftest.py, or move the test to tests/functional"
        )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under pytest-xdist (``make test`` runs two workers), whole groups go to one worker: a
    module (its module-scoped fixtures), or a folder whose last test checks every other one
    there (see ``worker_group``). xdist's own ``loadgroup`` cannot do it with this pytest: it
    renames ``item._nodeid``, which pytest 9 no longer reads."""
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkerGroup(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(Path(nodeid.split("::", 1)[0]))

    return ByWorkerGroup(config, log)


def __getattr__(name: str) -> Any:
    """The fixture types moved to tests.support.stack; modules that still import them from
    here get them from there (only the functional and workflow tiers do)."""
    if name in ("Deploy", "PythonFunction", "WaitExecution"):
        from tests.support import stack

        return getattr(stack, name)
    raise AttributeError(name)
