"""The stack's key for signing decision links, from Secrets Manager (cached per secret)."""

from __future__ import annotations

import os
import threading

from ..adapters import aws

_keys: dict[str, bytes] = {}
_lock = threading.Lock()


def signing_key() -> bytes:
    arn = os.environ["APPROVAL_SECRET_ARN"]
    with _lock:
        if arn not in _keys:
            secret = aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
            _keys[arn] = secret.encode()
        return _keys[arn]
