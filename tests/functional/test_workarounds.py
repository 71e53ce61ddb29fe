"""Every moto workaround in local/redrive_local/workarounds.py, pinned.

Each test exercises one workaround through the real path (API calls against the engine) and
its docstring names the workaround and the moto behaviour it corrects. Where it can be done
without undoing a patch, the moto behaviour itself is pinned too: by calling the original
moto function the workaround saved (``saved``), by a fresh copy of a small moto module, or by
reading moto's own source (``moto_source``, the file on disk, not the patched class). A moto
upgrade that fixes or changes a behaviour then fails here, by name.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from redrive_local import workarounds
from redrive_local.engine import ACCOUNT, REGION, LocalEngine
from redrive_local.inspect import trim_stream_records
from redrive_local.runtime import CODE_BUCKET
from tests.conftest import Deploy, PythonFunction, WaitExecution

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# --- helpers ---------------------------------------------------------------------------------


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
    return getattr(function, "__module__", "") == workarounds.__name__


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


@pytest.fixture
def rules(engine: LocalEngine) -> Iterator[Callable[..., str]]:
    """``rule(pattern, targets)`` puts a rule on the default bus; removed after the test."""
    events = engine.client("events")
    made: list[tuple[str, list[str]]] = []

    def _rule(pattern: dict[str, Any], targets: list[dict[str, Any]]) -> str:
        name = f"wa-{uuid.uuid4().hex[:8]}"
        events.put_rule(Name=name, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, Targets=targets)
        made.append((name, [t["Id"] for t in targets]))
        return name

    yield _rule
    for name, ids in made:
        events.remove_targets(Rule=name, Ids=ids)
        events.delete_rule(Name=name)


# --- the module itself -------------------------------------------------------------------


def installed_workarounds() -> list[str]:
    tree = ast.parse(Path(workarounds.__file__).read_text())
    install = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "install")
    return [
        call.func.id
        for call in ast.walk(install)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id.startswith("_")
    ]


def local_cloudformation_models() -> list[str]:
    from moto.core.common_models import CloudFormationModel

    return [
        name
        for name, value in vars(workarounds).items()
        if inspect.isclass(value)
        and issubclass(value, CloudFormationModel)
        and value.__module__ == workarounds.__name__
    ]


def test_every_workaround_is_pinned_by_a_test_here() -> None:
    """Each function ``install()`` applies and each local CloudFormation model is named in
    the docstring of a test in this module."""
    docstrings = " ".join(
        inspect.getdoc(value) or ""
        for name, value in globals().items()
        if name.startswith("test_") and name != "test_every_workaround_is_pinned_by_a_test_here"
    )
    names = installed_workarounds() + local_cloudformation_models()
    assert len(names) >= 12
    assert [n for n in names if n not in docstrings] == []


def test_install_is_idempotent(engine: LocalEngine) -> None:
    """``install()`` twice patches once: a second call wraps nothing again."""
    from moto.events.models import Rule
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    before = (Rule.send_to_targets, StepFunctionsParserBackend.start_execution)
    workarounds.install()
    assert (Rule.send_to_targets, StepFunctionsParserBackend.start_execution) == before
    assert not is_workaround(saved(StepFunctionsParserBackend.start_execution))


# --- configuration -----------------------------------------------------------------------


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


# --- Lambda ------------------------------------------------------------------------------

PROBE = """
    import os

    class ProbeError(Exception):
        pass

    def handler(event, context):
        if event.get("fail"):
            raise ProbeError("asked to fail")
        return {"pid": os.getpid(), "seen": event}
"""


@pytest.fixture(scope="module")
def probe(python_function: PythonFunction) -> str:
    return python_function(PROBE)


def test_lambda_runs_in_process(engine: LocalEngine, probe: str) -> None:
    """``_run_lambda_in_process``: moto's ``LambdaFunction._invoke_lambda`` runs the code in a
    Docker container; the local runtime runs the handler in this process."""
    from moto.awslambda.models import LambdaFunction

    assert "docker" in moto_source("moto.awslambda.models", "LambdaFunction._invoke_lambda")
    assert is_workaround(LambdaFunction._invoke_lambda)

    before = engine.runtime.invocations[probe]
    response = engine.client("lambda").invoke(FunctionName=probe, Payload=b'{"n": 1}')
    assert json.loads(response["Payload"].read()) == {"pid": os.getpid(), "seen": {"n": 1}}
    assert engine.runtime.invocations[probe] == before + 1


def test_simple_lambda_backend_runs_functions(engine: LocalEngine, probe: str) -> None:
    """``_simple_lambda_backend_runs_functions``: with ``use_docker`` False moto serves the
    Lambda API from ``LambdaSimpleBackend``, whose ``invoke`` echoes the request body and never
    runs the function; routed to ``LambdaBackend.invoke`` the function runs."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    shipped = pristine_moto_module("moto.awslambda_simple.models").LambdaSimpleBackend
    before = engine.runtime.invocations[probe]
    echoed = shipped.invoke(SimpleNamespace(lambda_simple_results_queue=[]), probe, None, '{"n": 2}', {}, {})
    assert echoed == b'{"n": 2}'
    assert engine.runtime.invocations[probe] == before, "moto's own invoke never runs the function"
    assert is_workaround(LambdaSimpleBackend.invoke)

    response = engine.client("lambda").invoke(FunctionName=probe, Payload=b'{"n": 2}')
    assert json.loads(response["Payload"].read())["seen"] == {"n": 2}
    assert engine.runtime.invocations[probe] == before + 1


