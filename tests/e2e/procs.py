"""Process management for the end-to-end tests: the real commands, real servers, no leftovers.

The processes are started from `worker.cli.run.commands()` (what `deploy/commands.json` and so
docker-compose run), each in its own session so that a whole process tree (gunicorn's workers,
Celery's pool) can be signalled or killed as a group. Every process a test starts is registered
with a `Stack` and killed at teardown, failed test or not; its output goes to a file under the
test's tmp dir whose tail is printed when the test fails.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg2

from tests.fakes.github import blob_sha
from tests.servers import free_port, wait_for_port
from worker.cli.run import COMMANDS_FILE, commands

ROOT = Path(__file__).resolve().parents[2]
BINDIR = Path(sys.executable).parent
SECRET = "e2e-webhook-secret"
REPO = "acme/catalog"
#: Two-int advisory lock class of a reconcile (`worker.sync.reconcile.LOCK_CLASS`).
RECONCILE_LOCK_CLASS = 0x63730001

T = TypeVar("T")


# --------------------------------------------------------------------------- waiting


def wait_until(
    check: Callable[[], T], timeout: float, interval: float = 0.05, what: str = "condition"
) -> T:
    """Call `check` until it returns something truthy; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # a server restarting: keep trying until the deadline
            last_exc = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise TimeoutError(f"{what} not reached after {timeout}s{detail}")
        time.sleep(interval)


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        try:
            doc = json.loads(data) if data else {}
        except ValueError:
            doc = {"raw": data[:200].decode(errors="replace")}
        return resp.status, doc
    finally:
        conn.close()


# --------------------------------------------------------------------------- /proc


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def process_identity(pid: int) -> tuple[int, int] | None:
    """(pid, start time in clock ticks), to tell a live process from a reused pid."""
    fields = _stat(pid)
    if fields is None or fields[0] == "Z":
        return None
    return pid, int(fields[19])


def descendants(pid: int) -> list[tuple[int, int]]:
    """Every live descendant of `pid` (children, grandchildren...), with start times."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat(int(entry))
        if fields is not None and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[tuple[int, int]] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        ident = process_identity(child)
        if ident is not None:
            found.append(ident)
        todo.extend(children.get(child, []))
    return found


def still_running(idents: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Those of `idents` that are still the same live process."""
    return [ident for ident in idents if process_identity(ident[0]) == ident]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A group of zombies only still "exists" until reaped: look for a live member.
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and fields[0] != "Z" and int(fields[3]) == pgid:
                return True
    return False


# --------------------------------------------------------------------------- processes


@dataclass
class Proc:
    """One command in its own session (process group), output to `log_path`."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    _log: Any = None

    def start(self) -> Proc:
        self._log = self.log_path.open("ab")
        self._log.write(f"=== start {self.name}: {' '.join(self.argv)}\n".encode())
        self._log.flush()
        self.popen = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL the whole process group (the main process and its pool/workers)."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the main process (warm shutdown), then SIGKILL whatever of the group is left."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.popen.returncode

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])


# --------------------------------------------------------------------------- the catalog


def item_text(name: str, description: str) -> str:
    return f"---\nname: {name}\ndescription: {description}\ntags: [e2e]\n---\n\n# {name}\n"


class Tree:
    """The desired catalog: what the test wrote to the fake repository, as path -> blob SHA."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}

    def set(self, files: dict[str, str]) -> None:
        self.files.update({path: blob_sha(text.encode()) for path, text in files.items()})

    def remove(self, paths: Iterable[str]) -> None:
        for path in paths:
            self.files.pop(path, None)

    def snapshot(self) -> dict[str, str]:
        return dict(self.files)


# --------------------------------------------------------------------------- the database


