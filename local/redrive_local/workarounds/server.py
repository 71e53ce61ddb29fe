"""moto's server: what it looks up on every request, looked up once."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from .registry import workaround


@workaround
def _server_lists_its_services_once() -> None:
    """moto's server routes each request under one global lock, and on the way asks
    ``backends.list_of_moto_modules()``, which lists moto's package folder (``os.listdir``
    and an ``isdir`` per entry, about 150) every time, twice a request: on two cores about
    6 ms a request, with every other request waiting on the lock. The folder does not change
    while the process runs, so it is listed once."""
    from moto import backends

    listed = functools.cache(lambda: tuple(backends_list()))
    backends_list = backends.list_of_moto_modules

    def list_of_moto_modules() -> Iterable[str]:
        return listed()

    backends.list_of_moto_modules = list_of_moto_modules  # type: ignore[assignment]
