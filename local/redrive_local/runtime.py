"""The in-process Lambda runtime: runs a function's template Handler in this process.

moto routes every Invoke (from boto3, from the Step Functions interpreter, from the
event source mapping emulator) here through ``workarounds.set_lambda_invoker``.

What it keeps faithful to Lambda:
- the handler is ``module.function`` resolved inside the function's CodeUri folder;
- the function sees exactly its template Environment, resolved to local values, plus the
  variables Lambda itself sets (AWS_REGION, AWS_LAMBDA_FUNCTION_NAME, ...) and an
  AWS_ENDPOINT_URL that points its SDK clients at the local stack. Invocations run on
  moto's request threads, concurrently, so the environment is per thread (see
  :class:`ThreadEnviron`), not a global swap;
- an exception becomes a function error whose payload carries ``errorType`` (the class
  name) and ``errorMessage``, which Step Functions Retry/Catch match by name.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import workarounds
from .strict.iam import role_credentials

CODE_BUCKET = "redrive-local-code"


class ThreadEnviron(MutableMapping[str, str]):
    """``os.environ`` as a function sees it: the thread's overlay if one is active.

    While a handler runs, its thread sees only the base process variables named in
    ``passthrough`` plus the function's own environment; other threads see the process
    environment unchanged.
    """

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self._base = base
        self._local = threading.local()

    def _current(self) -> MutableMapping[str, str]:
        overlay = getattr(self._local, "env", None)
        return overlay if overlay is not None else self._base

    def activate(self, env: dict[str, str] | None) -> None:
        self._local.env = env

    def __getitem__(self, key: str) -> str:
        return self._current()[key]

    def __setitem__(self, key: str, value: str) -> None:
        self._current()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._current()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._current()))

    def __len__(self) -> int:
        return len(self._current())

    def copy(self) -> dict[str, str]:
        return dict(self._current())


_ACTIVE_LOG = threading.local()  # the running invocation's log buffer, per thread


class ThreadOutput(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr``: what a handler prints goes to its invocation's log
    (as Lambda sends it to CloudWatch Logs), not to the terminal of the local stack.

    Every instance writes to the same per-thread buffer: a logging handler created with an
    older instance (before a test runner swapped ``sys.stdout``) still logs to the right
    invocation."""

    def __init__(self, base: Any) -> None:
        self._base = base

    def activate(self, buffer: io.StringIO | None) -> None:
        _ACTIVE_LOG.buffer = buffer

    def write(self, text: str) -> int:
        buffer = getattr(_ACTIVE_LOG, "buffer", None)
        return (buffer if buffer is not None else self._base).write(text)

    def flush(self) -> None:
        if getattr(_ACTIVE_LOG, "buffer", None) is None:
            self._base.flush()

    def isatty(self) -> bool:
        return False


def _thread_outputs() -> tuple[ThreadOutput, ThreadOutput]:
    if not isinstance(sys.stdout, ThreadOutput):
        sys.stdout = ThreadOutput(sys.stdout)
    if not isinstance(sys.stderr, ThreadOutput):
        sys.stderr = ThreadOutput(sys.stderr)
    return sys.stdout, sys.stderr  # type: ignore[return-value]


