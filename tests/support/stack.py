"""Fixtures on the local stack (moto server and in-process functions), for the functional
and workflow tiers only: their conftest files import them, the unit tier never does."""

from __future__ import annotations

import json
import os
import textwrap
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from redrive_local.deploy import DeployedStack, deploy_stack
from redrive_local.engine import ACCOUNT, REGION, REPO_ROOT, LocalEngine, endpoint_session, get_engine
from redrive_local.runtime import CODE_BUCKET

from .executions import wait_for_execution

Deploy = Callable[..., DeployedStack]
PythonFunction = Callable[..., str]
WaitExecution = Callable[..., dict[str, Any]]

_LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}

_EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


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


@pytest.fixture(scope="session")
def lambda_role_arn(engine: LocalEngine) -> str:
    """An IAM role Lambda (and Step Functions) may assume, for resources tests create.

    Those functions stand for a user's own consumers, whose roles are the user's, not the
    stack's: this role allows every action, so the strict stack's IAM check (strict.iam) holds
    only the template's roles to their policies. A test of a narrow role makes its own."""
    iam = engine.client("iam")
    name = "redrive-tests-role"
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        document = json.dumps(_LAMBDA_TRUST)
        arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=document)["Role"]["Arn"])
        iam.put_role_policy(RoleName=name, PolicyName="everything", PolicyDocument=json.dumps(_EVERYTHING))
        return arn


@pytest.fixture(scope="session")
def python_function(
    engine: LocalEngine, lambda_role_arn: str, tmp_path_factory: pytest.TempPathFactory
) -> PythonFunction:
    """``python_function(source, env={...})`` creates a function through the Lambda API whose
    code is ``source`` (a module with ``handler(event, context)``) and returns its name.

    Its code is a folder under the session's tmp dir, named like a packaged CodeUri (an S3 key
    relative to the repository), so the local Lambda runtime runs it as it runs the template's
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


@pytest.fixture
def wait_execution(engine: LocalEngine) -> WaitExecution:
    """``wait_execution(arn, timeout=30)``: :func:`~tests.support.executions.wait_for_execution`
    on the engine's Step Functions."""

    def _wait(execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
        return wait_for_execution(engine.client("stepfunctions"), execution_arn, timeout)

    return _wait


def send_failures_to_s3(engine: LocalEngine, mapping_uuid: str, function_name: str, bucket: str) -> None:
    """Point an event source mapping's on-failure destination at ``bucket``. The mapping writes
    with the function's execution role, which must allow it (as on AWS: s3:PutObject and
    s3:ListBucket), so the role is granted that too, as an operator would."""
    engine.client("lambda").update_event_source_mapping(
        UUID=mapping_uuid, DestinationConfig={"OnFailure": {"Destination": f"arn:aws:s3:::{bucket}"}}
    )
    role = engine.client("lambda").get_function_configuration(FunctionName=function_name)["Role"]
    grant = {
        "Effect": "Allow",
        "Action": ["s3:PutObject", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
    }
    engine.client("iam").put_role_policy(
        RoleName=role.rsplit("/", 1)[-1],
        PolicyName="s3-on-failure-destination",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [grant]}),
    )
