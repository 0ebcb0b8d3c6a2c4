"""Must show: `catalog-sync run` as a new user tries it, on the embedded defaults.

A fresh working directory (no `.env`, no database), no `DATABASE_URL` nor `CELERY_BROKER_URL`:
SQLite and the embedded broker. Only the GitHub settings point at the fake. A signed push
delivery from the fake results in the synced row; Ctrl-C (SIGINT to the command's process
group, as a terminal sends it) stops everything and leaves no process behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.procs import (
    BINDIR,
    REPO,
    SECRET,
    descendants,
    group_alive,
    http_request,
    item_text,
    new_port,
    still_running,
    wait_until,
)
from tests.fakes.github import FakeGitHub, blob_sha

pytestmark = pytest.mark.e2e


def _imports_from_anywhere(env: dict[str, str], cwd: Path) -> bool:
    """Whether `celery -A worker` can find the app from `cwd` with this environment.

    A fresh `make env` installs the project in editable mode with `worker`, `webhook` and
    `models` as regular packages. A virtualenv installed while they had no `__init__.py`
    keeps mapping them as namespace packages (setuptools' editable finder is frozen at
    install time), which makes them empty outside the repository root.
    """
    probe = subprocess.run(
        [str(BINDIR / "python"), "-c", "import worker, webhook; worker.app; webhook.create_app"],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=60,
    )
    return probe.returncode == 0


def _live_names(db: Path) -> list[str]:
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        try:
            rows = conn.execute("SELECT name FROM catalog_items WHERE deleted_at IS NULL")
            return sorted(name for (name,) in rows)
        except sqlite3.OperationalError:  # not migrated yet
            return []


def _sample(port: int, series: str) -> float | None:
    """One sample's value from GET /metrics (None when the series is absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
    return None


@pytest.fixture
def run_env(fake_github: FakeGitHub, tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CATALOG_", "GITHUB_", "PROMETHEUS_"))
        and k not in ("DATABASE_URL", "CELERY_BROKER_URL", "POLL_INTERVAL_SECONDS", "PYTHONPATH")
    }
    env.update(
        {
            "GITHUB_API_URL": fake_github.api_url,
            "GITHUB_TOKEN": fake_github.token,
            "GITHUB_WEBHOOK_SECRET": SECRET,
            "CATALOG_REPOS": REPO,
            "PYTHONUNBUFFERED": "1",
        }
    )
    assert _imports_from_anywhere(env, tmp_path), (
        "`import worker; worker.app` fails outside the repository root: the virtualenv's "
        "editable install is stale (packages mapped as namespaces); reinstall it (`make env`, "
        "i.e. `uv sync --frozen --extra dev`)"
    )
    return env


class Runner:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.seen: set[tuple[int, int]] = set()

    def remember_children(self) -> list[tuple[int, int]]:
        found = descendants(self.proc.pid)
        self.seen.update(found)
        return found

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill_everything(self) -> None:
        self.remember_children()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid, _ in still_running(self.seen):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        self._log.close()


@pytest.fixture
def runner_factory(tmp_path: Path) -> Iterator[Callable[..., Runner]]:
    started: list[Runner] = []

    def start(argv: list[str], env: dict[str, str], cwd: Path) -> Runner:
        runner = Runner(argv, env, cwd, tmp_path / "catalog-sync-run.log")
        started.append(runner)
        return runner

    yield start
    for runner in started:
        runner.kill_everything()


def start_healthy(
    runner_factory: Callable[..., Runner], run_env: dict[str, str], workdir: Path
) -> tuple[Runner, int, float]:
    """`catalog-sync run` in a fresh working folder, once GET /health answers 200 (and how
    many seconds that took)."""
    workdir.mkdir()
    port = new_port()
    runner = runner_factory(
        [str(BINDIR / "catalog-sync"), "run", "--port", str(port)], run_env, workdir
    )
    started = time.monotonic()
    try:
        wait_until(
            lambda: runner.proc.poll() is None and http_request(port, "GET", "/health")[0] == 200,
            90,
            0.2,
            "catalog-sync run answering GET /health 200",
        )
    except BaseException:
        print("\n----- catalog-sync run output -----\n" + runner.output()[-6000:], flush=True)
        raise
    return runner, port, time.monotonic() - started