def test_function_error_is_unhandled(engine: LocalEngine, probe: str) -> None:
    """``_simple_lambda_backend_runs_functions`` (function errors): moto marks an exception
    ``x-amz-function-error: Handled``; Lambda reports one that escapes the handler as
    ``Unhandled``."""
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda.utils import get_backend

    headers: dict[str, str] = {}
    LambdaBackend.invoke(get_backend(ACCOUNT, REGION), probe, None, '{"fail": true}', {}, headers)
    assert headers["x-amz-function-error"] == "Handled"

    response = engine.client("lambda").invoke(FunctionName=probe, Payload=b'{"fail": true}')
    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert (payload["errorType"], payload["errorMessage"]) == ("ProbeError", "asked to fail")


def test_state_machine_lambda_tasks_run_the_function(
    engine: LocalEngine, probe: str, lambda_role_arn: str, wait_execution: WaitExecution
) -> None:
    """``_simple_lambda_backend_runs_functions`` (Step Functions): the interpreter's Lambda
    tasks call Invoke too; the task result is the handler's, and an exception's class name
    is the States error that Catch matches."""
    arn = engine.client("lambda").get_function_configuration(FunctionName=probe)["FunctionArn"]
    machine = create_machine(
        engine,
        lambda_role_arn,
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": arn,
                    "Catch": [{"ErrorEquals": ["ProbeError"], "ResultPath": "$.error", "Next": "Caught"}],
                    "End": True,
                },
                "Caught": {"Type": "Pass", "End": True},
            },
        },
    )
    sfn = engine.client("stepfunctions")
    ok = wait_execution(sfn.start_execution(stateMachineArn=machine, input='{"fail": false}')["executionArn"])
    assert ok["status"] == "SUCCEEDED"
    assert json.loads(ok["output"])["seen"] == {"fail": False}
    failed = wait_execution(sfn.start_execution(stateMachineArn=machine, input='{"fail": true}')["executionArn"])
    assert failed["status"] == "SUCCEEDED"
    assert json.loads(failed["output"])["error"]["Error"] == "ProbeError"


# --- streams -----------------------------------------------------------------------------


def test_stop_moto_stream_invocations_kinesis(engine: LocalEngine, probe: str) -> None:
    """``_stop_moto_stream_invocations`` (Kinesis): moto invokes the mapped function inside
    PutRecord when an event source mapping exists; here nothing is invoked until the local
    event source mapping emulator polls."""
    from moto.kinesis.models import kinesis_backends

    assert "send_kinesis_message" in moto_source("moto.kinesis.models", "Stream.put_record")
    kinesis = engine.client("kinesis")
    name = f"wa-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    engine.client("lambda").create_event_source_mapping(
        FunctionName=probe, EventSourceArn=arn, StartingPosition="TRIM_HORIZON"
    )
    assert kinesis_backends[ACCOUNT][REGION].streams[name].lambda_event_source_mappings, "moto knows the mapping"

    before = engine.runtime.invocations[probe]
    kinesis.put_record(StreamARN=arn, Data=b'{"id": "o-1"}', PartitionKey="k")
    assert engine.runtime.invocations[probe] == before
    iterator = kinesis.get_shard_iterator(
        StreamARN=arn, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator, StreamARN=arn)["Records"]] == [
        b'{"id": "o-1"}'
    ]


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


def test_stop_moto_stream_invocations_dynamodb(engine: LocalEngine, probe: str) -> None:
    """``_stop_moto_stream_invocations`` (DynamoDB): moto invokes the mapped function inside
    PutItem and then empties the stream shard (``self.items = []``); here the item stays in
    the stream and nothing is invoked."""
    from moto.dynamodb.models import dynamodb_backends

    shipped = moto_source("moto.dynamodb.models.table", "StreamShard.add")
    assert "send_dynamodb_items" in shipped and "self.items = []" in shipped
    table, stream_arn = dynamodb_stream(engine)
    engine.client("lambda").create_event_source_mapping(
        FunctionName=probe, EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON"
    )
    assert dynamodb_backends[ACCOUNT][REGION].get_table(table).lambda_event_source_mappings

    before = engine.runtime.invocations[probe]
    for key in ("a", "b"):
        engine.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": key}})
    assert engine.runtime.invocations[probe] == before
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in stream_records(engine, stream_arn)] == ["a", "b"]


