"""Follow the change feed as it commits: LISTEN on PostgreSQL, a short poll on SQLite.

Each change is handed on once: the cursor moves past a change as soon as it is emitted, and
every wake-up (a notification, a quiet interval, a reconnect) reads again from the cursor. On
PostgreSQL the LISTEN is issued before the read, so a change that commits in between is either
read or announced. When PostgreSQL goes away (a restart), the follower reconnects with backoff
and re-reads from its cursor: nothing is lost, nothing repeated.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
from collections.abc import Callable
from typing import Any

import psycopg2
import psycopg2.extensions
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from worker.feed.read import Change, changes_after
from worker.sync.change_log import CHANNEL

log = logging.getLogger(__name__)

Emit = Callable[[Change], None]
#: What a lost or refused connection raises; anything else (a missing table) is not retried.
CONNECTION_LOST = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
)
MIN_BACKOFF_S = 0.25
MAX_BACKOFF_S = 5.0


class Listener:
    """A dedicated psycopg2 connection LISTENing on the feed's channel."""

    def __init__(self, engine: Engine) -> None:
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        cparams.setdefault("connect_timeout", 5)
        self.conn: Any = psycopg2.connect(*cargs, **cparams)
        self.conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        with self.conn.cursor() as cur:
            cur.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> int:
        """Block until a notification arrives or `timeout` passes; how many arrived."""
        self._check_open()
        ready, _, _ = select.select([self.conn], [], [], timeout)
        if not ready:
            return 0
        self.conn.poll()  # the server going away raises, or leaves the connection closed
        self._check_open()
        count = len(self.conn.notifies)
        self.conn.notifies.clear()
        return count

    def _check_open(self) -> None:
        if self.conn.closed:
            raise psycopg2.InterfaceError("the LISTEN connection was closed by the server")

    def close(self) -> None:
        with contextlib.suppress(psycopg2.Error):
            self.conn.close()


class Follower:
    """Emits every change after `cursor`, then every change that commits, until stopped."""

    def __init__(
        self, engine: Engine, cursor: int, emit: Emit, *, repository: str | None = None
    ) -> None:
        self.engine = engine
        self.cursor = cursor
        self.emit = emit
        self.repository = repository
        self.listening = engine.dialect.name == "postgresql"
        self._listener: Listener | None = None

    def drain(self) -> None:
        """Emit every committed change after the cursor, page by page."""
        while True:
            page = changes_after(self.engine, self.cursor, repository=self.repository)
            for change in page:
                self.emit(change)
                self.cursor = change.cursor
            if not page:
                return

    def run(
        self,
        stop: threading.Event | None = None,
        *,
        poll_s: float = 1.0,
        idle_s: float = 30.0,
        on_retry: Callable[[BaseException, float], None] | None = None,
    ) -> None:
        """Follow until `stop` is set (or Ctrl-C). `idle_s`: re-read after this long unwoken."""
        stop = stop or threading.Event()
        delay = 0.0
        try:
            while not stop.is_set():
                try:
                    self._step(stop, poll_s, idle_s)
                    delay = 0.0
                except CONNECTION_LOST as exc:
                    if not self._worth_retrying(exc):
                        raise
                    self._drop_listener()
                    delay = min(MAX_BACKOFF_S, max(MIN_BACKOFF_S, delay * 2))
                    log.info("feed_connection_lost", extra={"error": str(exc), "retry_in": delay})
                    if on_retry is not None:
                        on_retry(exc, delay)
                    stop.wait(delay)
        finally:
            self._drop_listener()

    def _step(self, stop: threading.Event, poll_s: float, idle_s: float) -> None:
        """One read, then a wait: for a notification (PostgreSQL) or the poll interval."""
        if self.listening and self._listener is None:
            self._listener = Listener(self.engine)  # before the read: nothing slips by
        self.drain()
        if self._listener is not None:
            self._listener.wait(idle_s)
        else:
            stop.wait(poll_s)

    def _worth_retrying(self, exc: BaseException) -> bool:
        """PostgreSQL going away is; on SQLite only a busy file is (no table is not)."""
        return self.listening or "locked" in str(exc)

    def _drop_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
