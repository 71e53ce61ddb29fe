"""The in-process Lambda runtime (local/redrive_local/runtime.py).

What it must keep faithful to Lambda: a function sees its own template Environment plus the
variables Lambda sets, never another function's, even while moto runs several invocations
at once on its request threads (``ThreadEnviron``); an exception becomes a function error
named by its class; the handler is resolved inside the function's code folder.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import sys
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from redrive_local.deploy import DeployedStack, deploy_stack
from redrive_local.engine import ACCOUNT, REGION, REPO_ROOT, LocalEngine, endpoint_session
from redrive_local.runtime import ThreadEnviron, ThreadOutput
from tests.support.stack import PythonFunction

# --- ThreadEnviron, directly ----------------------------------------------------------------


def run_in_threads(*bodies: Callable[[], Any]) -> list[Any]:
    """Run each body on its own thread at the same time; return their results in order."""
    with ThreadPoolExecutor(len(bodies)) as pool:
        return [f.result(timeout=10) for f in [pool.submit(b) for b in bodies]]


def test_thread_environ_overlays_are_per_thread() -> None:
    base = {"PATH": "/bin", "SHARED": "process"}
    environ = ThreadEnviron(base)
    both_active = threading.Barrier(2, timeout=5)

    def function(name: str) -> dict[str, Any]:
        environ.activate({"PATH": "/bin", "WHO": name, f"ONLY_{name}": "1"})
        both_active.wait()  # the other thread's overlay is active now too
        seen = {
            "who": environ["WHO"],
            "keys": sorted(environ),
            "len": len(environ),
            "shared": environ.get("SHARED"),
            "copy": environ.copy(),
        }
        environ["WRITTEN"] = name  # goes to this thread's overlay only
        both_active.wait()
        seen["written"] = environ["WRITTEN"]
        environ.activate(None)
        seen["after"] = dict(environ)
        return seen

    a, b = run_in_threads(lambda: function("A"), lambda: function("B"))

    assert a["who"] == "A" and b["who"] == "B"
    assert a["keys"] == ["ONLY_A", "PATH", "WHO"] and b["keys"] == ["ONLY_B", "PATH", "WHO"]
    assert a["len"] == 3 and a["copy"] == {"PATH": "/bin", "WHO": "A", "ONLY_A": "1"}
    assert a["shared"] is None, "a function must not see process variables outside its environment"
    assert (a["written"], b["written"]) == ("A", "B")
    # Deactivated, a thread sees the process environment, which no overlay wrote to.
    assert a["after"] == b["after"] == {"PATH": "/bin", "SHARED": "process"}
    assert base == {"PATH": "/bin", "SHARED": "process"}


def test_thread_environ_without_overlay_is_the_process_environment() -> None:
    base = {"A": "1"}
    environ = ThreadEnviron(base)
    environ["B"] = "2"
    del environ["A"]
    assert base == {"B": "2"}
    assert "B" in environ and "A" not in environ
    assert environ.copy() == {"B": "2"} and environ.copy() is not base


def test_os_environ_is_the_thread_view(engine: LocalEngine) -> None:
    """The engine installs ThreadEnviron as ``os.environ``, so ``os.environ[...]`` and
    ``os.getenv`` inside a handler read the function's variables."""
    assert isinstance(os.environ, ThreadEnviron)
    assert os.getenv("PATH") == os.environ["PATH"]


def test_thread_output_goes_to_the_active_buffer() -> None:
    terminal = io.StringIO()
    output = ThreadOutput(terminal)
    logs = [io.StringIO(), io.StringIO()]
    both_active = threading.Barrier(2, timeout=5)

    def function(index: int) -> None:
        output.activate(logs[index])
        both_active.wait()
        output.write(f"from {index}\n")
        output.activate(None)

    run_in_threads(lambda: function(0), lambda: function(1))
    output.write("from the stack\n")
    assert [log.getvalue() for log in logs] == ["from 0\n", "from 1\n"]
    assert terminal.getvalue() == "from the stack\n"


# --- invocations through the Lambda API ---------------------------------------------------

