"""Must show: the wheel, installed outside the checkout, migrates and runs from any directory.

The distribution is built from a copy of the sources, installed into a fresh virtualenv with the
runtime versions uv.lock pins (uv's cache makes that work offline once `make env` has run), and
used the way an operator would: `catalog-sync db upgrade` then `catalog-sync run` in an empty
temporary folder, on the embedded defaults (SQLite and the embedded broker), until GET /health
answers; SIGTERM then stops everything. Nothing of the checkout is on the import path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.procs import (
    descendants,
    group_alive,
    http_request,
    new_port,
    still_running,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
#: Not part of the distribution's sources: left out of the copy the wheel is built from.
NOT_SOURCES = {".git", ".venv", ".tools", "tests", "bench", "examples", "build", "dist"}
CACHES = ("__pycache__", "*.egg-info", ".*_cache", ".hypothesis", "*.sqlite*", "celerybeat-*")


def _uv() -> list[str]:
    """uv on PATH, or the one `make` bootstrapped into the project (.tools)."""
    found = shutil.which("uv") or next(
        (str(p) for p in (ROOT / ".tools" / "bin" / "uv",) if p.exists()), None
    )
    assert found, "uv is needed to build and install the wheel (`make env` provides it)"
    return [found]


def _env() -> dict[str, str]:
    """This environment without settings, virtualenv or import path of the checkout."""
    drop = ("CATALOG_", "GITHUB_", "PROMETHEUS_", "DATABASE_URL", "CELERY_BROKER_URL")
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(drop) and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }


def _uv_run(args: list[str], cwd: Path) -> None:
    """A uv command, from the cache alone first (offline), from the index if that fails."""
    for extra in (["--offline"], []):
        done = subprocess.run(
            [*_uv(), *args, *extra], cwd=cwd, env=_env(), capture_output=True, timeout=240
        )
        if done.returncode == 0:
            return
    raise AssertionError(f"uv {' '.join(args)} failed:\n{done.stderr.decode()[-3000:]}")


def _ignore(folder: str, names: list[str]) -> set[str]:
    top = Path(folder).resolve() == ROOT
    ignored = set(shutil.ignore_patterns(*CACHES)(folder, names))
    return ignored | (NOT_SOURCES & set(names) if top else set())


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a fresh virtualenv holding the wheel and the locked runtime deps."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    shutil.copytree(ROOT, source, ignore=_ignore)
    _uv_run(["build", "--wheel", "--out-dir", str(tmp / "dist"), str(source)], tmp)
    (wheel,) = (tmp / "dist").glob("catalog_sync-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for needed in (
        "models/_migrations/env.py",
        "models/_migrations/script.py.mako",
        "worker/_deploy/commands.json",
    ):
        assert needed in names, f"{needed} is not in {wheel.name}"
    assert any(n.startswith("models/_migrations/versions/") for n in names)
    assert not any(n.startswith("migrations/") for n in names)  # no stray top-level package

    pins = tmp / "requirements.txt"
    _uv_run(
        ["export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "-o", str(pins)],
        ROOT,
    )
    venv = tmp / "venv"
    _uv_run(["venv", "--python", sys.executable, str(venv)], tmp)
    python = venv / "bin" / "python"
    _uv_run(["pip", "install", "--python", str(python), "-r", str(pins), str(wheel)], tmp)
    return venv / "bin"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty folder outside the checkout: no .env, no database."""
    folder = tmp_path / "anywhere"
    folder.mkdir()
    return folder


def test_db_upgrade_from_any_directory(installed: Path, workdir: Path) -> None:
    done = subprocess.run(
        [str(installed / "catalog-sync"), "db", "upgrade"],
        cwd=workdir,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    origins = _import_origins(installed, workdir)
    assert len(origins) == 3 and all(o.is_relative_to(installed.parent) for o in origins), origins
    with contextlib.closing(sqlite3.connect(workdir / "catalog-sync.sqlite")) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"catalog_items", "repositories", "webhook_deliveries", "users"} <= tables
    heads = [p.name for p in (ROOT / "migrations" / "versions").glob("*.py")]
    # A revision id is the file's number ("0001") or its number and name ("0005_rate_budget").
    assert any(f"_{version}_" in name or name.endswith(f"_{version}.py") for name in heads), (
        version,
        heads,
    )


def _import_origins(installed: Path, cwd: Path) -> list[Path]:
    """Where the installed interpreter finds `models`, `worker` and `settings` from `cwd`."""
    probe = (
        "import importlib.util as u;"
        "print(*(u.find_spec(m).origin for m in ('models', 'worker', 'settings')), sep='\\n')"
    )
    done = subprocess.run(
        [str(installed / "python"), "-c", probe],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [Path(line) for line in done.stdout.splitlines()]


@contextlib.contextmanager
def _running(argv: list[str], cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process in its own group, killed with everything it started if the test fails."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            for pid in [proc.pid, *(pid for pid, _ in descendants(proc.pid))]:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            proc.wait(10)


def test_run_from_any_directory_until_health_then_sigterm(
    installed: Path, workdir: Path, tmp_path: Path
) -> None:
    port = new_port()
    log = tmp_path / "run.log"
    argv = [str(installed / "catalog-sync"), "run", "--port", str(port)]
    with _running(argv, workdir, log) as proc:
        try:
            wait_until(
                lambda: proc.poll() is None and http_request(port, "GET", "/health")[0] == 200,
                90,
                0.2,
                "the installed catalog-sync run answering GET /health 200",
            )
            children = descendants(proc.pid)
            assert len(children) >= 3, children  # gunicorn, celery worker, beat
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
            wait_until(lambda: not still_running(children), 10, 0.1, "every child stopped")
            assert not any(group_alive(pid) for pid, _ in children)
        except BaseException:
            print("\n----- catalog-sync run output -----\n" + log.read_text()[-6000:], flush=True)
            raise
    assert (workdir / "catalog-sync.sqlite").exists()
    assert "Traceback" not in log.read_text()
