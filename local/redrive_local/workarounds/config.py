"""moto's configuration for the local stack: executing state machines, no Docker."""

from __future__ import annotations

import os

from moto.core.config import default_user_config

from .registry import workaround


@workaround
def _configure_moto() -> None:
    """moto executes state machines only with this flag, and runs Lambda only in Docker.

    Lambda code in the template points at a local folder, not an S3 object, so moto's
    check that the code object exists is turned off (``VALIDATE_LAMBDA_S3``).
    """
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    default_user_config["lambda"] = {"use_docker": False}
    os.environ["VALIDATE_LAMBDA_S3"] = "false"
