"""The local AWS: moto's server on 127.0.0.1, a free port, in this process.

One engine per process (moto's backends are process-global). Clients made by
:meth:`LocalEngine.client` talk HTTP to the server, exactly as the functions and the
Step Functions interpreter do.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from . import strict, workarounds
from .runtime import LambdaRuntime

REGION = "us-east-1"
ACCOUNT = "123456789012"
REPO_ROOT = Path(__file__).resolve().parents[2]

_engine: LocalEngine | None = None
_engine_lock = threading.Lock()


class LocalEngine:
    def __init__(self, repo_root: Path = REPO_ROOT) -> None:
        from moto.server import ThreadedMotoServer

        workarounds.install()
        strict.install()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # The interpreter logs every caught task failure with the whole state tree; the
        # execution history and the run report say what happened.
        logging.getLogger("moto").setLevel(logging.CRITICAL)
        self.repo_root = repo_root
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.port = port
        self.endpoint_url = f"http://{host}:{port}"
        # moto's Step Functions interpreter makes its own clients to localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(port)
        self.runtime = LambdaRuntime(repo_root, self.endpoint_url, REGION)
        self.runtime.install()
        from .api_gateway import LocalApiGateway

        self.api = LocalApiGateway(self)
        self.session = boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION
        )
        self._session_lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}
        self._config = Config(
            retries={"max_attempts": 2, "mode": "standard"},
            account_id_endpoint_mode="disabled",
            max_pool_connections=50,
        )

    def client(self, service: str, user_agent_extra: str = "") -> Any:
        """An administrator's client (the harness's): strict.iam checks none of its calls;
        ``user_agent_extra`` marks who calls (see strict.clock). One client per service and
        caller, made once and shared (a boto3 client is safe to call from several threads);
        threads share the session, so clients are made one at a time (a Session is not safe
        to share while it makes one)."""
        key = (service, user_agent_extra)
        with self._session_lock:
            made = self._clients.get(key)
            if made is None:
                made = self.session.client(
                    service, endpoint_url=self.endpoint_url, config=self._with_agent(user_agent_extra)
                )
                self._clients[key] = made
            return made

    def role_client(self, service: str, role_arn: str, session_name: str, user_agent_extra: str = "") -> Any:
        """A client signed with ``role_arn``'s credentials (assumed in moto's STS): its calls
        are authorised against that role's policies, as AWS authorises them."""
        from .strict.iam import role_credentials

        credentials = role_credentials(role_arn, session_name, REGION)
        return boto3.session.Session(region_name=REGION, **credentials.as_client_kwargs()).client(
            service, endpoint_url=self.endpoint_url, config=self._with_agent(user_agent_extra)
        )

    def _with_agent(self, user_agent_extra: str) -> Config:
        return self._config.merge(Config(user_agent_extra=user_agent_extra)) if user_agent_extra else self._config

    def fire_schedules(self, stack_name: str = "", function: str = "ReconcileFunction") -> int:
        """Let the schedules come round once (see workarounds.eventbridge.fire_schedules);
        with ``stack_name``, only that stack's (every test stack has its own reconciler).
        Only the schedules of the template function ``function`` (its logical id): the
        reconciler's by default; ``DlqArrivalsFunction`` for the new-failures check."""
        from .workarounds.eventbridge import fire_schedules

        return fire_schedules(ACCOUNT, REGION, f"{stack_name}-" if stack_name else "", f"-{function}-")

    def warm_functions(self, stack_name: str, count: int = 1, names: tuple[str, ...] = ()) -> int:
        """``count`` warm sandboxes for each function of the stack, or for those of its
        functions named in ``names`` (see LambdaRuntime.prewarm)."""
        from moto.awslambda.utils import get_backend

        functions = [
            f
            for f in get_backend(ACCOUNT, REGION).list_functions()
            if f.function_name.startswith(f"{stack_name}-") and (not names or f.function_name in names)
        ]
        return self.runtime.prewarm(functions, count)

    def stack_of(self, physical_id: str) -> str:
        """The name of the stack that created a resource (a bucket, a table), or "" (moto's
        DescribeStackResources takes no PhysicalResourceId: the stacks are looked through)."""
        cloudformation = self.client("cloudformation")
        for page in cloudformation.get_paginator("describe_stacks").paginate():
            for stack in page["Stacks"]:
                listed = cloudformation.describe_stack_resources(StackName=stack["StackName"])["StackResources"]
                if any(r.get("PhysicalResourceId") == physical_id for r in listed):
                    return str(stack["StackName"])
        return ""

    def stop(self) -> None:
        self.runtime.stop()
        self._server.stop()


class _EndpointSession:
    """A boto3-session look-alike whose clients all point at the engine."""

    def __init__(self, engine: LocalEngine) -> None:
        self._engine = engine

    def client(self, service: str, user_agent_extra: str = "") -> Any:
        return self._engine.client(service, user_agent_extra)


def get_engine() -> LocalEngine:
    """The process's engine, started on first use."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = LocalEngine()
        return _engine


def endpoint_session(engine: LocalEngine) -> _EndpointSession:
    return _EndpointSession(engine)