def test_dynamodb_stream_shards_can_lose_records(engine: LocalEngine) -> None:
    """``_dynamodb_stream_shards_can_lose_records``: moto's DynamoDB Streams never trims and
    ``StreamShard.get`` finds records by list position (``self.items[start:end]``), so a
    record cannot be removed; a trimmed sequence number is skipped by reads instead, the
    later records keeping theirs."""
    assert "self.items[start:end]" in moto_source("moto.dynamodb.models.table", "StreamShard.get")
    table, stream_arn = dynamodb_stream(engine)
    for key in ("a", "b", "c", "d"):
        engine.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": key}})
    records = stream_records(engine, stream_arn)
    sequence = {r["dynamodb"]["Keys"]["pk"]["S"]: r["dynamodb"]["SequenceNumber"] for r in records}
    shard = engine.client("dynamodbstreams").describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]

    trim_stream_records(stream_arn, [(shard["ShardId"], sequence["b"])])

    after = stream_records(engine, stream_arn)
    assert [(r["dynamodb"]["Keys"]["pk"]["S"], r["dynamodb"]["SequenceNumber"]) for r in after] == [
        (k, sequence[k]) for k in ("a", "c", "d")
    ]
    at_trimmed = stream_records(
        engine, stream_arn, ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=sequence["b"]
    )
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in at_trimmed] == ["c", "d"]
    # Paging one record at a time walks over the gap.
    streams = engine.client("dynamodbstreams")
    it = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    iterator, keys = it["ShardIterator"], []
    for _ in range(5):
        page = streams.get_records(ShardIterator=iterator, Limit=1)
        keys += [r["dynamodb"]["Keys"]["pk"]["S"] for r in page["Records"]]
        iterator = page["NextShardIterator"]
    assert keys == ["a", "c", "d"]


def test_kinesis_iterators_from_stream_arn(engine: LocalEngine) -> None:
    """``_kinesis_iterators_from_stream_arn``: moto's GetShardIterator with ``StreamARN`` and
    no ``StreamName`` encodes the stream name None in the iterator, and the next GetRecords
    answers ResourceNotFoundException; with the name filled in from the ARN it reads."""
    from moto.kinesis.models import KinesisBackend, kinesis_backends

    kinesis = engine.client("kinesis")
    name = f"wa-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    for n in range(2):
        kinesis.put_record(StreamName=name, Data=f"r{n}".encode(), PartitionKey="k")

    shipped = saved(KinesisBackend.get_shard_iterator)
    broken = shipped(kinesis_backends[ACCOUNT][REGION], arn, None, "shardId-000000000000", "TRIM_HORIZON", None, None)
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException, match="None"):
        kinesis.get_records(ShardIterator=broken)

    iterator = kinesis.get_shard_iterator(
        StreamARN=arn, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]] == [b"r0", b"r1"]


# --- EventBridge ---------------------------------------------------------------------------


def test_event_with_iso_time() -> None:
    """``event_with_iso_time`` (used by ``_state_machine_targets_for_eventbridge``): moto keeps
    the event ``time`` as epoch seconds; EventBridge writes ``2019-10-02T17:04:40Z``."""
    from moto.events.models import EventsBackend

    assert "unix_time()" in moto_source("moto.events.models", "EventsBackend.put_events")
    epoch = datetime(2019, 10, 2, 17, 4, 40, tzinfo=UTC).timestamp()
    assert workarounds.event_with_iso_time({"time": epoch, "a": 1}) == {"time": "2019-10-02T17:04:40Z", "a": 1}
    assert workarounds.event_with_iso_time({"time": int(epoch)})["time"] == "2019-10-02T17:04:40Z"
    assert workarounds.event_with_iso_time({"time": "2019-10-02T17:04:40Z"}) == {"time": "2019-10-02T17:04:40Z"}
    assert workarounds.event_with_iso_time(["not", "an", "event"]) == ["not", "an", "event"]
    assert EventsBackend.put_events is not None


