"""The stack's run defaults from SSM Parameter Store, as the core's RunDefaultsSource port.

Read once per execution environment and kept for ``CACHE_SECONDS``: a warm Prepare makes no
SSM call, and a changed parameter is seen within that time (or on the next cold start).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

CACHE_SECONDS = 300.0

_cache: dict[str, tuple[str, float]] = {}
_lock = threading.Lock()


class SsmRunDefaults:
    def __init__(self, ssm: Any, parameter_name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.ssm = ssm
        self.parameter_name = parameter_name
        self.clock = clock

    def get(self) -> str:
        now = self.clock()
        with _lock:
            cached = _cache.get(self.parameter_name)
            if cached is not None and now - cached[1] < CACHE_SECONDS:
                return cached[0]
        value = str(self.ssm.get_parameter(Name=self.parameter_name)["Parameter"]["Value"])
        with _lock:
            _cache[self.parameter_name] = (value, now)
        return value


def forget_cached() -> None:
    """Drop every cached value (a test's fresh container)."""
    with _lock:
        _cache.clear()
