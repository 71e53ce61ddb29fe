"""Whether the local stack is strict (the default) or as lenient as moto.

Strict is the default for ``make test``, ``make demo`` and every rehearsal. Set
``REDRIVE_LOCAL_LENIENT=1`` (the CLI's ``--lenient``) to compare with moto's own behaviour;
tests use :func:`lenient` for the same.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

LENIENT_ENV = "REDRIVE_LOCAL_LENIENT"

_state = threading.local()
_process_lenient: bool | None = None


def enabled() -> bool:
    """True unless lenient was asked for, in this thread (:func:`lenient`) or the process."""
    local = getattr(_state, "lenient", None)
    if local is not None:
        return not local
    if _process_lenient is not None:
        return not _process_lenient
    return os.environ.get(LENIENT_ENV, "") not in ("1", "true", "yes")


def set_lenient(value: bool | None) -> None:
    """For the whole process (every thread, moto's server's included); None: from the env."""
    global _process_lenient
    _process_lenient = value


@contextmanager
def lenient() -> Iterator[None]:
    """moto's behaviour for the duration, in the whole process (moto's server answers in
    its own threads, so a thread-local switch would not reach it)."""
    previous = _process_lenient
    set_lenient(True)
    try:
        yield
    finally:
        set_lenient(previous)