_PASSTHROUGH = ("PATH", "HOME", "LANG", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")


def _thread_environ() -> ThreadEnviron:
    if not isinstance(os.environ, ThreadEnviron):
        os.environ = ThreadEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003 - a view, not a reset
    return os.environ  # type: ignore[return-value]


_default_sessions: dict[tuple[str, str], Any] = {}
_default_sessions_lock = threading.Lock()


def _per_function_default_session() -> Any:
    """``boto3.client(...)``'s default session, one per set of credentials in the environment.

    boto3 keeps one default session per process and resolves its credentials once; on Lambda a
    process runs one function, here it runs them all, so the first function's role would sign
    every other function's ``boto3.client`` calls. Keyed by the credentials the (thread's)
    environment holds, each function keeps its own."""
    import boto3.session

    key = (os.environ.get("AWS_ACCESS_KEY_ID", ""), os.environ.get("AWS_REGION", ""))
    with _default_sessions_lock:
        if key not in _default_sessions:
            _default_sessions[key] = boto3.session.Session()
        return _default_sessions[key]


def _install_default_sessions() -> None:
    import boto3

    boto3._get_default_session = _per_function_default_session  # type: ignore[attr-defined]


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
    deadline: float

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class HandlerNotFound(Exception):
    """A function's Handler does not name a module and function inside its CodeUri."""


class InProcessRuntime:
    """Runs functions for moto; counts invocations per function name."""

    def __init__(self, repo_root: Path, endpoint_url: str, region: str) -> None:
        self.repo_root = repo_root
        self.endpoint_url = endpoint_url
        self.region = region
        self.invocations: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._import_lock = threading.Lock()
        self._environ = _thread_environ()
        self._stdout, self._stderr = _thread_outputs()
        self.logs: list[tuple[str, str]] = []  # (function name, what it printed), newest last

    def install(self) -> None:
        workarounds.set_lambda_invoker(self.invoke)
        _install_default_sessions()

    def code_dir(self, fn: Any) -> Path:
        code = getattr(fn, "code", {}) or {}
        key = code.get("S3Key", "")
        if code.get("S3Bucket") != CODE_BUCKET or not key:
            raise HandlerNotFound(f"{fn.function_name}: code is not a local CodeUri ({code})")
        return self.repo_root / key

    def resolve_handler(self, fn: Any) -> Any:
        module_name, _, attr = str(fn.handler).rpartition(".")
        code_dir = self.code_dir(fn)
        module_file = code_dir / (module_name.replace(".", "/") + ".py")
        if not module_name or not module_file.is_file():
            raise HandlerNotFound(f"{fn.function_name}: Handler {fn.handler!r} is not a module in {code_dir}")
        with self._import_lock:
            if str(code_dir) not in sys.path:
                sys.path.insert(0, str(code_dir))
            module = importlib.import_module(module_name)
        loaded_from = Path(getattr(module, "__file__", "") or "").resolve()
        if code_dir.resolve() not in loaded_from.parents:
            # One process holds every function: a module name means one module. Real Lambda
            # gives each function its own process, so say so rather than run the wrong code.
            raise HandlerNotFound(
                f"{fn.function_name}: module {module_name} is already loaded from {loaded_from}, not from "
                f"{code_dir}; the local runtime cannot run two code folders that share a module name"
            )
        handler = getattr(module, attr, None)
        if not callable(handler):
            raise HandlerNotFound(f"{fn.function_name}: {module_name} has no function {attr!r}")
        return handler

    def function_environment(self, fn: Any) -> dict[str, str]:
        credentials = role_credentials(str(fn.role), str(fn.function_name), self.region)
        env = {k: v for k in _PASSTHROUGH if (v := os.environ.get(k)) is not None}
        env.update(
            {
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
                "_HANDLER": str(fn.handler),
                # The function's own role, assumed in moto's STS as Lambda assumes it: its
                # calls are authorised against that role's policies (strict.iam).
                "AWS_ACCESS_KEY_ID": credentials.access_key_id,
                "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
                "AWS_SESSION_TOKEN": credentials.session_token,
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
                # No X-Ray daemon here: the handlers keep their Tracer, with nothing to send to.
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        env.update({k: str(v) for k, v in (fn.environment_vars or {}).items()})
        return env

    def invoke(self, fn: Any, event: Any) -> tuple[str, bool, str]:
        """Run ``fn`` on ``event``; return (payload JSON, errored, logs)."""
        with self._count_lock:
            self.invocations[fn.function_name] += 1
        if isinstance(event, str):
            event = json.loads(event or "{}")
        context = LambdaContext(
            function_name=fn.function_name,
            function_version="$LATEST",
            invoked_function_arn=fn.function_arn,
            memory_limit_in_mb=int(fn.memory_size),
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{fn.function_name}",
            log_stream_name="local",
            deadline=time.monotonic() + float(fn.timeout),
        )
        output = io.StringIO()
        self._environ.activate(self.function_environment(fn))
        # Whoever replaced sys.stdout since (a test runner's capture) is wrapped again.
        self._stdout, self._stderr = _thread_outputs()
        self._stdout.activate(output)
        self._stderr.activate(output)
        try:
            handler = self.resolve_handler(fn)
            result = handler(event, context)
            return json.dumps(result), False, output.getvalue()
        except Exception as error:
            payload = {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
            output.write(traceback.format_exc())
            return json.dumps(payload), True, output.getvalue()
        finally:
            self._environ.activate(None)
            self._stdout.activate(None)
            self._stderr.activate(None)
            with self._count_lock:
                self.logs.append((fn.function_name, output.getvalue()))
                del self.logs[:-500]
