"""Shared fixtures: the local engine (one per test session) and fresh stacks of template.yaml."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from redrive_local.deploy import DeployedStack, deploy_stack
from redrive_local.engine import ACCOUNT, REGION, REPO_ROOT, LocalEngine, endpoint_session, get_engine

Deploy = Callable[..., DeployedStack]


@pytest.fixture(scope="session")
def engine() -> LocalEngine:
    return get_engine()


@pytest.fixture
def deploy(engine: LocalEngine) -> Deploy:
    """``deploy(ExampleBatchSize="4", ...)`` deploys template.yaml as a new, uniquely named
    stack with those parameters and returns it."""

    def _deploy(**parameters: str) -> DeployedStack:
        name = f"test-{uuid.uuid4().hex[:10]}"
        return deploy_stack(endpoint_session(engine), REPO_ROOT / "template.yaml", name, parameters, REGION, ACCOUNT)

    return _deploy
