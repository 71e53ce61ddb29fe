"""Shared fixtures: the local engine (one per test session) and fresh stacks of template.yaml."""

from __future__ import annotations

import json
import os
import textwrap
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from redrive_local.deploy import DeployedStack, deploy_stack
from redrive_local.engine import ACCOUNT, REGION, REPO_ROOT, LocalEngine, endpoint_session, get_engine
from redrive_local.runtime import CODE_BUCKET

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


# --- Lambda functions made from test source, run by the in-process runtime -----------------

PythonFunction = Callable[..., str]

_LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture(scope="session")
def lambda_role_arn(engine: LocalEngine) -> str:
    """An IAM role Lambda (and Step Functions) may assume, for resources tests create."""
    iam = engine.client("iam")
    name = "redrive-tests-role"
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        document = json.dumps(_LAMBDA_TRUST)
        return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=document)["Role"]["Arn"])


@pytest.fixture(scope="session")
def python_function(
    engine: LocalEngine, lambda_role_arn: str, tmp_path_factory: pytest.TempPathFactory
) -> PythonFunction:
    """``python_function(source, env={...})`` creates a function through the Lambda API whose
    code is ``source`` (a module with ``handler(event, context)``) and returns its name.

    Its code is a folder under the session's tmp dir, named like a packaged CodeUri (an S3 key
    relative to the repository), so the in-process runtime runs it as it runs the template's
    functions. Each function gets its own module name."""

    def _create(source: str, env: dict[str, str] | None = None, timeout: int = 30) -> str:
        token = uuid.uuid4().hex[:10]
        folder = tmp_path_factory.mktemp(f"fn-{token}")
        module = f"probe_{token}"
        (folder / f"{module}.py").write_text(textwrap.dedent(source))
        name = f"probe-{token}"
        engine.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=lambda_role_arn,
            Handler=f"{module}.handler",
            Code={"S3Bucket": CODE_BUCKET, "S3Key": os.path.relpath(folder, REPO_ROOT)},
            Environment={"Variables": env or {}},
            Timeout=timeout,
        )
        return name

    return _create


WaitExecution = Callable[..., dict[str, Any]]


@pytest.fixture
def wait_execution(engine: LocalEngine) -> WaitExecution:
    """``wait_execution(arn)`` polls DescribeExecution until the execution is no longer RUNNING."""

    def _wait(execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
        sfn = engine.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return dict(described)
            if time.monotonic() > deadline:
                raise AssertionError(f"execution still RUNNING after {timeout}s: {execution_arn}")
            time.sleep(0.05)

    return _wait
