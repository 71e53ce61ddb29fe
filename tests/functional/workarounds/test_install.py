"""``install()`` and the moto configuration it sets (``workarounds/config.py``)."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

from redrive_local import workarounds
from redrive_local.engine import ACCOUNT, REGION, LocalEngine
from tests.support.stack import PythonFunction, WaitExecution

from .moto_probes import (
    create_machine,
    is_workaround,
    saved,
)


def test_install_is_idempotent(engine: LocalEngine) -> None:
    """``install()`` twice patches once: a second call wraps nothing again."""
    from moto.events.models import Rule
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    before = (Rule.send_to_targets, StepFunctionsParserBackend.start_execution)
    workarounds.install()
    assert (Rule.send_to_targets, StepFunctionsParserBackend.start_execution) == before
    assert not is_workaround(saved(StepFunctionsParserBackend.start_execution))


def moto_default_config() -> dict[str, Any]:
    spec = importlib.util.find_spec("moto.core.config")
    assert spec and spec.origin
    for node in ast.parse(Path(spec.origin).read_text()).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == "default_user_config" for t in targets):
                assert node.value is not None
                return dict(ast.literal_eval(node.value))
    raise AssertionError("moto.core.config has no default_user_config literal")


@pytest.mark.pins("_configure_moto")
def test_configure_moto(
    engine: LocalEngine, python_function: PythonFunction, lambda_role_arn: str, wait_execution: WaitExecution
) -> None:
    """``_configure_moto``: by default moto does not execute state machines
    (``stepfunctions.execute_state_machine`` False), runs Lambda only in Docker
    (``lambda.use_docker`` True) and checks that a function's S3 code object exists."""
    from moto.core.config import default_user_config

    shipped = moto_default_config()
    assert shipped["stepfunctions"] == {"execute_state_machine": False}
    assert shipped["lambda"] == {"use_docker": True}
    assert default_user_config["stepfunctions"] == {"execute_state_machine": True}
    assert default_user_config["lambda"] == {"use_docker": False}

    # A function whose code object is not in S3 is created (VALIDATE_LAMBDA_S3=false)...
    from moto.awslambda.utils import get_backend

    assert os.environ["VALIDATE_LAMBDA_S3"] == "false"
    name = python_function("def handler(event, context):\n    return 'ran'\n")
    code = get_backend(ACCOUNT, REGION).get_function(name).code
    s3 = engine.client("s3")
    with pytest.raises(s3.exceptions.ClientError, match=r"404|NoSuchBucket|Not Found"):
        s3.head_object(Bucket=code["S3Bucket"], Key=code["S3Key"])
    assert engine.client("lambda").get_function(FunctionName=name)["Configuration"]["State"] == "Active"
    # ... and a state machine created through the API runs.
    machine = create_machine(engine, lambda_role_arn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    arn = engine.client("stepfunctions").start_execution(stateMachineArn=machine, input='{"x": 1}')["executionArn"]
    done = wait_execution(arn)
    assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", {"x": 1})
