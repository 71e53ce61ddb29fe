"""Lambda execution environments: each a process that runs one function's handler,
invocation after invocation, as Lambda reuses a warm sandbox.

Like a Lambda sandbox, each has its own process environment (the function's variables and the
ones Lambda sets, nothing else), its own module globals and SDK clients, and it runs the
handler on a core of its own: the local stack's server keeps to the engine's process.

The engine's process has threads (moto's server), so it cannot fork safely. The runtime
(runtime.py) starts one *zygote* instead (``python -m redrive_local.sandbox``): a process
with no threads that imports the SDK once, then forks a sandbox for each request line it
reads on stdin. The sandbox connects back to the runtime's socket, says who it is, and is
handed one invocation at a time.

This module imports nothing of moto's: a sandbox talks to the local AWS over HTTP only.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection
from pathlib import Path
from typing import Any

PRELOAD = (
    "boto3",
    "boto3.s3.transfer",
    "botocore.session",
    "pydantic",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.tracing",
    "aws_xray_sdk.core",
    "jsonata",
    "re2",
)
"""Imported once by the zygote, so a cold start costs a fork and the function's own imports
(about 0.2 s of CPU for the redrive's), not half a second more of loading the libraries.
Third-party modules only, none of which reads a variable the template sets when imported: a
function's own modules are imported in its sandbox, with its environment, as Lambda's init
phase imports them."""

SDK_SERVICES = (
    "dynamodb",
    "dynamodbstreams",
    "kinesis",
    "lambda",
    "s3",
    "secretsmanager",
    "sns",
    "sqs",
    "ssm",
    "stepfunctions",
)
"""The services whose SDK models the zygote parses once for every sandbox (see
:func:`_share_sdk_models`): the ones the template's functions call."""

KEY_VARIABLE = "REDRIVE_SANDBOX_KEY"  # the runtime socket's authentication key (hex), for the zygote


class HandlerNotFound(Exception):
    """A function's Handler does not name a module and function inside its CodeUri."""


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float  # time.monotonic(): one clock for every process of the machine

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Invocation:
    """What the runtime sends for one invocation: the event as the caller sent it and the
    context's fields."""

    event: Any
    context: LambdaContext


@dataclass(frozen=True)
class Outcome:
    """What the sandbox answers: the payload as JSON, whether it is a function error, and what
    the handler printed."""

    payload: str
    errored: bool
    logs: str
    cpu_seconds: float  # the sandbox's CPU time since it was forked (its init included)


class _InvocationLog(io.TextIOBase):
    """``sys.stdout`` and ``sys.stderr`` of the sandbox: whatever writes to them (print, a
    logging handler made at import time) writes to the running invocation's log; what the
    init phase printed goes to the first invocation's, as in Lambda's log stream."""

    def __init__(self) -> None:
        self.buffer_ = io.StringIO()

    def take(self) -> str:
        """What was written since the last take."""
        text, self.buffer_ = self.buffer_.getvalue(), io.StringIO()
        return text

    def write(self, text: str) -> int:
        return self.buffer_.write(text)

    def isatty(self) -> bool:
        return False


def resolve_handler(code_dir: Path, handler: str) -> Any:
    """``module.function`` inside ``code_dir`` (the function's CodeUri)."""
    module_name, _, attr = handler.rpartition(".")
    module_file = code_dir / (module_name.replace(".", "/") + ".py")
    if not module_name or not module_file.is_file():
        raise HandlerNotFound(f"Handler {handler!r} is not a module in {code_dir}")
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    module = importlib.import_module(module_name)
    loaded_from = Path(getattr(module, "__file__", "") or "").resolve()
    if code_dir.resolve() not in loaded_from.parents:
        raise HandlerNotFound(f"module {module_name} is loaded from {loaded_from}, not from {code_dir}")
    function = getattr(module, attr, None)
    if not callable(function):
        raise HandlerNotFound(f"{module_name} has no function {attr!r}")
    return function


def error_payload(error: BaseException) -> dict[str, Any]:
    """A function error as Lambda reports an exception that escapes the handler; Step
    Functions Retry/Catch match ``errorType`` by name."""
    return {
        "errorType": type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


def run(handler: Any, invocation: Invocation) -> tuple[str, bool]:
    """Run the handler on one event: (payload JSON, errored)."""
    try:
        event = invocation.event
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")
        return json.dumps(handler(event, invocation.context)), False
    except Exception as error:
        traceback.print_exc()
        return json.dumps(error_payload(error)), True


def serve(connection: Connection, code_dir: str, handler_name: str, environment: dict[str, str]) -> None:
    """The sandbox's life: set up the function's process environment, import its handler (the
    init phase), then answer invocations until the runtime closes the pipe."""
    os.environ.clear()
    os.environ.update(environment)
    log = _InvocationLog()
    sys.stdout = sys.stderr = log
    try:
        handler: Any = resolve_handler(Path(code_dir), handler_name)
        init_error: BaseException | None = None
    except Exception as error:  # Lambda answers every invocation of a broken init with its error
        handler, init_error = None, error
        traceback.print_exc()
    init_log = log.take()
    while True:
        try:
            invocation: Invocation = connection.recv()
        except (EOFError, OSError):
            return
        if init_error is not None:
            outcome = Outcome(json.dumps(error_payload(init_error)), True, init_log, time.process_time())
        else:
            payload, errored = run(handler, invocation)
            outcome = Outcome(payload, errored, init_log + log.take(), time.process_time())
            init_log = ""
        connection.send(outcome)


@dataclass(frozen=True)
class Hello:
    """A new sandbox's first message on its connection: which request started it, and its pid
    (the runtime stops a sandbox that runs past its Timeout by killing it)."""

    request: str
    pid: int


def _fork_sandbox(address: str, key: bytes, request: dict[str, Any]) -> None:
    if os.fork() != 0:
        return
    try:  # the sandbox: never returns to the zygote's loop
        sys.stdin.close()
        connection = Client(address, family="AF_UNIX", authkey=key)
        connection.send(Hello(request["id"], os.getpid()))
        serve(connection, request["codeDir"], request["handler"], request["environment"])
    finally:
        os._exit(0)


def _share_sdk_models() -> None:
    """Parse the SDK's models of :data:`SDK_SERVICES` once, in the zygote, and give every
    botocore session of every sandbox that one loader.

    A botocore session parses a service's JSON models on its first client (20-70 ms each for
    DynamoDB or S3); each sandbox would parse them again on its first invocation. The models
    are read-only data, and sessions in one process share a loader's cache anyway when they
    share the loader; forked sandboxes inherit the parsed copy. Locally only: on Lambda a
    cold start parses them, which the local stack does not try to time."""
    import botocore.session

    if not hasattr(botocore.session.Session, "_register_data_loader"):
        return  # another botocore: each session parses its own, as it would anyway
    session = botocore.session.Session()
    for service in SDK_SERVICES:
        with contextlib.suppress(Exception):
            session.create_client(
                service,
                region_name="us-east-1",
                endpoint_url="http://127.0.0.1:1",  # never called
                aws_access_key_id="zygote",
                aws_secret_access_key="zygote",
            )
    loader = session.get_component("data_loader")

    def register(self: Any) -> None:
        self._components.lazy_register_component("data_loader", lambda: loader)

    botocore.session.Session._register_data_loader = register  # type: ignore[method-assign]


def zygote() -> None:
    """``python -m redrive_local.sandbox ADDRESS SYS_PATH_JSON``: preload, then fork a sandbox
    per JSON line on stdin (``{"id", "codeDir", "handler", "environment"}``) until stdin
    closes (the runtime has stopped, or its process has ended)."""
    address, path = sys.argv[1], json.loads(sys.argv[2])
    key = bytes.fromhex(os.environ.pop(KEY_VARIABLE))
    sys.path[:] = path
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # a cold start then pays for it, nothing more
            importlib.import_module(name)
    _share_sdk_models()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # ended sandboxes are reaped by the kernel
    while line := sys.stdin.buffer.readline():
        _fork_sandbox(address, key, json.loads(line))


if __name__ == "__main__":
    # Run as the module itself, not as __main__: the classes the sandboxes pickle must be
    # redrive_local.sandbox's, which the runtime unpickles.
    importlib.import_module("redrive_local.sandbox").zygote()
