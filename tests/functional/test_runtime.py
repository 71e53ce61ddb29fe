"""The local Lambda runtime (local/redrive_local/runtime.py, sandbox.py).

What it must keep faithful to Lambda: a function sees its own template Environment plus the
variables Lambda sets, never another function's nor the engine's; each invocation runs in a
sandbox process, reused while warm, one per concurrent invocation; an exception becomes a
function error named by its class; a sandbox that dies is a Runtime.ExitError; one past its
Timeout is stopped for real; the handler is resolved inside the function's code folder.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from redrive_local import runtime
from redrive_local.deploy import DeployedStack, deploy_stack
from redrive_local.engine import ACCOUNT, REGION, REPO_ROOT, LocalEngine, endpoint_session
from tests.support.stack import PythonFunction

PROBE = """
    import os
    import time

    WARM = {"invocations": 0}  # module globals live as long as the sandbox

    def handler(event, context):
        WARM["invocations"] += 1
        names = ("WHO", "ONLY_A", "ONLY_B", "AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION", "AWS_ENDPOINT_URL",
                 "AWS_ACCOUNT_ID_ENDPOINT_MODE", "REDRIVE_TEST_PROCESS_ONLY", "PATH", "WRITTEN")
        seen = {k: os.environ.get(k) for k in names}
        if event.get("write"):
            os.environ["WRITTEN"] = event["write"]
        time.sleep(event.get("hold", 0))
        if event.get("fail"):
            raise LookupError("no such order: " + str(event["fail"]))
        if event.get("exit"):
            os._exit(event["exit"])
        print("handled by", seen["WHO"])
        return {
            "seen": seen,
            "pid": os.getpid(),
            "warm": WARM["invocations"],
            "context": {
                "function_name": context.function_name,
                "request_id": context.aws_request_id,
                "remaining_ms": context.get_remaining_time_in_millis(),
                "memory": context.memory_limit_in_mb,
                "arn": context.invoked_function_arn,
            },
        }