def test_state_machine_targets_for_eventbridge(
    engine: LocalEngine, lambda_role_arn: str, rules: Callable[..., str]
) -> None:
    """``_state_machine_targets_for_eventbridge``: moto's ``Rule.send_to_targets`` raises
    NotImplementedError for a Step Functions target; here a matching event starts an
    execution (unnamed, so a UUID) with the InputTransformer output, the constant Input, or
    the whole event, its ``time`` in ISO-8601."""
    from moto.events.models import Rule, events_backends

    recorder = create_machine(engine, lambda_role_arn, PASS)
    source = f"tests.{uuid.uuid4().hex[:8]}"
    rule = rules(
        {"source": [source]},
        [
            {
                "Id": "transformed",
                "Arn": recorder,
                "RoleArn": lambda_role_arn,
                "InputTransformer": {
                    "InputPathsMap": {"who": "$.detail.who", "time": "$.time"},
                    "InputTemplate": '{"trigger": "test", "who": "<who>", "at": "<time>"}',
                },
            },
            {"Id": "constant", "Arn": recorder, "RoleArn": lambda_role_arn, "Input": '{"constant": true}'},
            {"Id": "whole", "Arn": recorder, "RoleArn": lambda_role_arn},
        ],
    )
    events = engine.client("events")
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    events.put_events(Entries=[{"Source": "other", "DetailType": "t", "Detail": "{}", "Time": when}])
    put = events.put_events(
        Entries=[{"Source": source, "DetailType": "Probe", "Detail": '{"who": "me"}', "Time": when, "Resources": []}]
    )
    assert put["FailedEntryCount"] == 0

    started = started_inputs(engine, recorder, 3)
    assert all(UUID.match(s["name"]) for s in started)
    inputs = sorted((s["input"] for s in started), key=json.dumps)
    whole = next(i for i in inputs if "detail" in i)
    assert {"trigger": "test", "who": "me", "at": "2024-05-06T07:08:09Z"} in inputs
    assert {"constant": True} in inputs
    assert len(inputs) == 3, "the event of another source started nothing"
    assert whole["time"] == "2024-05-06T07:08:09Z"
    assert (whole["source"], whole["detail-type"], whole["detail"]) == (source, "Probe", {"who": "me"})
    assert (whole["account"], whole["region"]) == (ACCOUNT, REGION)

    # moto's own delivery refuses the Step Functions target.
    rule_model = events_backends[ACCOUNT][REGION].event_buses["default"].rules[rule]
    event = {"source": source, "detail-type": "Probe", "detail": {"who": "me"}, "time": when.timestamp()}
    with pytest.raises(NotImplementedError):
        saved(Rule.send_to_targets)(rule_model, {**event, "ingestion-time": when.timestamp()})


def test_lambda_targets_for_eventbridge(
    engine: LocalEngine, python_function: PythonFunction, rules: Callable[..., str]
) -> None:
    """``_state_machine_targets_for_eventbridge`` (Lambda targets, ``_invoke_async``): moto's
    ``Rule.send_to_targets`` raises NotImplementedError for a Lambda target; here the function
    is invoked asynchronously with the event (its ``time`` in ISO-8601)."""
    from moto.events.models import Rule, events_backends

    sqs = engine.client("sqs")
    queue = sqs.create_queue(QueueName=f"wa-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    forwarder = python_function(
        """
        import json, os
        import boto3

        def handler(event, context):
            boto3.client("sqs").send_message(QueueUrl=os.environ["OUT"], MessageBody=json.dumps(event))
        """,
        env={"OUT": queue},
    )
    arn = engine.client("lambda").get_function_configuration(FunctionName=forwarder)["FunctionArn"]
    source = f"tests.{uuid.uuid4().hex[:8]}"
    rule = rules({"source": [source]}, [{"Id": "fn", "Arn": arn}])
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    engine.client("events").put_events(
        Entries=[{"Source": source, "DetailType": "Probe", "Detail": '{"n": 1}', "Time": when}]
    )
    received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=10).get("Messages", [])
    assert len(received) == 1
    event = json.loads(received[0]["Body"])
    assert (event["source"], event["detail"], event["time"]) == (source, {"n": 1}, "2024-05-06T07:08:09Z")

    rule_model = events_backends[ACCOUNT][REGION].event_buses["default"].rules[rule]
    with pytest.raises(NotImplementedError):
        saved(Rule.send_to_targets)(
            rule_model,
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "source": source,
                "detail-type": "Probe",
                "account": ACCOUNT,
                "region": REGION,
                "resources": [],
                "detail": {},
                "time": when.timestamp(),
                "ingestion-time": when.timestamp(),
            },
        )


