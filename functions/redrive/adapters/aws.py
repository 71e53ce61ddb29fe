"""boto3 clients, made once per execution environment and reused across invocations."""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config

_clients: dict[tuple[str, str, str], Any] = {}
_lock = threading.Lock()
_CONFIG = Config(retries={"max_attempts": 5, "mode": "adaptive"}, max_pool_connections=20)


def client(service: str) -> Any:
    """A client for ``service`` in the function's region (and endpoint, when one is set)."""
    key = (service, os.environ.get("AWS_REGION", ""), os.environ.get("AWS_ENDPOINT_URL", ""))
    with _lock:
        if key not in _clients:
            _clients[key] = boto3.session.Session().client(service, config=_CONFIG)
        return _clients[key]