"""


def invoke(engine: LocalEngine, name: str, event: dict[str, Any]) -> tuple[Any, str | None]:
    response = engine.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return json.loads(response["Payload"].read()), response.get("FunctionError")


@pytest.fixture(scope="module")
def probes(python_function: PythonFunction) -> tuple[str, str]:
    return (
        python_function(PROBE, env={"WHO": "a", "ONLY_A": "1"}, timeout=20),
        python_function(PROBE, env={"WHO": "b", "ONLY_B": "1"}, timeout=20),
    )


def test_function_sees_its_environment_and_the_lambda_variables(
    engine: LocalEngine, probes: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(os.environ, "REDRIVE_TEST_PROCESS_ONLY", "leak")
    name, _ = probes
    result, error = invoke(engine, name, {})
    assert error is None
    seen = result["seen"]
    assert seen["WHO"] == "a" and seen["ONLY_A"] == "1" and seen["ONLY_B"] is None
    assert seen["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert seen["AWS_REGION"] == REGION
    assert seen["AWS_ENDPOINT_URL"] == engine.endpoint_url
    assert seen["AWS_ACCOUNT_ID_ENDPOINT_MODE"] == "disabled"
    assert seen["PATH"] == os.environ["PATH"], "PATH is passed through"
    assert seen["REDRIVE_TEST_PROCESS_ONLY"] is None, "the engine's own variables stay out"
    assert "WHO" not in os.environ, "the function's variables stay out of the engine"

    context = result["context"]
    assert context["function_name"] == name
    assert context["arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    assert 0 < context["remaining_ms"] <= 20_000
    assert context["memory"] == 128
    again, _ = invoke(engine, name, {})
    assert uuid.UUID(context["request_id"]) != uuid.UUID(again["context"]["request_id"])


def test_a_warm_sandbox_is_reused_and_concurrent_invocations_get_one_each(
    engine: LocalEngine, probes: tuple[str, str]
) -> None:
    """One after another, a function's invocations run in the same process with its module
    globals kept (a warm start); at the same time, each runs in a sandbox of its own."""
    name, _ = probes
    first, _ = invoke(engine, name, {})
    second, _ = invoke(engine, name, {})
    assert second["pid"] == first["pid"] and second["warm"] == first["warm"] + 1

    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: invoke(engine, name, {"hold": 1.0}), range(3)))
    assert [error for _, error in answers] == [None] * 3
    assert len({result["pid"] for result, _ in answers}) == 3, "three invocations at once, three sandboxes"
    assert first["pid"] in {result["pid"] for result, _ in answers}, "the warm one among them"


def test_what_one_function_writes_to_its_environment_no_other_sees(
    engine: LocalEngine, probes: tuple[str, str]
) -> None:
    a, b = probes
    invoke(engine, a, {"write": "by a"})
    again, _ = invoke(engine, a, {})
    other, _ = invoke(engine, b, {})
    assert again["seen"]["WRITTEN"] == "by a", "a warm sandbox keeps its own process environment"
    assert other["seen"]["WRITTEN"] is None and other["seen"]["WHO"] == "b"
    assert "WRITTEN" not in os.environ


def test_exception_is_a_function_error_named_by_its_class(engine: LocalEngine, probes: tuple[str, str]) -> None:
    name, _ = probes
    payload, error = invoke(engine, name, {"fail": "o-7"})
    assert error == "Unhandled"
    assert payload["errorType"] == "LookupError"
    assert payload["errorMessage"] == "no such order: o-7"
    assert isinstance(payload["stackTrace"], list) and payload["stackTrace"]
    function, log = engine.runtime.logs[-1]
    assert function == name and "LookupError: no such order: o-7" in log


def test_what_a_handler_prints_goes_to_its_invocation_log(engine: LocalEngine, probes: tuple[str, str]) -> None:
    name, _ = probes
    response = engine.client("lambda").invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    assert base64.b64decode(response["LogResult"]).decode() == "handled by a\n"
    assert engine.runtime.logs[-1] == (name, "handled by a\n")


def test_what_the_init_printed_goes_to_the_first_invocations_log(
    engine: LocalEngine, python_function: PythonFunction
) -> None:
    name = python_function("print('init: connected')\ndef handler(event, context):\n    print('handled')\n")
    invoke(engine, name, {})
    assert engine.runtime.logs[-1] == (name, "init: connected\nhandled\n")
    invoke(engine, name, {})
    assert engine.runtime.logs[-1] == (name, "handled\n"), "a warm start has no init"


def test_a_sandbox_that_dies_is_an_exit_error_and_the_next_invocation_gets_a_new_one(
    engine: LocalEngine, probes: tuple[str, str]
) -> None:
    name, _ = probes
    before, _ = invoke(engine, name, {})
    payload, error = invoke(engine, name, {"exit": 3})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    after, error = invoke(engine, name, {})
    # The warm sandbox given back last is taken first: the one ``before`` ran in died.
    assert error is None and after["pid"] != before["pid"]
    assert not _alive(before["pid"])


def test_a_warm_sandbox_that_died_idle_is_not_reused(engine: LocalEngine, probes: tuple[str, str]) -> None:
    name, _ = probes
    warm, _ = invoke(engine, name, {})
    os.kill(warm["pid"], signal.SIGKILL)
    while _alive(warm["pid"]):
        time.sleep(0.01)
    # The dead one is taken first (given back last); the invocation runs in a new sandbox.
    after, error = invoke(engine, name, {})
    assert error is None and after["pid"] != warm["pid"]


def test_a_sandbox_past_its_timeout_is_stopped_for_real(
    engine: LocalEngine, python_function: PythonFunction, tmp_path: Path
) -> None:
    """Lambda stops the sandbox: nothing the handler would do after its Timeout happens."""
    marker = tmp_path / "ran-on"
    name = python_function(
        f"import time\ndef handler(event, context):\n    time.sleep(2.5)\n    open({str(marker)!r}, 'w').close()\n",
        timeout=1,
    )
    payload, error = invoke(engine, name, {})
    assert error == "Unhandled" and payload["errorType"] == "Sandbox.Timedout"
    time.sleep(2.5)
    assert not marker.exists()


def test_an_import_error_fails_every_invocation_with_its_name(
    engine: LocalEngine, python_function: PythonFunction
) -> None:
    name = python_function("import no_such_module_here\ndef handler(event, context):\n    return 1\n")
    for _ in range(2):
        payload, error = invoke(engine, name, {})
        assert error == "Unhandled"
        assert payload["errorType"] == "ModuleNotFoundError" and "no_such_module_here" in payload["errorMessage"]


def test_unknown_handler_is_a_named_function_error(engine: LocalEngine, python_function: PythonFunction) -> None:
    name = python_function("def handler(event, context):\n    return 1\n")
    engine.client("lambda").update_function_configuration(FunctionName=name, Handler="nowhere.handler")
    payload, error = invoke(engine, name, {})
    assert error == "Unhandled"
    assert payload["errorType"] == "HandlerNotFound"
    assert "nowhere.handler" in payload["errorMessage"]


def test_two_code_folders_with_a_module_of_the_same_name_each_run_their_own(
    engine: LocalEngine, python_function: PythonFunction
) -> None:
    module = f"app_{uuid.uuid4().hex[:8]}"
    names = []
    for marker in ("first", "second"):
        name = python_function("def handler(event, context):\n    return None\n")
        code_dir = engine.runtime.code_dir(_moto_function(name))
        (code_dir / f"{module}.py").write_text(f"def handler(event, context):\n    return {marker!r}\n")
        engine.client("lambda").update_function_configuration(FunctionName=name, Handler=f"{module}.handler")
        names.append(name)
    assert [invoke(engine, name, {}) for name in names] == [("first", None), ("second", None)]


def test_an_idle_sandbox_is_shut_down(
    engine: LocalEngine, probes: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, _ = probes
    first, _ = invoke(engine, name, {})
    monkeypatch.setattr(runtime, "IDLE_SECONDS", 0.0)
    second, _ = invoke(engine, name, {})
    assert second["pid"] != first["pid"] and second["warm"] == 1
    deadline = time.monotonic() + 5
    while _alive(first["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(first["pid"])


def test_wait_idle_waits_for_a_running_invocation(engine: LocalEngine, probes: tuple[str, str]) -> None:
    name, _ = probes
    invoke(engine, name, {})  # warm
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(invoke, engine, name, {"hold": 1.0})
        time.sleep(0.3)
        assert not engine.runtime.wait_idle(timeout=0.1)
        assert engine.runtime.wait_idle(timeout=10)
        assert running.done() or running.result(timeout=1)


def test_prewarm_keeps_that_many_sandboxes_warm(engine: LocalEngine, python_function: PythonFunction) -> None:
    name = python_function(PROBE, env={"WHO": "warm"})
    fn = _moto_function(name)
    assert engine.runtime.prewarm([fn], count=2) == 2
    assert engine.runtime.prewarm([fn], count=2) == 0, "already warm"
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: invoke(engine, name, {"hold": 0.5}), range(2)))
    assert len({result["pid"] for result, _ in answers}) == 2
    assert [result["warm"] for result, _ in answers] == [1, 1], "each sandbox's first invocation"
    assert engine.runtime.prewarm([fn], count=2) == 0, "both given back warm, none started"


def test_sandboxes_report_their_cpu_time(engine: LocalEngine, python_function: PythonFunction) -> None:
    name = python_function("def handler(event, context):\n    return sum(i * i for i in range(2_000_000))\n")
    before = engine.runtime.sandbox_cpu_seconds
    invoke(engine, name, {})
    assert engine.runtime.sandbox_cpu_seconds - before > 0.05, "the loop's CPU, spent in the sandbox"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


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
