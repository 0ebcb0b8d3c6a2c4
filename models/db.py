"""Engines and sessions: one engine per URL per process, tuned per dialect."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the receiver read while a worker writes; foreign keys are off by default."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """A new engine for `url`; PostgreSQL connections are pinged so a DB restart heals."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("connect_timeout", 5)
    connect_args.setdefault("application_name", "catalog-sync")
    return create_engine(url, connect_args=connect_args, **kwargs)


def redacted(url: str) -> str:
    """`url` as logs and error lines show it: the password replaced by `***`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL at all: show no more than what follows an `@`
        return url.split("@")[-1]


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """The process-wide engine for `url`."""
    return make_engine(url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    with session_factory(engine)() as session, session.begin():
        yield session


def insert_for(dialect_name: str) -> Any:
    """The dialect's `insert`, which has ON CONFLICT on both PostgreSQL and SQLite."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def dialect_insert(session: Session) -> Any:
    """`insert_for` the session's database."""
    return insert_for(session.get_bind().dialect.name)


def insert_ignoring_conflicts(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on PostgreSQL and SQLite alike (concurrent creators)."""
    if rows:
        session.execute(dialect_insert(session)(table).on_conflict_do_nothing(), rows)


def retry_on_dead_connection(call: Callable[[], T]) -> T:
    """`call()`, once more if it failed on a pooled connection found dead.

    After a database restart every pooled connection is dead; the first failure makes the
    pool drop them all, so one more try gets a new one. For engines without a pre-ping (the
    receiver's: a round trip per request), and only for calls that are safe to repeat.
    """
    try:
        return call()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        return call()
