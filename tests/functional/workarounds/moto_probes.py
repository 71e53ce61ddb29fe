"""Helpers for the workaround tests: moto as it ships, and small resources made through the API.

Where it can be done without undoing a patch, a test pins the moto behaviour itself too: by
calling the original moto function the workaround saved (``saved``), by a fresh copy of a
small moto module (``pristine_moto_module``), or by reading moto's own source
(``moto_source``, the file on disk, not the patched class). A moto upgrade that fixes or
changes a behaviour then fails there, by name.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

from redrive_local import workarounds
from redrive_local.engine import LocalEngine

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def moto_source(module: str, qualname: str) -> str:
    """The source of ``Class.method`` (or a module-level function) as moto ships it, read
    from the file: the class attribute may be the workaround by now."""
    spec = importlib.util.find_spec(module)
    assert spec and spec.origin
    text = Path(spec.origin).read_text()
    nodes: list[ast.AST] = [ast.parse(text)]
    for part in qualname.split("."):
        found = next(
            (
                child
                for parent in nodes
                for child in ast.iter_child_nodes(parent)
                if isinstance(child, ast.ClassDef | ast.FunctionDef) and child.name == part
            ),
            None,
        )
        assert found is not None, f"{module}.{qualname} is no longer in moto"
        nodes = [found]
    segment = ast.get_source_segment(text, nodes[0])
    assert segment
    return segment


def saved(patched: Any, name: str = "original") -> Any:
    """The moto function a workaround saved in its closure before patching."""
    function = getattr(patched, "__func__", patched)
    names = function.__code__.co_freevars
    assert name in names, f"{function.__qualname__} keeps no {name!r}"
    return function.__closure__[names.index(name)].cell_contents


def pristine_moto_module(module: str) -> Any:
    """A fresh copy of a (small) moto module, as moto ships it, under another name."""
    spec = importlib.util.find_spec(module)
    assert spec and spec.origin
    copy_spec = importlib.util.spec_from_file_location(f"pristine_{module.replace('.', '_')}", spec.origin)
    assert copy_spec and copy_spec.loader
    copy = importlib.util.module_from_spec(copy_spec)
    copy_spec.loader.exec_module(copy)
    return copy


def is_workaround(function: Any) -> bool:
    """True when ``function`` was defined in the workarounds package (it replaced moto's)."""
    return str(getattr(function, "__module__", "")).startswith(workarounds.__name__ + ".")


def create_machine(engine: LocalEngine, role: str, definition: dict[str, Any]) -> str:
    sfn = engine.client("stepfunctions")
    name = f"wa-{uuid.uuid4().hex[:8]}"
    return str(sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)["stateMachineArn"])


PASS = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}


def started_inputs(engine: LocalEngine, machine: str, count: int, timeout: float = 10.0) -> list[Any]:
    """Inputs of the executions of ``machine`` once there are ``count`` (oldest first)."""
    sfn = engine.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        listed = sfn.list_executions(stateMachineArn=machine)["executions"]
        if len(listed) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    ordered = sorted(listed, key=lambda e: e["startDate"])
    return [
        {"name": e["name"], "input": json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])}
        for e in ordered
    ]


def cfn_stack(engine: LocalEngine, template: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, str]]:
    """Create a plain CloudFormation stack; return its name, outputs and physical ids."""
    cfn = engine.client("cloudformation")
    name = f"wa-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    stack = wait_stack(engine, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    listed = cfn.describe_stack_resources(StackName=name)["StackResources"]
    resources = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in listed}
    return name, {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}, resources


def wait_stack(engine: LocalEngine, name: str) -> dict[str, Any]:
    cfn = engine.client("cloudformation")
    for _ in range(200):
        stacks = cfn.describe_stacks()["Stacks"]
        stack = next((s for s in stacks if s["StackName"] == name), {"StackStatus": "DELETE_COMPLETE"})
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            return dict(stack)
        time.sleep(0.05)
    raise AssertionError(f"stack {name} still in progress")


def delete_stack(engine: LocalEngine, name: str) -> None:
    engine.client("cloudformation").delete_stack(StackName=name)
    assert wait_stack(engine, name)["StackStatus"] == "DELETE_COMPLETE"


def dynamodb_stream(engine: LocalEngine) -> tuple[str, str]:
    dynamodb = engine.client("dynamodb")
    table = f"wa-{uuid.uuid4().hex[:8]}"
    created = dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    return table, created["TableDescription"]["LatestStreamArn"]


def stream_records(engine: LocalEngine, stream_arn: str, **iterator: Any) -> list[dict[str, Any]]:
    streams = engine.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    position = iterator or {"ShardIteratorType": "TRIM_HORIZON"}
    it = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, **position)["ShardIterator"]
    return list(streams.get_records(ShardIterator=it, Limit=100)["Records"])