def test_other_targets_still_go_to_moto(engine: LocalEngine, rules: Callable[..., str]) -> None:
    """``_state_machine_targets_for_eventbridge`` hands targets other than Step Functions and
    Lambda to moto's own code, which delivers an SQS target."""
    sqs = engine.client("sqs")
    queue = sqs.create_queue(QueueName=f"wa-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = f"tests.{uuid.uuid4().hex[:8]}"
    rules({"source": [source]}, [{"Id": "queue", "Arn": queue_arn}])
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    put = engine.client("events").put_events(
        Entries=[{"Source": source, "DetailType": "Probe", "Detail": '{"n": 1}', "Time": when}]
    )
    assert put["FailedEntryCount"] == 0
    (message,) = sqs.receive_message(QueueUrl=queue).get("Messages", [])
    assert json.loads(message["Body"])["time"] == "2024-05-06T07:08:09Z"


# --- Step Functions executions -----------------------------------------------------------


def test_unnamed_executions_get_a_uuid(engine: LocalEngine, lambda_role_arn: str) -> None:
    """``_unnamed_executions_get_a_uuid``: moto names an execution started without a name
    ``None`` (its ARN ends ``:None``, so a second unnamed start collides); Step Functions
    generates a UUID."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend, stepfunctions_parser_backends

    machine = create_machine(engine, lambda_role_arn, PASS)
    sfn = engine.client("stepfunctions")
    first = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    second = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    assert first != second
    for arn in (first, second):
        name = arn.rsplit(":", 1)[-1]
        assert UUID.match(name) and sfn.describe_execution(executionArn=arn)["name"] == name

    other = create_machine(engine, lambda_role_arn, PASS)
    execution = saved(StepFunctionsParserBackend.start_execution)(
        stepfunctions_parser_backends[ACCOUNT][REGION], other, None, "{}"
    )
    assert execution.exec_arn.endswith(":None")


MAP_OF_WAITS = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 1,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Nap",
                "States": {"Nap": {"Type": "Wait", "Seconds": 5, "End": True}},
            },
            "End": True,
        }
    },
}


def start_and_reach_the_wait(engine: LocalEngine, machine: str) -> str:
    sfn = engine.client("stepfunctions")
    arn = str(sfn.start_execution(stateMachineArn=machine, input='{"items": [1, 2, 3]}')["executionArn"])
    deadline = time.monotonic() + 10
    while not any(e["type"] == "WaitStateEntered" for e in sfn.get_execution_history(executionArn=arn)["events"]):
        assert time.monotonic() < deadline, "the Map never reached its Wait"
        time.sleep(0.02)
    return arn


def test_stopped_executions_end_aborted(
    engine: LocalEngine, lambda_role_arn: str, wait_execution: WaitExecution
) -> None:
    """``_stopped_executions_end_aborted``: StopExecution while a Map runs makes moto's
    interpreter fail in its own abort handling, so the execution ends FAILED with
    ``States.Runtime``; Step Functions ends it ABORTED."""
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    machine = create_machine(engine, lambda_role_arn, MAP_OF_WAITS)
    sfn = engine.client("stepfunctions")
    stopped = start_and_reach_the_wait(engine, machine)
    sfn.stop_execution(executionArn=stopped, error="Operator", cause="testing")
    assert wait_execution(stopped, timeout=5)["status"] == "ABORTED"

    # moto's own stop (the saved original, without the request being remembered).
    raw = start_and_reach_the_wait(engine, machine)
    execution = stepfunctions_parser_backends[ACCOUNT][REGION].describe_execution(raw)
    saved(Execution.stop, "original_stop")(execution, datetime.now(tz=UTC), None, None)
    ended = wait_execution(raw, timeout=5)
    assert (ended["status"], ended["error"]) == ("FAILED", "States.Runtime")


def test_stopped_execution_history_ends_aborted(
    engine: LocalEngine, lambda_role_arn: str, wait_execution: WaitExecution
) -> None:
    """``_stopped_executions_end_aborted``: the history agrees with the status."""
    machine = create_machine(engine, lambda_role_arn, MAP_OF_WAITS)
    sfn = engine.client("stepfunctions")
    arn = start_and_reach_the_wait(engine, machine)
    sfn.stop_execution(executionArn=arn)
    assert wait_execution(arn, timeout=5)["status"] == "ABORTED"
    # (moto ignores reverseOrder; the last event is the last of the list)
    last = sfn.get_execution_history(executionArn=arn)["events"][-1]
    assert last["type"] == "ExecutionAborted", last


def test_executions_emit_status_change_events(
    engine: LocalEngine, lambda_role_arn: str, rules: Callable[..., str], wait_execution: WaitExecution
) -> None:
    """``_executions_emit_status_change_events``: Step Functions sends "Step Functions
    Execution Status Change" events to EventBridge when an execution ends; moto sends none
    (its worker's ``terminated`` only records the status)."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    assert "events" not in moto_source(
        "moto.stepfunctions.parser.backend.execution", "BaseExecutionWorkerCommunication.terminated"
    )
    assert is_workaround(BaseExecutionWorkerCommunication.terminated)

    watched = create_machine(
        engine,
        lambda_role_arn,
        {
            "StartAt": "Which",
            "States": {
                "Which": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Boom"}],
                    "Default": "Fine",
                },
                "Fine": {"Type": "Pass", "Result": {"ok": True}, "End": True},
                "Boom": {"Type": "Fail", "Error": "Boom", "Cause": "asked to"},
            },
        },
    )
    recorder = create_machine(engine, lambda_role_arn, PASS)
    rules(
        {
            "source": ["aws.states"],
            "detail-type": ["Step Functions Execution Status Change"],
            "detail": {"stateMachineArn": [watched]},
        },
        [{"Id": "recorder", "Arn": recorder, "RoleArn": lambda_role_arn}],
    )
    sfn = engine.client("stepfunctions")
    ok = sfn.start_execution(stateMachineArn=watched, name="ok", input='{"fail": false}')["executionArn"]
    wait_execution(ok)
    failed = sfn.start_execution(stateMachineArn=watched, name="failed", input='{"fail": true}')["executionArn"]
    wait_execution(failed)

    events = [s["input"] for s in started_inputs(engine, recorder, 2)]
    assert len(events) == 2
    by_name = {e["detail"]["name"]: e for e in events}
    for event in events:
        assert (event["source"], event["detail-type"]) == ("aws.states", "Step Functions Execution Status Change")
        assert event["resources"] == [event["detail"]["executionArn"]]
        detail = event["detail"]
        assert detail["stateMachineArn"] == watched
        assert isinstance(detail["startDate"], int) and isinstance(detail["stopDate"], int)
        assert detail["startDate"] <= detail["stopDate"]
    ok_detail, failed_detail = by_name["ok"]["detail"], by_name["failed"]["detail"]
    assert (ok_detail["executionArn"], ok_detail["status"]) == (ok, "SUCCEEDED")
    assert json.loads(ok_detail["input"]) == {"fail": False}
    assert json.loads(ok_detail["output"]) == {"ok": True}
    assert (ok_detail["error"], ok_detail["cause"]) == (None, None)
    assert (failed_detail["executionArn"], failed_detail["status"]) == (failed, "FAILED")
    assert (failed_detail["error"], failed_detail["cause"], failed_detail["output"]) == ("Boom", "asked to", None)