PROBE = """
    import os
    import threading

    BARRIER = None  # set by the test to make two invocations overlap

    def handler(event, context):
        names = ("WHO", "ONLY_A", "ONLY_B", "AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION", "AWS_ENDPOINT_URL",
                 "AWS_ACCOUNT_ID_ENDPOINT_MODE", "REDRIVE_TEST_PROCESS_ONLY", "PATH")
        before = {k: os.environ.get(k) for k in names}
        if event.get("overlap"):
            BARRIER.wait()
        after = {k: os.environ.get(k) for k in names}
        if event.get("fail"):
            raise LookupError("no such order: " + str(event["fail"]))
        print("handled by", before["WHO"])
        return {
            "before": before,
            "after": after,
            "context": {
                "function_name": context.function_name,
                "request_id": context.aws_request_id,
                "remaining_ms": context.get_remaining_time_in_millis(),
                "memory": context.memory_limit_in_mb,
                "arn": context.invoked_function_arn,
            },
        }
"""


def invoke(engine: LocalEngine, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    response = engine.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return json.loads(response["Payload"].read()), response.get("FunctionError")


@pytest.fixture(scope="module")
def probes(python_function: PythonFunction) -> tuple[str, str]:
    return (
        python_function(PROBE, env={"WHO": "a", "ONLY_A": "1"}, timeout=20),
        python_function(PROBE, env={"WHO": "b", "ONLY_B": "1"}, timeout=20),
    )


def probe_module(name: str) -> Any:
    """The probe's module as the runtime imported it (same process)."""
    return importlib.import_module(name.replace("-", "_"))


def test_function_sees_its_environment_and_the_lambda_variables(
    engine: LocalEngine, probes: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(os.environ, "REDRIVE_TEST_PROCESS_ONLY", "leak")
    name, _ = probes
    result, error = invoke(engine, name, {})
    assert error is None
    seen = result["before"]
    assert seen["WHO"] == "a" and seen["ONLY_A"] == "1" and seen["ONLY_B"] is None
    assert seen["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert seen["AWS_REGION"] == REGION
    assert seen["AWS_ENDPOINT_URL"] == engine.endpoint_url
    assert seen["AWS_ACCOUNT_ID_ENDPOINT_MODE"] == "disabled"
    assert seen["PATH"] == os.environ["PATH"], "PATH is passed through"
    assert seen["REDRIVE_TEST_PROCESS_ONLY"] is None, "the process's own variables stay out"
    assert "WHO" not in os.environ, "the function's variables stay out of the process"

    context = result["context"]
    assert context["function_name"] == name
    assert context["arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    assert 0 < context["remaining_ms"] <= 20_000
    assert context["memory"] == 128
    again, _ = invoke(engine, name, {})
    assert uuid.UUID(context["request_id"]) != uuid.UUID(again["context"]["request_id"])


def test_overlapping_invocations_each_see_only_their_own_environment(
    engine: LocalEngine, probes: tuple[str, str]
) -> None:
    """Two functions run at the same time on moto's request threads; each sees its own
    variables before and after the other has started, not the other's."""
    a, b = probes
    barrier = threading.Barrier(2, timeout=10)
    invoke(engine, a, {})  # the runtime imports each probe module on first use
    invoke(engine, b, {})
    probe_module(a).BARRIER = barrier
    probe_module(b).BARRIER = barrier

    (ra, ea), (rb, eb) = run_in_threads(
        lambda: invoke(engine, a, {"overlap": True}), lambda: invoke(engine, b, {"overlap": True})
    )

    assert (ea, eb) == (None, None), (ra, rb)
    for result, who, own, other in ((ra, "a", "ONLY_A", "ONLY_B"), (rb, "b", "ONLY_B", "ONLY_A")):
        for moment in ("before", "after"):
            seen = result[moment]
            assert seen["WHO"] == who and seen[own] == "1" and seen[other] is None, (moment, seen)


def test_exception_is_a_function_error_named_by_its_class(engine: LocalEngine, probes: tuple[str, str]) -> None:
    name, _ = probes
    payload, error = invoke(engine, name, {"fail": "o-7"})
    assert error == "Unhandled"
    assert payload["errorType"] == "LookupError"
    assert payload["errorMessage"] == "no such order: o-7"
    assert isinstance(payload["stackTrace"], list) and payload["stackTrace"]
    function, log = engine.runtime.logs[-1]
    assert function == name and "LookupError: no such order: o-7" in log


def test_what_a_handler_prints_goes_to_its_invocation_log(
    engine: LocalEngine, probes: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest's output capture swaps sys.stdout between tests; put the runtime's view back.
    monkeypatch.setattr(sys, "stdout", engine.runtime._stdout)
    name, _ = probes
    response = engine.client("lambda").invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    assert base64.b64decode(response["LogResult"]).decode() == "handled by a\n"
    assert engine.runtime.logs[-1] == (name, "handled by a\n")


def test_unknown_handler_is_a_named_function_error(engine: LocalEngine, python_function: PythonFunction) -> None:
    name = python_function("def handler(event, context):\n    return 1\n")
    engine.client("lambda").update_function_configuration(FunctionName=name, Handler="nowhere.handler")
    payload, error = invoke(engine, name, {})
    assert error == "Unhandled"
    assert payload["errorType"] == "HandlerNotFound"
    assert "nowhere.handler" in payload["errorMessage"]


def test_handler_is_never_run_from_another_functions_code_folder(
    engine: LocalEngine, python_function: PythonFunction
) -> None:
    """Two functions whose code folders both hold a module of the same name: one process
    holds one module per name, so the second function must either run its own module or
    fail with a HandlerNotFound that says why; it must never run the first one's code."""
    module = f"app_{uuid.uuid4().hex[:8]}"
    names = []
    for marker in ("first", "second"):
        name = python_function("def handler(event, context):\n    return None\n")
        code_dir = engine.runtime.code_dir(_moto_function(name))
        (code_dir / f"{module}.py").write_text(f"def handler(event, context):\n    return {marker!r}\n")
        engine.client("lambda").update_function_configuration(FunctionName=name, Handler=f"{module}.handler")
        names.append(name)

    assert invoke(engine, names[0], {}) == ("first", None)
    payload, error = invoke(engine, names[1], {})
    if error is None:
        assert payload == "second"
    else:
        assert error == "Unhandled" and payload["errorType"] == "HandlerNotFound"
        assert module in payload["errorMessage"] and "already loaded" in payload["errorMessage"]


def _moto_function(name: str) -> Any:
    from moto.awslambda.utils import get_backend

    return get_backend(ACCOUNT, REGION).get_function(name)


# --- the real consumer: concurrent invocations of two stacks' consumers -------------------


@pytest.fixture(scope="module")
def two_stacks(engine: LocalEngine) -> list[DeployedStack]:
    return [
        deploy_stack(
            endpoint_session(engine), REPO_ROOT / "template.yaml", f"rt-{uuid.uuid4().hex[:8]}", {}, REGION, ACCOUNT
        )
        for _ in range(2)
    ]


def kinesis_event(stack: DeployedStack, orders: list[dict[str, Any]]) -> dict[str, Any]:
    source = stack.outputs["ExampleSourceArn"]
    return {
        "Records": [
            {
                "eventSource": "aws:kinesis",
                "eventSourceARN": source,
                "eventID": f"shardId-000000000000:{n}",
                "kinesis": {
                    "partitionKey": "orders",
                    "sequenceNumber": str(n),
                    "data": base64.b64encode(json.dumps(order).encode()).decode(),
                },
            }
            for n, order in enumerate(orders, start=1)
        ]
    }


def test_orders_consumers_of_two_stacks_write_to_their_own_sink_under_concurrency(
    engine: LocalEngine, two_stacks: list[DeployedStack]
) -> None:
    """The example consumer reads SINK_TABLE inside the handler. Invoked for two stacks at once,
    many times over, each stack's orders must land in that stack's sink table only."""
    lam = engine.client("lambda")
    jobs = []
    for round_ in range(6):
        for index, stack in enumerate(two_stacks):
            orders = [{"id": f"s{index}-r{round_}-{n}", "amount": n} for n in range(3)]
            jobs.append((stack.outputs["ExampleConsumerFunction"], kinesis_event(stack, orders)))

    def call(job: tuple[str, dict[str, Any]]) -> str | None:
        response = lam.invoke(FunctionName=job[0], Payload=json.dumps(job[1]).encode())
        return response.get("FunctionError")

    with ThreadPoolExecutor(8) as pool:
        errors = list(pool.map(call, jobs))
    assert errors == [None] * len(jobs)

    dynamodb = engine.client("dynamodb")
    for index, stack in enumerate(two_stacks):
        items = dynamodb.scan(TableName=stack.resources["OrdersSinkTable"])["Items"]
        ids = sorted(item["id"]["S"] for item in items)
        assert ids == sorted(f"s{index}-r{r}-{n}" for r in range(6) for n in range(3))
