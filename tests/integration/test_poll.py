"""Polling many repositories from one process: concurrent 304s, and the shared rate reserve."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from models import utcnow
from tests.fakes.github import FakeGitHub
from worker.github.client import GitHubClient
from worker.github.source import GitHubSource
from worker.sync import rate_budget
from worker.sync.layout import CatalogRules
from worker.sync.poll import poll_all
from worker.sync.reconcile import Options, ReconcileRequest, Result, reconcile

OPTIONS = Options(rules=CatalogRules(roots={"skills": "skill"}))
NAMES = [f"acme/poll-{i:02d}" for i in range(12)]


@pytest.fixture
def client(fake_github: FakeGitHub) -> Iterator[GitHubClient]:
    c = GitHubClient(fake_github.api_url, token=fake_github.token, timeout=5)
    yield c
    c.close()


def _poller(engine: Engine, client: GitHubClient, threads: set[str] | None = None):
    def poll_one(name: str) -> Result:
        if threads is not None:
            threads.add(threading.current_thread().name)
        source = GitHubSource(client, name, None)
        return reconcile(engine, name, source, OPTIONS, ReconcileRequest(trigger="poll"))

    return poll_one


@pytest.fixture
def synced(engine: Engine, make_repo, client: GitHubClient) -> list[str]:
    """Twelve repositories, each synced once (its head ETag stored)."""
    for i, name in enumerate(NAMES):
        make_repo(name, {f"skills/s{i}.md": f"---\nname: s{i}\n---\n"})
    first = poll_all(engine, NAMES, _poller(engine, client), client, workers=4)
    assert first.outcomes == {"success": len(NAMES)}
    return NAMES


def test_an_unchanged_poll_is_one_304_per_repository_issued_concurrently(
    engine: Engine, fake_github: FakeGitHub, client: GitHubClient, synced: list[str]
) -> None:
    fake_github.reset_log()
    threads: set[str] = set()
    report = poll_all(engine, synced, _poller(engine, client, threads), client, workers=4)
    assert report.outcomes == {"noop": len(synced)} and not report.deferred
    assert fake_github.request_count == fake_github.count(status=304) == len(synced)
    assert fake_github.count(r"/commits/", method="GET") == len(synced)
    assert 1 < len(threads) <= 4


def test_under_the_reserve_every_worker_defers_until_the_reset(
    engine: Engine, fake_github: FakeGitHub, client: GitHubClient, synced: list[str]
) -> None:
    fake_github.rate_limit_remaining = 100  # under a reserve of 500
    fake_github.reset_log()
    report = poll_all(engine, synced, _poller(engine, client), client, workers=1)
    assert sum(report.outcomes.values()) == 1 and fake_github.request_count == 1
    assert sorted(report.deferred) == sorted(synced[1:])
    assert report.deferred_until is not None and report.deferred_until > utcnow()
    # Another worker (its own client, which has seen no rate-limit header yet) defers too,
    # without a single request: the state is in the database.
    other = GitHubClient(fake_github.api_url, token=fake_github.token, timeout=5)
    try:
        again = poll_all(engine, synced, _poller(engine, other), other, workers=4)
    finally:
        other.close()
    assert again.deferred == synced and not again.outcomes
    assert fake_github.request_count == 1
    # After the reset, polls go out again.
    until = rate_budget.deferred_until(engine, utcnow())
    assert until == report.deferred_until
    assert rate_budget.deferred_until(engine, until + timedelta(seconds=1)) is None


def test_above_the_reserve_nothing_is_deferred(
    engine: Engine, fake_github: FakeGitHub, client: GitHubClient, synced: list[str]
) -> None:
    fake_github.rate_limit_remaining = 600
    report = poll_all(engine, synced, _poller(engine, client), client, workers=4)
    assert not report.deferred and report.outcomes == {"noop": len(synced)}
    assert rate_budget.deferred_until(engine, utcnow()) is None
