"""Fixtures shared by every test: real PostgreSQL, real Redis, SQLite, all migrated for real."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from models.db import make_engine
from models.migrate import upgrade
from tests.servers import PostgresServer, RedisServer, create_database, with_database

pytest_plugins = ["tests.fakes.fixtures", "tests.integration.worker_env"]

#: Recorded third-party files the tests read (GitHub payloads, the Compose schema), with their
#: licences: inside the repository, so a bare clone runs the whole suite.
DATA = Path(__file__).resolve().parent / "data"
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server for the whole session (throwaway unless one is named)."""
    external = os.environ.get("CATALOG_SYNC_TEST_PG_URL")
    if external:
        yield external
        return
    server = PostgresServer()
    server.start()
    try:
        yield server.url()
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def pg_template(pg_server_url: str) -> str:
    """A database migrated once with the real migrations; tests get copies of it."""
    name = f"catalog_sync_template_{os.getpid()}"
    create_database(pg_server_url, name)
    url = with_database(pg_server_url, name)
    upgrade(url)
    return name


@pytest.fixture
def pg_url(pg_server_url: str, pg_template: str) -> Iterator[str]:
    """A fresh, fully migrated PostgreSQL database for one test."""
    name = f"catalog_sync_t{os.getpid()}_{next(_counter)}"
    create_database(pg_server_url, name, template=pg_template)
    yield with_database(pg_server_url, name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh, fully migrated SQLite database for one test."""
    path = tmp_path / "catalog.sqlite"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on the embedded default and on real PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param.replace('postgresql', 'pg')}_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    external = os.environ.get("CATALOG_SYNC_TEST_REDIS_URL")
    if external:
        yield external
        return
    server = RedisServer()
    server.start()
    try:
        yield server.url()
    finally:
        server.destroy()


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """An empty Redis database for one test."""
    import redis

    client = redis.Redis.from_url(redis_server_url)
    client.flushall()
    client.close()
    return redis_server_url


@pytest.fixture
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test's own, for tests that stop and restart it."""
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A Redis server of the test's own, for tests that stop and restart it."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.destroy()
