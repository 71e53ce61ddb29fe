"""Lambda as strict as AWS where moto (with the local runtime) accepts more.

moto checks no invoke request size, runs a handler for as long as it takes whatever the
function's Timeout, and never throttles a function over its reserved concurrency. Each
matters here: the redrive target must split what Lambda refuses, a consumer (or a redrive
function) running past its Timeout must fail as on AWS, and a throttled consumer must not
fail the whole batch.

(moto already refuses a synchronous response over about 6 MB with
``Function.ResponseSizeTooLarge``, as Lambda does; no rule is needed there.)
"""

from __future__ import annotations

import ctypes
import json
import threading
import uuid
from collections import Counter
from typing import Any

from moto.awslambda.exceptions import LambdaClientError

from .registry import aws_rule
from .switch import enabled

# "For synchronous invocations, the maximum payload size is 6 MB" (Invoke API reference);
# the refusal says "Request must be smaller than 6291456 bytes for the InvokeFunction operation".
SYNC_PAYLOAD_MAX = 6 * 1024 * 1024


def _synchronous(headers: Any) -> bool:
    kind = (headers or {}).get("X-Amz-Invocation-Type") or (headers or {}).get("x-amz-invocation-type")
    return kind in (None, "", "RequestResponse")


class RequestEntityTooLargeException(LambdaClientError):
    code = 413

    def __init__(self) -> None:
        super().__init__(
            "RequestEntityTooLargeException",
            f"Request must be smaller than {SYNC_PAYLOAD_MAX} bytes for the InvokeFunction operation",
        )


class TooManyRequestsException(LambdaClientError):
    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")
        self.description = json.dumps(
            {
                "__type": "TooManyRequestsException",
                "message": "Rate Exceeded.",
                "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                "Type": "User",
            }
        )


@aws_rule(
    "Invoke: for synchronous invocations the maximum payload size is 6 MB; a bigger request is refused "
    "with RequestEntityTooLargeException (HTTP 413), 'Request must be smaller than 6291456 bytes'"
)
def _lambda_sync_invoke_payload_size() -> None:
    """moto runs a synchronous invoke whatever the size of its request."""
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.invoke

    def invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> Any:
        size = len(body.encode() if isinstance(body, str) else (body or b""))
        if enabled() and _synchronous(request_headers) and size > SYNC_PAYLOAD_MAX:
            raise RequestEntityTooLargeException()
        return original(self, body, request_headers, response_headers)

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]


_in_flight: Counter[str] = Counter()
_in_flight_lock = threading.Lock()


@aws_rule(
    "Invoke: a function with reserved concurrency runs at most that many invocations at once; a synchronous "
    "invoke over it is throttled with TooManyRequestsException (HTTP 429, "
    "Reason ReservedFunctionConcurrentInvocationLimitExceeded)"
)
def _lambda_reserved_concurrency() -> None:
    """moto records ReservedConcurrentExecutions (PutFunctionConcurrency, the template) and
    never applies it: every invoke runs, however many are already running."""
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.invoke

    def invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> Any:
        reserved = getattr(self, "reserved_concurrency", None)
        if not enabled() or reserved in (None, "") or not _synchronous(request_headers):
            return original(self, body, request_headers, response_headers)
        name = self.function_arn
        with _in_flight_lock:
            if _in_flight[name] >= int(reserved):
                raise TooManyRequestsException()
            _in_flight[name] += 1
        try:
            return original(self, body, request_headers, response_headers)
        finally:
            with _in_flight_lock:
                _in_flight[name] -= 1

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]


class _SandboxTimedOut(BaseException):
    """Raised in the thread that waits on an invocation once its Timeout has passed: the
    runtime kills the invocation's sandbox, as Lambda stops it. A BaseException, so no
    ``except Exception`` on the way swallows it."""


def _stop(thread: threading.Thread) -> None:
    """Raise :class:`_SandboxTimedOut` in ``thread`` at its next Python instruction (the
    runtime waits on a sandbox in short polls, so within a twentieth of a second)."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(_SandboxTimedOut))


def timed_out_payload(request_id: str, timeout: float) -> dict[str, str]:
    """What Lambda answers for an invocation that ran past its Timeout."""
    return {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
    }


@aws_rule(
    "A function runs at most its configured Timeout; past it Lambda stops the invocation and answers a "
    "function error 'Task timed out after N seconds' (errorType Sandbox.Timedout), which Step Functions "
    "reports as the task's error"
)
def _lambda_function_timeout() -> None:
    """The local runtime (``workarounds._run_lambda_in_sandboxes``) runs a handler to its
    end, however long past its Timeout: pacing sleeps and slow consumers succeed locally
    where Lambda stops them. Each invocation is now waited on in its own thread, for at
    most the function's Timeout; then its sandbox is killed and it answers as Lambda does."""
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.invoke

    def invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> Any:
        if not enabled():
            return original(self, body, request_headers, response_headers)
        timeout = float(self.timeout)
        headers: dict[str, str] = {}  # the worker's own: a late finish changes nothing returned
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["result"] = original(self, body, request_headers, headers)
            except _SandboxTimedOut:
                pass
            except BaseException as error:  # handed to the caller's thread as it was
                outcome["error"] = error

        worker = threading.Thread(target=run, name=f"lambda:{self.function_name}", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            _stop(worker)
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(timed_out_payload(str(uuid.uuid4()), timeout)).encode()
        if "error" in outcome:
            raise outcome["error"]
        response_headers.update(headers)
        return outcome["result"]

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]
