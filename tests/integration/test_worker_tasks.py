"""Celery tasks run by a real `celery -A worker worker` on real Redis and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from models import Repository, SyncRun, WebhookDelivery, session_factory, transaction
from settings import Settings
from tests.fakes.github import FakeGitHub
from worker import composition
from worker.celery_app import make_celery
from worker.cli.views import live_items
from worker.inbox.publish import Publisher
from worker.tasknames import POLL_TASK

ROOT = Path(__file__).resolve().parents[2]


def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.fixture
def env(pg_url: str, redis_url: str, fake_github: FakeGitHub) -> dict[str, str]:
    return {
        "DATABASE_URL": pg_url,
        "CELERY_BROKER_URL": redis_url,
        "GITHUB_API_URL": fake_github.api_url,
        "GITHUB_TOKEN": fake_github.token,
        "CATALOG_REPOS": "acme/one,acme/two",
    }


@pytest.fixture
def celery_worker(env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker process (solo pool: one task at a time, like one container)."""
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        print((tmp_path / "worker.log").read_text()[-3000:])


@pytest.fixture
def publisher(env: dict[str, str]) -> Publisher:
    return Publisher(make_celery(Settings(celery_broker_url=env["CELERY_BROKER_URL"])))


def _repos(make_repo: Any) -> None:
    make_repo("acme/one", {"skills/a.md": "---\nname: a\n---\n", "tools/t.yaml": "name: t\n"})
    make_repo("acme/two", {"mcps/m.json": '{"name": "m"}'})


def test_reconcile_task_processes_a_delivery(
    celery_worker: Any, publisher: Publisher, pg_engine: Engine, make_repo: Any
) -> None:
    _repos(make_repo)
    with transaction(pg_engine) as s:
        s.add(
            WebhookDelivery(
                delivery_id="d-1", event="push", status="queued", repository_full_name="acme/one"
            )
        )
    publisher.enqueue_reconcile("acme/one", "webhook", delivery_id="d-1")
    # The same message twice (a redelivery after a lost ack) is harmless.
    publisher.enqueue_reconcile("acme/one", "webhook", delivery_id="d-1")
    wait_until(lambda: len(live_items(pg_engine, "acme/one")) == 2)

    def delivery_done() -> bool:
        with session_factory(pg_engine)() as s:
            return s.scalar(select(WebhookDelivery.status)) == "done"

    wait_until(delivery_done)

    def two_runs() -> bool:
        with session_factory(pg_engine)() as s:
            return len(s.execute(select(SyncRun.outcome)).all()) == 2

    wait_until(two_runs)
    with session_factory(pg_engine)() as s:
        outcomes = s.execute(select(SyncRun.outcome).order_by(SyncRun.id)).scalars().all()
    assert outcomes == ["success", "noop"]


def test_poll_task_reconciles_every_watched_repository(
    celery_worker: Any, env: dict[str, str], pg_engine: Engine, make_repo: Any
) -> None:
    _repos(make_repo)
    celery = make_celery(Settings(celery_broker_url=env["CELERY_BROKER_URL"]))
    celery.send_task(POLL_TASK)
    wait_until(lambda: len(live_items(pg_engine)) == 3)
    with session_factory(pg_engine)() as s:
        synced = s.execute(select(Repository.full_name, Repository.last_synced_sha)).all()
    assert sorted(name for name, sha in synced if sha) == ["acme/one", "acme/two"]


def test_a_task_that_cannot_succeed_marks_its_delivery_failed(
    env: dict[str, str], pg_engine: Engine, make_repo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad credentials are not retried: the delivery says why, and no row changes."""
    _repos(make_repo)
    for key, value in {**env, "GITHUB_TOKEN": "ghp_revoked"}.items():
        monkeypatch.setenv(key, value)
    composition.reset()
    from worker.tasks import reconcile_repository_task

    with transaction(pg_engine) as s:
        s.add(
            WebhookDelivery(
                delivery_id="d-9", event="push", status="queued", repository_full_name="acme/one"
            )
        )
    try:
        reconcile_repository_task.apply(
            kwargs={"full_name": "acme/one", "trigger": "webhook", "delivery_id": "d-9"}
        )
    finally:
        composition.reset()
    with session_factory(pg_engine)() as s:
        delivery = s.execute(select(WebhookDelivery)).scalar_one()
        repo = s.execute(select(Repository).where(Repository.full_name == "acme/one")).scalar_one()
    assert delivery.status == "failed"
    assert "bad credentials" in (delivery.last_error or "").lower()
    assert "ghp_revoked" not in (delivery.last_error or "")
    assert repo.consecutive_failures == 1 and repo.next_poll_at is not None
    assert live_items(pg_engine) == []
