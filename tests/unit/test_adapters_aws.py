"""The boto3 clients of ``adapters/aws.py``: one per role and service, reused, and made
without holding up the functions that already have theirs.

Locally one process hosts every function of every stack, each with its own role; a client
made under the cache's lock (each from a new Session, its models parsed again) queued every
other invocation behind it, and under load a decision page waited past its 30 s."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3.session
import pytest

from redrive.adapters import aws


@pytest.fixture(autouse=True)
def fresh_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(aws, "_clients", {})
    monkeypatch.setattr(aws, "_stream_clients", {})
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    yield


def as_role(monkeypatch: pytest.MonkeyPatch, key_id: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", f"secret-{key_id}")
    monkeypatch.setenv("AWS_SESSION_TOKEN", f"token-{key_id}")


def signing_key(client: Any) -> str:
    return str(client._request_signer._credentials.access_key)


def test_a_client_is_made_once_per_role_with_that_role_s_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    as_role(monkeypatch, "ROLE-A")
    first = aws.client("sqs")
    assert aws.client("sqs") is first
    assert signing_key(first) == "ROLE-A"
    assert first.meta.region_name == "eu-west-1"
    assert first.meta.endpoint_url == "http://127.0.0.1:9"

    as_role(monkeypatch, "ROLE-B")
    other = aws.client("sqs")
    assert other is not first
    assert signing_key(other) == "ROLE-B"
    assert signing_key(aws.stream_read_client("kinesis")) == "ROLE-B"
    assert aws.stream_read_client("kinesis").meta.config.retries["total_max_attempts"] == 1


def test_making_a_client_holds_up_no_other_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    as_role(monkeypatch, "ROLE-A")
    ready = aws.client("sqs")
    making = threading.Event()
    release = threading.Event()
    make = boto3.session.Session.client

    def slow_to_make(session: boto3.session.Session, service: str, *args: Any, **kwargs: Any) -> Any:
        if service == "s3":  # a model parsed on a loaded machine
            making.set()
            release.wait(10)
        return make(session, service, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", slow_to_make)
    slow = threading.Thread(target=aws.client, args=("s3",), daemon=True)
    slow.start()
    try:
        assert making.wait(5)
        got: list[Any] = []
        reader = threading.Thread(target=lambda: got.append(aws.client("sqs")), daemon=True)
        reader.start()
        reader.join(5)
        assert got == [ready], "a cached client waited for another one being made"
    finally:
        release.set()
        slow.join(10)


def test_two_first_calls_at_once_share_one_client(monkeypatch: pytest.MonkeyPatch) -> None:
    as_role(monkeypatch, "ROLE-A")
    barrier = threading.Barrier(2)
    make = aws._environment_client

    def both_at_once(service: str, config: Any) -> Any:
        barrier.wait(5)
        return make(service, config)

    monkeypatch.setattr(aws, "_environment_client", both_at_once)
    got: list[Any] = []
    threads = [threading.Thread(target=lambda: got.append(aws.client("sns"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(got) == 2 and got[0] is got[1]
