"""The clock the strict stream rules read: real monotonic time, which a test may freeze or
move forward (an iterator's 5 or 15 minutes, a throttle's second) without waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class StrictClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None

    def now(self) -> float:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at + self._offset
            return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        """Everything the rules time (iterator ages, call windows) is ``seconds`` older."""
        with self._lock:
            self._offset += seconds

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Time stands still for the duration (calls in one window, however slow the machine)."""
        with self._lock:
            self._frozen_at = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._frozen_at = None


CLOCK = StrictClock()

LIVE_CONSUMER_AGENT = "redrive-local-esm"
"""User-agent mark of the local event source mapping emulator's stream clients. The emulator
compresses time (it polls a shard back to back, where AWS's poller reads each shard about
once a second), so the per-shard call-rate rules do not count its calls."""
