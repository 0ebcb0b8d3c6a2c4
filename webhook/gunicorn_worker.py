"""gunicorn's threaded worker (`gthread`), with a deadline on reading each request.

gthread hands a connection to a thread once its first byte arrives, and the thread then blocks
on the socket until the request has been read. A client sending a byte a second keeps that
thread for as long as it likes: a socket timeout bounds each `recv`, not their sum. Here a
request gets `READ_DEADLINE_S` from the moment a thread takes it; past that, the connection's
read side is shut down, the blocked read sees end-of-file and the thread is free again (the
answer can still be written). Used by the production command in `deploy/commands.json`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

log = logging.getLogger("webhook")

#: GitHub waits 10 s for the whole answer: a request still arriving after this cannot get its
#: answer in time, and its thread is worth more to the next delivery.
READ_DEADLINE_S = 8.0
#: How often each worker looks for connections past their deadline.
REAP_INTERVAL_S = 0.25


class ReadDeadlines:
    """Sockets being read and when each must be done; thread-safe, no gunicorn in it."""

    def __init__(self, seconds: float = READ_DEADLINE_S) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._due: dict[int, tuple[socket.socket, float]] = {}

    def watch(self, sock: socket.socket, now: float) -> int:
        """Start the clock for `sock`; the key returned ends it (`forget`)."""
        key = id(sock)
        with self._lock:
            self._due[key] = (sock, now + self.seconds)
        return key

    def forget(self, key: int) -> None:
        with self._lock:
            self._due.pop(key, None)

    def expire(self, now: float) -> list[str | None]:
        """Shut the read side of every socket past its deadline, stop watching them, and
        return their peers' addresses (None when a socket closed meanwhile)."""
        with self._lock:
            late = [key for key, (_, due) in self._due.items() if due <= now]
            socks = [self._due.pop(key)[0] for key in late]
        peers = []
        for sock in socks:
            peers.append(_peer(sock))
            with contextlib.suppress(OSError):  # already closed by its thread
                sock.shutdown(socket.SHUT_RD)
        return peers


class DeadlineThreadWorker(ThreadWorker):
    """`gthread` whose threads a slow client can hold for `READ_DEADLINE_S` at most."""

    def init_process(self) -> None:
        self.deadlines = ReadDeadlines()
        threading.Thread(target=self._reap, name="read-deadline", daemon=True).start()
        super().init_process()  # runs the worker's loop until it exits

    def handle(self, conn: Any) -> Any:
        key = self.deadlines.watch(conn.sock, time.monotonic())
        try:
            return super().handle(conn)
        finally:
            self.deadlines.forget(key)

    def _reap(self) -> None:
        while True:
            time.sleep(REAP_INTERVAL_S)
            for peer in self.deadlines.expire(time.monotonic()):
                log.warning(
                    "webhook.read_deadline_exceeded",
                    extra={"peer": peer, "seconds": self.deadlines.seconds},
                )


def _peer(sock: socket.socket) -> str | None:
    try:
        return str(sock.getpeername()[0])
    except (OSError, IndexError, TypeError):
        return None
