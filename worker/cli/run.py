"""`catalog-sync run`: receiver, worker and scheduler as child processes of one command.

The receiver runs under gunicorn (a production WSGI server), the worker and beat under Celery,
each as it runs in production, so the one-machine mode exercises the same code paths. Ctrl-C or
SIGTERM stops them in order and waits: an in-flight reconcile finishes or rolls back (warm
shutdown), and nothing is left running.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from types import FrameType

from models.db import redacted
from models.migrate import upgrade
from settings import Settings, get_settings
from worker.errors import CatalogSyncError
from worker.observability.logs import configure_logging, settings_secrets

log = logging.getLogger("catalog_sync.run")

#: Seconds each child gets to stop by itself before it is killed.
STOP_GRACE_S = 30.0


#: deploy/commands.json, installed as package data (pyproject.toml): found from any directory.
COMMANDS_FILE = resources.files("worker._deploy") / "commands.json"


def commands(host: str, port: int, workdir: Path) -> dict[str, list[str]]:
    """The receiver, worker and beat argv: `deploy/commands.json` (what docker-compose runs),
    bound to `host:port`, with programs from this interpreter's environment."""
    bindir = Path(sys.executable).parent
    spec: dict[str, list[str]] = json.loads(COMMANDS_FILE.read_text())
    result: dict[str, list[str]] = {}
    for name in ("webhook", "worker", "beat"):
        argv = list(spec[name])
        program = bindir / argv[0]
        argv[0] = str(program) if program.exists() else argv[0]
        if "--bind" in argv:
            argv[argv.index("--bind") + 1] = f"{host}:{port}"
        if "--schedule" in argv:
            argv[argv.index("--schedule") + 1] = str(workdir / "celerybeat-schedule")
        result[name] = argv
    return result


def run_all(host: str, port: int) -> int:
    """Migrate, start the three processes, and supervise them until a signal or a crash."""
    settings = get_settings()
    configure_logging(secrets=settings_secrets(settings))
    upgrade(settings.database_url)
    log.info("run.database_migrated", extra={"database": redacted(settings.database_url)})
    repositories = [str(s) for s in settings.catalog_repos]
    log.info(
        "run.listening",
        extra={"url": f"http://{host}:{port}/webhooks/github", "repositories": repositories},
    )
    if not repositories:
        log.warning("run.nothing_watched", extra={"hint": "set CATALOG_REPOS"})
    _warn_without_secret(settings)
    reconcile_at_start(repositories)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    with metrics_dir():
        try:
            _supervise(commands(host, port, Path.cwd()), procs, stopping)
        finally:
            _stop_all(procs)
    return 0


def _warn_without_secret(settings: Settings) -> None:
    """No secret: the receiver refuses every delivery (503), which GitHub shows as failing."""
    if not settings.webhook_secrets:
        log.warning(
            "run.webhook_secret_missing",
            extra={"hint": "set GITHUB_WEBHOOK_SECRET; until then every delivery gets 503"},
        )


def reconcile_at_start(repositories: list[str]) -> None:
    """Queue a reconcile of every watched repository: what changed while nothing ran (or
    before the webhook existed) is caught up now, not at the next poll."""
    from worker import composition

    for name in repositories:
        try:
            composition.publisher().enqueue_reconcile(name, "startup")
        except CatalogSyncError as exc:  # the sweeper and the poll catch up later
            log.warning(
                "run.startup_reconcile_not_queued", extra={"repository": name, "error": str(exc)}
            )
            continue
        log.info("run.startup_reconcile_queued", extra={"repository": name})


@contextmanager
def metrics_dir() -> Iterator[Path]:
    """A fresh `PROMETHEUS_MULTIPROC_DIR` for the children (under $TMPDIR), removed at exit:
    gunicorn's workers then add up their counters, so `/metrics` does not depend on which
    worker answers the scrape. One the operator set is used as it is."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        yield Path(given)
        return
    path = Path(tempfile.mkdtemp(prefix="catalog-sync-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    try:
        yield path
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(path, ignore_errors=True)


def _supervise(
    argvs: dict[str, list[str]],
    procs: dict[str, subprocess.Popen[bytes]],
    stopping: threading.Event,
) -> None:
    """Start every child into `procs` and restart a crashed one until `stopping` is set."""
    crashes: list[float] = []
    for name, argv in argvs.items():
        procs[name] = _spawn(name, argv)
    while not stopping.is_set():
        for name, proc in list(procs.items()):
            if proc.poll() is None:
                continue
            # What a container's restart policy does: a crashed child (Celery can die of an
            # "Unrecoverable error" when its broker vanishes) is started again; a crash loop
            # stops everything.
            now = time.monotonic()
            crashes = [t for t in crashes if now - t < CRASH_WINDOW_S] + [now]
            fields = {"child": name, "returncode": proc.returncode}
            if len(crashes) > MAX_CRASHES:
                log.error("run.crash_loop", extra={**fields, "crashes": len(crashes)})
                return
            log.warning("run.child_restarted", extra=fields)
            procs[name] = _spawn(name, argvs[name])
        time.sleep(0.2)


#: More crashes than this within the window and `run` gives up instead of restarting.
MAX_CRASHES = 5
CRASH_WINDOW_S = 60.0


def _spawn(name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    """Start a child in its own process group: Ctrl-C reaches `run` only, which stops them in
    order."""
    proc = subprocess.Popen(argv, env=os.environ.copy(), start_new_session=True)
    log.info("run.child_started", extra={"child": name, "pid": proc.pid})
    return proc


def _stop_all(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM each child (warm shutdown), wait, then SIGKILL what is left."""
    for name in ("webhook", "beat", "worker"):
        proc = procs.get(name)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for name, proc in procs.items():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("run.child_killed", extra={"child": name, "grace_s": STOP_GRACE_S})
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log.info("run.stopped")