# --- CloudFormation ------------------------------------------------------------------------


def test_state_machines_from_cloudformation_are_executable(
    engine: LocalEngine, lambda_role_arn: str, wait_execution: WaitExecution
) -> None:
    """``_state_machines_from_cloudformation_are_executable`` (and
    ``apply_definition_substitutions``): moto's CloudFormation creates
    AWS::StepFunctions::StateMachine in the plain Step Functions backend, which the API does
    not serve once ``execute_state_machine`` is on, and ignores DefinitionSubstitutions."""
    from moto.stepfunctions.models import stepfunctions_backends
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends
    from moto.stepfunctions.responses import get_backend

    shipped = moto_source("moto.stepfunctions.models", "StateMachine.create_from_cloudformation_json")
    assert "stepfunctions_backends[" in shipped and "DefinitionSubstitutions" not in shipped
    assert get_backend(ACCOUNT, REGION) is stepfunctions_parser_backends[ACCOUNT][REGION]

    definition = {
        "StartAt": "Say",
        "States": {"Say": {"Type": "Pass", "Result": {"greeting": "${Greeting}", "queue": "${QueueUrl}"}, "End": True}},
    }
    name, outputs, _ = cfn_stack(
        engine,
        {
            "Resources": {
                "Queue": {"Type": "AWS::SQS::Queue"},
                "Machine": {
                    "Type": "AWS::StepFunctions::StateMachine",
                    "Properties": {
                        "DefinitionString": json.dumps(definition),
                        "DefinitionSubstitutions": {"Greeting": "hello", "QueueUrl": {"Ref": "Queue"}},
                        "RoleArn": lambda_role_arn,
                    },
                },
            },
            "Outputs": {"MachineArn": {"Value": {"Ref": "Machine"}}, "QueueUrl": {"Value": {"Ref": "Queue"}}},
        },
    )
    sfn = engine.client("stepfunctions")
    machine = outputs["MachineArn"]
    described = sfn.describe_state_machine(stateMachineArn=machine)
    assert "${" not in described["definition"]
    assert not [m for m in stepfunctions_backends[ACCOUNT][REGION].state_machines if m.arn == machine]
    done = wait_execution(sfn.start_execution(stateMachineArn=machine)["executionArn"])
    assert json.loads(done["output"]) == {"greeting": "hello", "queue": outputs["QueueUrl"]}

    delete_stack(engine, name)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.describe_state_machine(stateMachineArn=machine)


def test_template_state_machine_has_every_substitution(engine: LocalEngine, deploy: Deploy) -> None:
    """``_state_machines_from_cloudformation_are_executable`` on template.yaml: the deployed
    redrive definition has every ``${...}`` replaced by the stack's function ARNs."""
    stack = deploy()
    definition = engine.client("stepfunctions").describe_state_machine(
        stateMachineArn=stack.outputs["StateMachineArn"]
    )["definition"]
    assert "${" not in definition
    lam = engine.client("lambda")
    for logical in ("PrepareFunction", "CollectFunction", "FetchFunction", "PlanFunction", "RedriveFunction"):
        arn = lam.get_function_configuration(FunctionName=stack.resources[logical])["FunctionArn"]
        assert arn in definition, logical


