"""Unit tier: pure logic with fakes; it may touch nothing, so every connection is refused."""

from __future__ import annotations

import socket

import pytest

from tests.support.tiers import refuse_connection


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", refuse_connection)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse_connection)
    monkeypatch.setattr(socket, "create_connection", refuse_connection)
    monkeypatch.setattr(socket, "getaddrinfo", refuse_connection)