class Db:
    """A plain psycopg2 connection for observing the tables; reconnects after a restart."""

    def __init__(self, sqlalchemy_url: str) -> None:
        self.dsn = sqlalchemy_url.replace("postgresql+psycopg2://", "postgresql://")
        self.conn: Any = None

    def _cursor(self) -> Any:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg2.connect(self.dsn, connect_timeout=3)
            self.conn.autocommit = True
        return self.conn.cursor()

    def query(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        try:
            with self._cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        except psycopg2.Error:
            self.close()
            raise

    def scalar(self, sql: str, args: Any = None) -> Any:
        rows = self.query(sql, args)
        return rows[0][0] if rows else None

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None

    # -- the views the tests need
    def live_tree(self, full_name: str = REPO) -> dict[str, str]:
        rows = self.query(
            "SELECT i.git_path, i.blob_sha FROM catalog_items i"
            " JOIN repositories r ON r.id = i.repository_id"
            " WHERE r.full_name = %s AND i.deleted_at IS NULL",
            (full_name,),
        )
        return {path: sha for path, sha in rows}

    def blob_at(self, path: str, full_name: str = REPO) -> str | None:
        return self.scalar(
            "SELECT i.blob_sha FROM catalog_items i JOIN repositories r"
            " ON r.id = i.repository_id WHERE r.full_name = %s AND i.git_path = %s"
            " AND i.deleted_at IS NULL",
            (full_name, path),
        )

    def delivery_status(self, delivery_id: str) -> str | None:
        return self.scalar(
            "SELECT status FROM webhook_deliveries WHERE delivery_id = %s", (delivery_id,)
        )

    def delivery_statuses(self, delivery_ids: Iterable[str]) -> dict[str, str]:
        ids = list(delivery_ids)
        if not ids:
            return {}
        rows = self.query(
            "SELECT delivery_id, status FROM webhook_deliveries WHERE delivery_id = ANY(%s)",
            (ids,),
        )
        return {d: s for d, s in rows}

    def runs(self, full_name: str = REPO) -> list[dict[str, Any]]:
        cols = (
            "id",
            "trigger",
            "outcome",
            "from_sha",
            "to_sha",
            "added",
            "updated",
            "deleted",
            "unchanged",
            "errors",
            "started_at",
            "finished_at",
            "error",
        )
        rows = self.query(
            f"SELECT {', '.join('s.' + c for c in cols)} FROM sync_runs s"
            " JOIN repositories r ON r.id = s.repository_id WHERE r.full_name = %s ORDER BY s.id",
            (full_name,),
        )
        return [dict(zip(cols, row, strict=True)) for row in rows]

    def reconcile_lock_holders(self) -> list[tuple[int, int, bool]]:
        """(backend pid, repository id, wrote anything yet) of every held reconcile lock."""
        rows = self.query(
            "SELECT l.pid, l.objid::bigint, a.backend_xid IS NOT NULL FROM pg_locks l"
            " JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2"
            " AND l.classid::bigint = %s",
            (RECONCILE_LOCK_CLASS,),
        )
        return [(int(p), int(r), bool(w)) for p, r, w in rows]


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    """gunicorn + Celery worker + beat on a test's own PostgreSQL and Redis, and the fake."""

    tmp: Path
    env: dict[str, str]
    port: int
    db_url: str
    procs: list[Proc] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/github"

    def argv(self, name: str, workdir: Path | None = None) -> list[str]:
        return commands("127.0.0.1", self.port, workdir or self.tmp)[name]

    def migrate(self) -> None:
        """The compose `migrate` service's command (`alembic upgrade head`), run to completion."""
        argv = list(json.loads(COMMANDS_FILE.read_text())["migrate"])
        program = BINDIR / argv[0]
        argv[0] = str(program) if program.exists() else argv[0]
        log = self.tmp / "migrate.log"
        with log.open("wb") as out:
            code = subprocess.run(
                argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, timeout=120
            ).returncode
        assert code == 0, f"{' '.join(argv)} exited {code}:\n{log.read_text()[-3000:]}"

    def start(self, name: str) -> Proc:
        """Start one more `webhook`, `worker` or `beat` (each beat gets its own schedule file)."""
        n = self._counts.get(name, 0) + 1
        self._counts[name] = n
        label = name if n == 1 else f"{name}{n}"
        workdir = self.tmp / label
        workdir.mkdir(exist_ok=True)
        env = dict(self.env)
        if name == "webhook":  # as in docker-compose.yml: gunicorn's workers share metrics
            prom = self.tmp / "prometheus"
            prom.mkdir(exist_ok=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(prom)
        proc = Proc(
            label,
            self.argv(name, workdir),
            env,
            ROOT,
            self.tmp / f"{label}.log",
        ).start()
        self.procs.append(proc)
        return proc

    def restart_dead(self) -> list[str]:
        """What the compose restart policy does: start again every process that has exited.

        Celery 5.x can die of an "Unrecoverable error" inside kombu while it closes a Redis
        channel that just went away; in production the supervisor restarts it.
        """
        restarted: list[str] = []
        for name in ("webhook", "worker", "beat"):
            mine = [p for p in self.procs if p.name.rstrip("0123456789") == name and p.popen]
            if not mine or any(p.alive() for p in mine):
                continue
            restarted.append(name)
            new = self.start(name)
            if name == "worker":
                self.wait_worker_ready(new)
        return restarted

    def get(self, label: str) -> Proc:
        return next(p for p in reversed(self.procs) if p.name == label)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        wait_for_port(self.port, timeout=timeout)
        wait_until(lambda: self.health()[0] == 200, timeout, 0.1, "GET /health answering 200")

    def health(self) -> tuple[int, dict[str, Any]]:
        return http_request(self.port, "GET", "/health", timeout=5)

    def wait_worker_ready(self, proc: Proc, timeout: float = 30.0) -> None:
        wait_until(lambda: " ready." in proc.output(), timeout, 0.1, f"{proc.name} ready")

    def stop_all(self) -> None:
        # Receiver and beats first (nothing new comes in), then the workers (warm shutdown).
        order = sorted(self.procs, key=lambda p: p.name.startswith("worker"))
        for proc in order:
            with contextlib.suppress(Exception):
                proc.stop()

    def leftovers(self) -> list[str]:
        return [p.name for p in self.procs if p.popen is not None and group_alive(p.pid)]

    def tails(self, lines: int = 40) -> str:
        out = []
        for proc in self.procs:
            out.append(f"----- {proc.name} (pid {proc.pid if proc.popen else '-'}) -----")
            out.append(proc.tail(lines))
        return "\n".join(out)


def stack_env(
    db_url: str, broker_url: str, api_url: str, token: str, **extra: str
) -> dict[str, str]:
    """The settings every process of the stack gets (nothing inherited that could interfere)."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CATALOG_", "GITHUB_", "PROMETHEUS_"))
        and not k.endswith(("_INTERVAL_SECONDS",))
        and k not in ("DATABASE_URL", "CELERY_BROKER_URL")
    }
    env = {
        **keep,
        "DATABASE_URL": db_url,
        "CELERY_BROKER_URL": broker_url,
        "GITHUB_API_URL": api_url,
        "GITHUB_TOKEN": token,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "CATALOG_REPOS": REPO,
        "POLL_INTERVAL_SECONDS": "3",
        "SWEEP_INTERVAL_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


def new_port() -> int:
    return free_port()


# --------------------------------------------------------------------------- figures


def summary(values: list[float]) -> str:
    """min / median / max (and p90 with enough samples), in milliseconds."""
    if not values:
        return "no samples"
    ms = sorted(v * 1000 for v in values)
    text = f"min {ms[0]:.0f} ms, median {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms"
    if len(ms) >= 10:
        text += f", p90 {ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]:.0f} ms"
    return text + f" (n={len(ms)})"
