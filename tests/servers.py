"""Throwaway PostgreSQL and Redis servers started from the installed binaries.

The suite never mocks its database or broker: it runs real servers on free loopback ports in
temporary folders, and tears them down. As root, PostgreSQL runs as the `postgres` user (initdb
refuses root). `CATALOG_SYNC_TEST_PG_URL` / `CATALOG_SYNC_TEST_REDIS_URL` point the suite at
servers you already run instead.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _pg_bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if not candidates:
        raise RuntimeError("PostgreSQL binaries not found: install the Debian package postgresql")
    return Path(candidates[0]).parent


def _runuser() -> str:
    """util-linux's runuser lives in /usr/sbin, which a plain user's PATH often leaves out."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    found = shutil.which("runuser", path=path)
    if not found:
        raise RuntimeError("runuser not found: install the Debian package util-linux")
    return found


class PostgresServer:
    """A PostgreSQL cluster in a temporary folder; `stop()`/`start()` simulate an outage."""

    def __init__(self) -> None:
        self.bindir = _pg_bindir()
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="catalog-sync-pg-"))
        self.datadir = self.tmp / "data"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            os.chmod(self.tmp, 0o755)
            shutil.chown(self.tmp, "postgres", "postgres")
        self.user = "postgres"
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                self.user,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )

    def _run(self, argv: list[str]) -> None:
        if self.as_root:
            argv = [_runuser(), "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, cwd=self.tmp)

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.tmp} -h 127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-o",
                opts,
                "-l",
                str(self.tmp / "log"),
                "-w",
                "start",
            ]
        )

    def stop(self, mode: str = "fast") -> None:
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"])

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.tmp, ignore_errors=True)


class RedisServer:
    """A redis-server process with no persistence; `stop()`/`start()` simulate an outage."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: install the Debian package redis-server")
        self.binary = binary
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="catalog-sync-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def create_database(server_url: str, name: str, template: str | None = None) -> None:
    """CREATE DATABASE on the server `server_url` points at (any database of it)."""
    dsn = server_url.replace("postgresql+psycopg2://", "postgresql://")
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            suffix = f' TEMPLATE "{template}"' if template else ""
            cur.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        conn.close()


def with_database(server_url: str, name: str) -> str:
    """The same server URL with another database name."""
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"