def test_register_missing_cloudformation_types(
    engine: LocalEngine, python_function: PythonFunction, lambda_role_arn: str
) -> None:
    """``_register_missing_cloudformation_types`` with ``LocalCloudWatchAlarm``,
    ``LocalSnsSubscription`` and ``LocalLambdaPermission``: moto's CloudFormation has no
    AWS::CloudWatch::Alarm (a GetAtt to one aborts the stack), skips AWS::SNS::Subscription
    silently, and gives AWS::Lambda::Permission no physical id."""
    from moto.cloudformation import parsing

    shipped_types = {m.cloudformation_type() for m in parsing.get_model_list() if m.__module__.startswith("moto.")}
    assert {"AWS::CloudWatch::Alarm", "AWS::SNS::Subscription"}.isdisjoint(shipped_types)
    assert "physical_resource_id" not in moto_source("moto.awslambda.models", "Permission")
    model_map = parsing.get_model_map()
    for local in (
        workarounds.LocalCloudWatchAlarm,
        workarounds.LocalSnsSubscription,
        workarounds.LocalLambdaPermission,
    ):
        assert model_map[local.cloudformation_type()] is local

    target = python_function("def handler(event, context):\n    return None\n")
    name, outputs, resources = cfn_stack(
        engine,
        {
            "Resources": {
                "Queue": {"Type": "AWS::SQS::Queue"},
                "Topic": {"Type": "AWS::SNS::Topic"},
                "Subscription": {
                    "Type": "AWS::SNS::Subscription",
                    "Properties": {
                        "TopicArn": {"Ref": "Topic"},
                        "Protocol": "sqs",
                        "Endpoint": {"Fn::GetAtt": ["Queue", "Arn"]},
                    },
                },
                "Alarm": {
                    "Type": "AWS::CloudWatch::Alarm",
                    "Properties": {
                        "AlarmName": {"Fn::Sub": "${AWS::StackName}-depth"},
                        "AlarmDescription": "probe",
                        "Namespace": "AWS/SQS",
                        "MetricName": "ApproximateNumberOfMessagesVisible",
                        "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["Queue", "QueueName"]}}],
                        "Statistic": "Maximum",
                        "Period": 60,
                        "EvaluationPeriods": 3,
                        "DatapointsToAlarm": 2,
                        "Threshold": 5,
                        "ComparisonOperator": "GreaterThanThreshold",
                        "TreatMissingData": "notBreaching",
                        "AlarmActions": [{"Ref": "Topic"}],
                    },
                },
                "Permission": {
                    "Type": "AWS::Lambda::Permission",
                    "Properties": {
                        "FunctionName": target,
                        "Action": "lambda:InvokeFunction",
                        "Principal": "events.amazonaws.com",
                    },
                },
            },
            "Outputs": {
                "AlarmArn": {"Value": {"Fn::GetAtt": ["Alarm", "Arn"]}},
                "QueueUrl": {"Value": {"Ref": "Queue"}},
                "TopicArn": {"Value": {"Ref": "Topic"}},
            },
        },
    )
    assert all(resources.values()), resources
    cloudwatch = engine.client("cloudwatch")
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[f"{name}-depth"])["MetricAlarms"]
    assert alarm["AlarmArn"] == outputs["AlarmArn"] and resources["Alarm"] == f"{name}-depth"
    assert {
        k: alarm[k]
        for k in ("Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods", "DatapointsToAlarm")
    } == {
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 2,
    }
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["TreatMissingData"]) == (
        5.0,
        "GreaterThanThreshold",
        "notBreaching",
    )
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": outputs["QueueUrl"].rsplit("/", 1)[-1]}]
    assert alarm["AlarmActions"] == [outputs["TopicArn"]]

    sns = engine.client("sns")
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=outputs["TopicArn"])["Subscriptions"]
    assert subscription["SubscriptionArn"] == resources["Subscription"]
    sns.publish(TopicArn=outputs["TopicArn"], Message="through the subscription")
    (delivered,) = engine.client("sqs").receive_message(QueueUrl=outputs["QueueUrl"])["Messages"]
    assert json.loads(delivered["Body"])["Message"] == "through the subscription"

    policy = json.loads(engine.client("lambda").get_policy(FunctionName=target)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == [resources["Permission"]]
    assert policy["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}

    delete_stack(engine, name)
    assert cloudwatch.describe_alarms(AlarmNames=[f"{name}-depth"])["MetricAlarms"] == []
    assert not [s for s in sns.list_subscriptions()["Subscriptions"] if s["SubscriptionArn"] == subscription]


def test_function_environment_values_are_strings(engine: LocalEngine, lambda_role_arn: str) -> None:
    """``_function_environment_values_are_strings``: moto's CloudFormation resolves a Ref to a
    Number parameter to an int (``_parse_number_parameter``), where CloudFormation passes a
    string, and keeps YAML/JSON literals as they are; Lambda's environment values are strings."""
    shipped = moto_source("moto.cloudformation.parsing", "ResourceMap.load_parameters")
    assert "_parse_number_parameter" in shipped and "return int(num_string)" in shipped

    name, _, resources = cfn_stack(
        engine,
        {
            "Parameters": {"Limit": {"Type": "Number", "Default": "7"}, "Rate": {"Type": "Number", "Default": "2.5"}},
            "Resources": {
                "Fn": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Runtime": "python3.12",
                        "Handler": "app.handler",
                        "Role": lambda_role_arn,
                        "Code": {"S3Bucket": CODE_BUCKET, "S3Key": "functions"},
                        "Environment": {
                            "Variables": {
                                "LIMIT": {"Ref": "Limit"},
                                "RATE": {"Ref": "Rate"},
                                "ENABLED": True,
                                "COUNT": 3,
                                "TEXT": "as is",
                            }
                        },
                    },
                }
            },
        },
    )
    try:
        variables = engine.client("lambda").get_function_configuration(FunctionName=resources["Fn"])["Environment"]
        assert variables["Variables"] == {
            "LIMIT": "7",
            "RATE": "2.5",
            "ENABLED": "true",
            "COUNT": "3",
            "TEXT": "as is",
        }
    finally:
        delete_stack(engine, name)


