"""The local Lambda runtime: runs a function's template Handler in an execution environment of
its own, a sandbox process (sandbox.py), as Lambda runs it in a sandbox.

moto routes every Invoke (from boto3, from the Step Functions interpreter, from the
event source mapping emulator) here through ``workarounds.set_lambda_invoker``.

What it keeps faithful to Lambda:
- the handler is ``module.function`` resolved inside the function's CodeUri folder;
- the function sees exactly its template Environment, resolved to local values, plus the
  variables Lambda itself sets (AWS_REGION, AWS_LAMBDA_FUNCTION_NAME, ...) and an
  AWS_ENDPOINT_URL that points its SDK clients at the local stack; nothing of the engine's
  process environment but PATH, HOME and the like;
- one invocation at a time per sandbox; a sandbox is reused while warm (module globals and
  SDK clients survive between invocations), and concurrent invocations get one each, so a
  function's code runs in as many processes as it has invocations at once;
- an exception becomes a function error whose payload carries ``errorType`` (the class
  name) and ``errorMessage``, which Step Functions Retry/Catch match by name; a sandbox that
  dies mid-invocation is a ``Runtime.ExitError``; one stopped at its Timeout
  (strict.lambda_) is killed with its invocation.

The functions' own CPU is spent in the sandboxes, on the machine's other cores; moto's server
keeps the engine's process (one core, under its GIL) to itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import Future
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any

from . import sandbox, workarounds
from .sandbox import HandlerNotFound, LambdaContext
from .strict.iam import role_credentials

CODE_BUCKET = "redrive-local-code"

_PASSTHROUGH = ("PATH", "HOME", "LANG", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")


class _Sandbox:
    """The runtime's handle on one execution environment (a sandbox process)."""

    def __init__(self, connection: Connection, pid: int) -> None:
        self.connection = connection
        self.pid = pid
        self.idle_since = time.monotonic()
        self.cpu_reported = 0.0

    def close(self) -> None:
        """Stop it, busy or not (Lambda stops a sandbox whose invocation timed out)."""
        self.connection.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


IDLE_SECONDS = 60.0
"""An execution environment unused this long is shut down (Lambda keeps one for minutes; the
local stack is short-lived and starts many stacks' functions)."""

START_SECONDS = 30.0  # how long a new sandbox may take to connect back


def _sandbox_key(fn: Any, code_dir: Path, env: dict[str, str]) -> tuple[str, ...]:
    """Which warm sandboxes may run an invocation: those of the same function, code, handler
    and environment (a configuration change gets new ones, as on Lambda)."""
    return (fn.function_arn, str(code_dir), str(fn.handler), json.dumps(env, sort_keys=True))


class SandboxStartFailed(RuntimeError):
    """The zygote did not fork a sandbox that connected back in time."""