def test_catalog_sync_run_on_embedded_defaults(
    fake_github: FakeGitHub,
    run_env: dict[str, str],
    runner_factory: Callable[..., Runner],
    tmp_path: Path,
    figures: Callable[[str, str], None],
) -> None:
    workdir = tmp_path / "fresh"
    # Pushed while nothing ran: `run` reconciles every watched repository as it starts.
    repo = fake_github.create_repo(REPO)
    repo.write("skills/before.md", item_text("before", "pushed before run started"))
    repo.commit("before")
    repo.push()
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    run_env = {**run_env, "TMPDIR": str(scratch)}
    runner, port, up = start_healthy(runner_factory, run_env, workdir)
    try:
        children = runner.remember_children()
        assert len(children) >= 3, children  # gunicorn (+ its workers), worker (+ pool), beat
        out = runner.output()
        assert f"http://127.0.0.1:{port}/webhooks/github" in out and REPO in out, out[-2000:]
        assert (workdir / "catalog-sync.sqlite").exists()
        assert len(list(scratch.glob("catalog-sync-metrics-*"))) == 1
        db = workdir / "catalog-sync.sqlite"
        wait_until(lambda: _live_names(db) == ["before"], 60, 0.1, "the startup reconcile")

        fake_github.add_hook(REPO, f"http://127.0.0.1:{port}/webhooks/github", SECRET)
        path = "skills/hello.md"
        text = item_text("hello", "synced by catalog-sync run")
        repo.write(path, text)
        repo.commit("hello")
        pushed = time.monotonic()
        repo.push()
        (delivery,) = fake_github.wait_for_deliveries(1, timeout=30)
        assert delivery.status_code == 202, (delivery.status_code, delivery.response_body)

        def synced_row() -> tuple[str, str] | None:
            with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
                return conn.execute(
                    "SELECT name, blob_sha FROM catalog_items WHERE git_path = ?"
                    " AND deleted_at IS NULL",
                    (path,),
                ).fetchone()

        row = wait_until(synced_row, 60, 0.05, "the synced row in SQLite")
        latency = time.monotonic() - pushed
        assert row == ("hello", blob_sha(text.encode()))

        def delivery_done() -> bool:
            with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
                got = conn.execute(
                    "SELECT status FROM webhook_deliveries WHERE delivery_id = ?",
                    (delivery.guid,),
                ).fetchone()
            return got == ("done",)

        wait_until(delivery_done, 30, 0.1, "delivery done")
        # Whichever gunicorn worker answers, the counters are the sum over all of them.
        queued = 'catalog_sync_webhook_deliveries_total{event="push",outcome="queued"}'
        assert {_sample(port, queued) for _ in range(8)} == {1.0}
        runner.remember_children()

        # Ctrl-C: the terminal signals the foreground process group.
        interrupted = time.monotonic()
        os.killpg(runner.proc.pid, signal.SIGINT)
        code = runner.proc.wait(60)
        stop_s = time.monotonic() - interrupted
        assert code == 0, runner.output()[-3000:]
        time.sleep(0.5)
        left = still_running(runner.seen)
        assert not left, f"left running after Ctrl-C: {left}\n{runner.output()[-3000:]}"
        assert not group_alive(runner.proc.pid)
        assert not any(group_alive(pid) for pid, _ in runner.seen)
        assert list(scratch.glob("catalog-sync-metrics-*")) == []  # gone with the children
        figures(
            "catalog-sync run",
            f"healthy {up:.1f} s after start (SQLite + embedded broker); push-to-row "
            f"{latency * 1000:.0f} ms; Ctrl-C stopped {len(runner.seen)} child processes in "
            f"{stop_s:.1f} s, none left",
        )
    except BaseException:
        print("\n----- catalog-sync run output -----\n" + runner.output()[-6000:], flush=True)
        raise


def test_catalog_sync_run_restarts_a_crashed_child_and_stops_on_sigterm(
    run_env: dict[str, str],
    runner_factory: Callable[..., Runner],
    tmp_path: Path,
) -> None:
    """A crashed worker is started again; SIGTERM to the command alone (what a service manager
    sends) stops every child."""
    runner, _, _ = start_healthy(runner_factory, run_env, tmp_path / "term")
    try:
        runner.remember_children()

        def celery_worker_main() -> int | None:
            for pid, _ in descendants(runner.proc.pid):
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if b"worker" in cmd and b"-A" in cmd and os.getpgid(pid) == pid:
                    return pid
            return None

        crashed = wait_until(celery_worker_main, 30, 0.2, "the celery worker")
        os.killpg(crashed, signal.SIGKILL)  # a crash, as Celery's "Unrecoverable error" is
        wait_until(
            lambda: (pid := celery_worker_main()) is not None and pid != crashed,
            30,
            0.2,
            "the worker started again by catalog-sync run",
        )
        wait_until(lambda: "run.child_restarted" in runner.output(), 10, 0.2, "the restart logged")
        runner.remember_children()
        runner.proc.send_signal(signal.SIGTERM)
        assert runner.proc.wait(60) == 0, runner.output()[-3000:]
        time.sleep(0.5)
        assert not still_running(runner.seen), runner.output()[-3000:]
        assert not any(group_alive(pid) for pid, _ in runner.seen)
    except BaseException:
        print("\n----- catalog-sync run output -----\n" + runner.output()[-6000:], flush=True)
        raise
