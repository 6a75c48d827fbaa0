"""The sync client's watchdog (``client._deadline``): what the reliability tests cannot see from outside.

The behaviour over HTTP (heads dripped for ever, TLS, a forked worker, retries) is in
``tests/reliability/test_client_edges.py``.
"""

from __future__ import annotations

import socket
import time

import pytest
import requests
from urllib3.connectionpool import HTTPConnectionPool

from airflow_provider_abeja.client import _deadline


def _wait_until_expired(watch: _deadline._Watch) -> None:
    stop = time.monotonic() + 30
    while watch.state != _deadline._EXPIRED and time.monotonic() < stop:
        time.sleep(0.005)
    assert watch.state == _deadline._EXPIRED, "the watchdog never fired"


def test_finished_calls_leave_the_heap() -> None:
    """The heap holds the calls in flight, not every call made: it does not grow with use."""
    for _ in range(100):
        with _deadline.deadline(60):
            pass
    with _deadline.deadline(60):
        assert len(_deadline._watchdog._heap) <= 2


def test_a_blocked_read_ends_when_the_deadline_passes() -> None:
    """The socket a call reads from is shut down: the read sees the end, the call the timeout."""
    ours, theirs = socket.socketpair()
    ours.settimeout(30)  # only a regression waits this long

    class Connection:
        sock = ours

        def getresponse(self) -> bytes:
            return self.sock.recv(1)

    watched = type("Watched", (_deadline._Watched, Connection), {})
    read: list[bytes] = []

    def call() -> None:
        with _deadline.deadline(0.05):
            read.append(watched().getresponse())

    with theirs, ours, pytest.raises(requests.exceptions.ReadTimeout, match=r"within 0\.05s"):
        call()
    assert read == [b""]  # the read ended (end of stream), then the deadline raised


def test_an_answer_read_whole_after_the_deadline_is_still_late() -> None:
    """A body cut by the shutdown may look whole (read until close): the deadline decides."""

    def call() -> None:
        with _deadline.deadline(0.01) as watch:
            assert watch is not None
            _wait_until_expired(watch)

    with pytest.raises(requests.exceptions.ReadTimeout):
        call()


def test_no_deadline_is_no_watch() -> None:
    with _deadline.deadline(None):
        assert getattr(_deadline._current, "watch", None) is None


@pytest.mark.parametrize("proxy", [None, "http://127.0.0.1:3128"])
def test_every_pool_of_the_adapter_is_watched(proxy: str | None) -> None:
    adapter = _deadline.DeadlineAdapter()
    manager = adapter.poolmanager if proxy is None else adapter.proxy_manager_for(proxy)
    for scheme in ("http", "https"):
        pool_class = manager.pool_classes_by_scheme[scheme]
        assert issubclass(pool_class.ConnectionCls, _deadline._Watched)
    # urllib3's own table is left alone: other code's pools are not watched.
    assert not issubclass(HTTPConnectionPool.ConnectionCls, _deadline._Watched)
