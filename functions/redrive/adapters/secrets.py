"""The stack's key for signing decision links, from Secrets Manager (cached per secret)."""

from __future__ import annotations

import threading
from typing import Any

_keys: dict[str, bytes] = {}
_lock = threading.Lock()


def signing_key(secrets: Any, secret_arn: str) -> bytes:
    with _lock:
        if secret_arn not in _keys:
            secret = secrets.get_secret_value(SecretId=secret_arn)["SecretString"]
            _keys[secret_arn] = secret.encode()
        return _keys[secret_arn]