def test_secret_and_http_api_models(engine: LocalEngine, probe: str) -> None:
    """``LocalSecret``, ``LocalHttpApi`` and ``LocalHttpApiStage`` (registered by
    ``_register_missing_cloudformation_types``): moto's CloudFormation has no
    AWS::SecretsManager::Secret and skips AWS::ApiGatewayV2::Api and ::Stage silently."""
    from moto.cloudformation import parsing

    from redrive_local.api_gateway import HTTP_APIS

    shipped_types = {m.cloudformation_type() for m in parsing.get_model_list() if m.__module__.startswith("moto.")}
    local_types = {"AWS::SecretsManager::Secret", "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage"}
    assert local_types.isdisjoint(shipped_types)

    function_arn = engine.client("lambda").get_function_configuration(FunctionName=probe)["FunctionArn"]
    integration = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    name, outputs, resources = cfn_stack(
        engine,
        {
            "Resources": {
                "Secret": {
                    "Type": "AWS::SecretsManager::Secret",
                    "Properties": {"GenerateSecretString": {"PasswordLength": 40, "ExcludePunctuation": True}},
                },
                "Api": {
                    "Type": "AWS::ApiGatewayV2::Api",
                    "Properties": {
                        "Body": {
                            "openapi": "3.0.1",
                            "paths": {
                                "/decision": {
                                    "get": {"x-amazon-apigateway-integration": {"uri": integration}},
                                    "post": {"x-amazon-apigateway-integration": {"uri": integration}},
                                }
                            },
                        }
                    },
                },
                "Stage": {
                    "Type": "AWS::ApiGatewayV2::Stage",
                    "Properties": {"ApiId": {"Ref": "Api"}, "StageName": "$default"},
                },
            },
            "Outputs": {
                "SecretArn": {"Value": {"Ref": "Secret"}},
                "SecretId": {"Value": {"Fn::GetAtt": ["Secret", "Id"]}},
                "ApiId": {"Value": {"Ref": "Api"}},
                "Endpoint": {"Value": {"Fn::GetAtt": ["Api", "ApiEndpoint"]}},
            },
        },
    )
    assert all(resources.values()), resources
    secret = engine.client("secretsmanager").get_secret_value(SecretId=outputs["SecretArn"])
    assert outputs["SecretId"] == outputs["SecretArn"] == secret["ARN"] == resources["Secret"]
    assert len(secret["SecretString"]) == 40 and secret["SecretString"].isalnum()

    api_id = outputs["ApiId"]
    assert resources["Api"] == api_id and outputs["Endpoint"] == f"https://{api_id}.execute-api.local"
    assert HTTP_APIS[api_id] == {("GET", "/decision"): function_arn, ("POST", "/decision"): function_arn}
    assert resources["Stage"] == "$default"
    delete_stack(engine, name)


def _permission_stack(python_function: PythonFunction) -> tuple[dict[str, Any], Callable[..., None]]:
    target = python_function("def handler(event, context):\n    return None\n")
    resource = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {"FunctionName": target, "Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com"},
    }

    def gone(engine: LocalEngine, physical_id: str) -> None:
        lam = engine.client("lambda")
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.get_policy(FunctionName=target)

    return resource, gone


def _secret_stack(python_function: PythonFunction) -> tuple[dict[str, Any], Callable[..., None]]:
    resource = {"Type": "AWS::SecretsManager::Secret", "Properties": {"SecretString": "s3cret"}}

    def gone(engine: LocalEngine, physical_id: str) -> None:
        secrets = engine.client("secretsmanager")
        with pytest.raises(secrets.exceptions.ResourceNotFoundException):
            secrets.describe_secret(SecretId=physical_id)

    return resource, gone


def _http_api_stack(python_function: PythonFunction) -> tuple[dict[str, Any], Callable[..., None]]:
    resource = {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Body": {"openapi": "3.0.1", "paths": {}}}}

    def gone(engine: LocalEngine, physical_id: str) -> None:
        from redrive_local.api_gateway import HTTP_APIS

        assert physical_id not in HTTP_APIS

    return resource, gone


@pytest.mark.parametrize(
    "kind", [_permission_stack, _secret_stack, _http_api_stack], ids=["permission", "secret", "api"]
)
def test_deleting_the_stack_deletes_local_models(
    engine: LocalEngine, python_function: PythonFunction, kind: Callable[..., Any]
) -> None:
    """``LocalLambdaPermission``, ``LocalSecret``, ``LocalHttpApi``: deleting the stack
    deletes what they created."""
    resource, gone = kind(python_function)
    name, _, resources = cfn_stack(engine, {"Resources": {"Thing": resource}})
    delete_stack(engine, name)
    gone(engine, resources["Thing"])
