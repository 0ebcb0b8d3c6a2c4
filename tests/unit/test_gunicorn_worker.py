"""The read deadline frees a thread that a trickling client holds, on real TCP sockets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from webhook.gunicorn_worker import ReadDeadlines


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(the server's end, the client's end) of one loopback TCP connection."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    yield server, client
    server.close()
    client.close()


def _read_until_eof(sock: socket.socket, got: list[bytes]) -> threading.Thread:
    """What a gunicorn thread does with a slow client: block in `recv` until the end."""

    def run() -> None:
        while chunk := sock.recv(1024):
            got.append(chunk)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_trickling_client_is_cut_off_at_the_deadline(
    tcp_pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = tcp_pair
    deadlines = ReadDeadlines(seconds=0.5)
    deadlines.watch(server, time.monotonic())
    got: list[bytes] = []
    reader = _read_until_eof(server, got)
    started = time.monotonic()
    while reader.is_alive() and time.monotonic() - started < 3:
        client.sendall(b"x")  # a byte every 50 ms: a per-recv timeout would never fire
        time.sleep(0.05)
        deadlines.expire(time.monotonic())
    assert not reader.is_alive(), "the read went on past its deadline"
    assert 0.5 <= time.monotonic() - started < 2.0
    assert got  # it was reading until then
    client.sendall(b"the answer can still go the other way")  # only the read side is shut


def test_nothing_is_cut_before_its_deadline_or_after_it_is_forgotten(
    tcp_pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = tcp_pair
    deadlines = ReadDeadlines(seconds=0.2)
    now = time.monotonic()
    key = deadlines.watch(server, now)
    assert deadlines.expire(now + 0.1) == []
    deadlines.forget(key)  # the request was read in time
    assert deadlines.expire(now + 10) == []
    client.sendall(b"next request")
    assert server.recv(100) == b"next request"


def test_expiring_names_the_peer_once(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    server, _ = tcp_pair
    deadlines = ReadDeadlines(seconds=0.1)
    deadlines.watch(server, time.monotonic())
    later = time.monotonic() + 1
    assert deadlines.expire(later) == ["127.0.0.1"]
    assert deadlines.expire(later) == []
    assert server.recv(10) == b""  # read side shut: end of file
