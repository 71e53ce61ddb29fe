"""moto's server: what it looks up on every request, looked up once; connections kept alive."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

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


@workaround
def _server_keeps_connections_alive() -> None:
    """werkzeug's development server, which moto's is, sends ``Connection: close`` on every
    response (its ``http.server`` base cannot tell where an unread request body ends), so each
    request of every client opened a TCP connection and started a server thread: on two cores
    about 1,600 of them in six seconds of redriving at 1,000 records/s. AWS's endpoints keep
    connections alive and botocore pools them.

    Here a request whose body has a ``Content-Length`` (or no body) is read whole before the
    application sees it, so nothing of it is left on the connection, and the response keeps
    the connection open unless the client asked to close it. A request with a chunked body
    closes the connection as before. (A response cut short after its status line went out is
    left to werkzeug as before: moto's responses are whole before the first byte is written, so
    only a write to a client already gone can cut one short.)"""
    import io

    from moto.moto_server.werkzeug_app import MotoRequestHandler

    close_after = MotoRequestHandler.send_header
    run_wsgi = MotoRequestHandler.run_wsgi

    def send_header(self: Any, keyword: str, value: str) -> None:
        closing = keyword.lower() == "connection" and value.lower() == "close"
        if closing and getattr(self, "_body_read_whole", False) and not self.close_connection:
            return  # kept: the client did not ask to close, nothing of the request is left unread
        close_after(self, keyword, value)

    def run_wsgi_with_the_body_read(self: Any) -> None:
        length = self.headers.get("Content-Length")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if chunked or (length is not None and not length.strip().isdigit()):
            self._body_read_whole = False
            run_wsgi(self)
            return
        connection = self.rfile
        body = connection.read(int(length)) if length else b""
        self._body_read_whole = len(body) == int(length or 0)
        if not self._body_read_whole:
            self.close_connection = True  # the client went away mid-body
        self.rfile = io.BytesIO(body)
        try:
            run_wsgi(self)
        finally:
            self.rfile = connection

    # A kept connection writes its headers and its body as separate small segments; with
    # Nagle's algorithm the body waits for the client's delayed ACK (about 40 ms a response).
    MotoRequestHandler.disable_nagle_algorithm = True
    MotoRequestHandler.send_header = send_header  # type: ignore[method-assign]
    MotoRequestHandler.run_wsgi = run_wsgi_with_the_body_read  # type: ignore[method-assign]