class LambdaRuntime:
    """Runs functions for moto, each invocation in a sandbox; counts invocations per function
    name and keeps what they printed."""

    def __init__(self, repo_root: Path, endpoint_url: str, region: str) -> None:
        self.repo_root = repo_root
        self.endpoint_url = endpoint_url
        self.region = region
        self.invocations: Counter[str] = Counter()
        self.logs: list[tuple[str, str]] = []  # (function name, what it printed), newest last
        self.sandbox_cpu_seconds = 0.0  # the sandboxes' CPU time, as far as they reported it
        self._count_lock = threading.Lock()
        self._running = 0
        self._idle_changed = threading.Condition(self._count_lock)
        self._idle: dict[tuple[str, ...], list[_Sandbox]] = {}
        self._idle_lock = threading.Lock()
        self._reaped_at = 0.0
        self._start_lock = threading.Lock()
        self._zygote: subprocess.Popen[bytes] | None = None
        self._listener: Listener | None = None
        self._folder = ""
        self._starting: dict[str, Future[_Sandbox]] = {}

    def install(self) -> None:
        workarounds.set_lambda_invoker(self.invoke)

    def code_dir(self, fn: Any) -> Path:
        code = getattr(fn, "code", {}) or {}
        key = code.get("S3Key", "")
        if code.get("S3Bucket") != CODE_BUCKET or not key:
            raise HandlerNotFound(f"{fn.function_name}: code is not a local CodeUri ({code})")
        return self.repo_root / key

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

    def prewarm(self, functions: Iterable[Any], count: int = 1) -> int:
        """Keep ``count`` sandboxes warm for each function (moto's ``LambdaFunction``), as
        provisioned concurrency would: their init (the handler's imports) runs now, on
        another core, not in the path of the first invocations. Returns how many started."""
        started = 0
        for fn in functions:
            try:
                code_dir = self.code_dir(fn)
            except HandlerNotFound:
                continue  # its invocations answer why
            env = self.function_environment(fn)
            key = _sandbox_key(fn, code_dir, env)
            with self._idle_lock:
                missing = count - len(self._idle.get(key, []))
            for _ in range(missing):
                self._give_back(key, self._start(code_dir, str(fn.handler), env))
                started += 1
        return started

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until no invocation is running (one an EventBridge rule started when an
        execution ended may outlast the execution); False if one still runs at ``timeout``."""
        with self._idle_changed:
            return self._idle_changed.wait_for(lambda: self._running == 0, timeout)

    def _ensure_zygote(self) -> subprocess.Popen[bytes]:
        """Under ``_start_lock``: the zygote, started on first use (and again if it ended)."""
        if self._zygote is not None and self._zygote.poll() is None:
            return self._zygote
        if self._listener is None:
            self._folder = tempfile.mkdtemp(prefix="redrive-sandboxes-")
            self._key = secrets.token_bytes(16)
            address = os.path.join(self._folder, "runtime.sock")
            self._listener = Listener(address, family="AF_UNIX", backlog=64, authkey=self._key)
            threading.Thread(target=self._accept, name="lambda-sandboxes", daemon=True).start()
        env = {**os.environ.copy(), sandbox.KEY_VARIABLE: self._key.hex()}
        self._zygote = subprocess.Popen(
            [sys.executable, "-m", "redrive_local.sandbox", str(self._listener.address), json.dumps(sys.path)],
            stdin=subprocess.PIPE,
            env=env,
        )
        return self._zygote

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                connection = self._listener.accept()
                hello: sandbox.Hello = connection.recv()
            except OSError:
                if self._listener is None:  # stopped
                    return
                continue
            except Exception:  # a connection that failed authentication or said nothing
                continue
            with self._start_lock:
                waiting = self._starting.pop(hello.request, None)
            if waiting is None:
                connection.close()
            else:
                waiting.set_result(_Sandbox(connection, hello.pid))

    def _start(self, code_dir: Path, handler: str, env: dict[str, str]) -> _Sandbox:
        request = uuid.uuid4().hex
        started: Future[_Sandbox] = Future()
        line = json.dumps({"id": request, "codeDir": str(code_dir), "handler": handler, "environment": env})
        with self._start_lock:
            zygote = self._ensure_zygote()
            self._starting[request] = started
            assert zygote.stdin is not None
            zygote.stdin.write(line.encode() + b"\n")
            zygote.stdin.flush()
        try:
            return started.result(timeout=START_SECONDS)
        except TimeoutError:
            with self._start_lock:
                self._starting.pop(request, None)
            raise SandboxStartFailed(f"no sandbox for {handler} connected within {START_SECONDS:g} s") from None

    def _take(self, key: tuple[str, ...]) -> _Sandbox | None:
        stale = self._stale()
        taken: _Sandbox | None = None
        with self._idle_lock:
            pool = self._idle.get(key)
            if pool:
                taken = pool.pop()
        for box in stale:
            box.close()
        return taken

    def _stale(self) -> list[_Sandbox]:
        """The sandboxes idle past IDLE_SECONDS, taken out of the pools; looked for at most
        once a second (every invocation passes here)."""
        now = time.monotonic()
        stale: list[_Sandbox] = []
        with self._idle_lock:
            if now - self._reaped_at < min(1.0, IDLE_SECONDS):
                return stale
            self._reaped_at = now
            for key, idle in list(self._idle.items()):
                stale.extend(s for s in idle if now - s.idle_since >= IDLE_SECONDS)
                fresh = [s for s in idle if now - s.idle_since < IDLE_SECONDS]
                if fresh:
                    self._idle[key] = fresh
                else:
                    del self._idle[key]
        return stale

    def _give_back(self, key: tuple[str, ...], box: _Sandbox) -> None:
        box.idle_since = time.monotonic()
        with self._idle_lock:
            self._idle.setdefault(key, []).append(box)

    def stop(self) -> None:
        with self._idle_lock:
            boxes = [box for idle in self._idle.values() for box in idle]
            self._idle.clear()
        for box in boxes:
            box.close()
        with self._start_lock:
            if self._zygote is not None:
                assert self._zygote.stdin is not None
                self._zygote.stdin.close()
                self._zygote.wait(timeout=10)
                self._zygote = None
            if self._listener is not None:
                listener, self._listener = self._listener, None
                listener.close()
                shutil.rmtree(self._folder, ignore_errors=True)

    def invoke(self, fn: Any, event: Any) -> tuple[str, bool, str]:
        """Run ``fn`` on ``event`` in a sandbox; return (payload JSON, errored, logs)."""
        with self._count_lock:
            self.invocations[fn.function_name] += 1
            self._running += 1
        try:
            payload, errored, logs = self._invoke(fn, event)
        finally:
            with self._count_lock:
                self._running -= 1
                self._idle_changed.notify_all()
        with self._count_lock:
            self.logs.append((fn.function_name, logs))
            del self.logs[:-500]
        return payload, errored, logs

    def _invoke(self, fn: Any, event: Any) -> tuple[str, bool, str]:
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
        try:
            code_dir = self.code_dir(fn)
        except HandlerNotFound as error:
            return json.dumps(sandbox.error_payload(error)), True, ""
        env = self.function_environment(fn)
        key = _sandbox_key(fn, code_dir, env)
        box = self._take(key) or self._start(code_dir, str(fn.handler), env)
        try:
            try:
                box.connection.send(sandbox.Invocation(event, context))
            except OSError:  # a warm sandbox that died idle never got it: Lambda would not reuse it
                box.close()
                box = self._start(code_dir, str(fn.handler), env)
                box.connection.send(sandbox.Invocation(event, context))
            # Short waits: a Timeout (strict.lambda_) stops this thread between two of them.
            while not box.connection.poll(0.05):
                pass
            outcome: sandbox.Outcome = box.connection.recv()
        except (EOFError, OSError):
            box.close()
            payload = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {context.aws_request_id} Error: Runtime exited without providing a reason",
            }
            return json.dumps(payload), True, ""
        except BaseException:
            box.close()  # stopped (its Timeout): Lambda stops the sandbox with it
            raise
        with self._count_lock:
            self.sandbox_cpu_seconds += outcome.cpu_seconds - box.cpu_reported
        box.cpu_reported = outcome.cpu_seconds
        self._give_back(key, box)
        return outcome.payload, outcome.errored, outcome.logs
