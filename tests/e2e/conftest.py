"""Fixtures for the whole-system tests, and the figures they report.

`stack` gives a test its own PostgreSQL and Redis, the fake GitHub with `acme/catalog`, and
gunicorn + a Celery worker + beat started with the production commands; the fake's webhook
points at the receiver. Every process is killed at teardown, and their output tails are printed
when the test failed. Figures a test records with `figures` are printed in the terminal summary
(also without `-s`), attached as `record_property`, and written to `e2e-figures.txt` in the
session's tmp dir.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.procs import (
    REPO,
    SECRET,
    Db,
    Stack,
    Tree,
    item_text,
    new_port,
    stack_env,
    wait_until,
)
from tests.fakes.github import FakeGitHub, FakeRepo
from tests.servers import PostgresServer, RedisServer, create_database

_FIGURES: list[tuple[str, str]] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "stack(beats=1, initial=3, env={}): how the `system` fixture starts the stack"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("catalog-sync end-to-end figures")
    for name, line in _FIGURES:
        terminalreporter.write_line(f"{name}: {line}")


@pytest.fixture
def figures(
    request: pytest.FixtureRequest,
    record_property: Callable[[str, object], None],
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str, str], None]:
    """`figures(key, text)`: report one measured figure of this test."""
    report = tmp_path_factory.getbasetemp() / "e2e-figures.txt"

    def add(key: str, text: str) -> None:
        name = f"{request.node.name} {key}"
        print(f"\n[e2e figure] {name}: {text}", flush=True)
        record_property(key, text)
        _FIGURES.append((name, text))
        with report.open("a") as out:
            out.write(f"{name}: {text}\n")

    return add


@dataclass
class System:
    """What a whole-system test works with."""

    stack: Stack
    fake: FakeGitHub
    repo: FakeRepo
    tree: Tree
    db: Db
    pg: PostgresServer
    redis: RedisServer

    def push(
        self, files: dict[str, str], message: str = "change", delete: tuple[str, ...] = ()
    ) -> str:
        """Write (and delete) files, commit and push; returns the new head SHA."""
        self.repo.write_many(files)
        for path in delete:
            self.repo.delete(path)
        self.tree.set(files)
        self.tree.remove(delete)
        self.repo.commit(message)
        return self.repo.push()

    def redis_unacked(self) -> int:
        """Messages a dead worker took and never acknowledged (Redis restores them only after
        the transport's visibility timeout)."""
        import redis

        client = redis.Redis.from_url(self.redis.url())
        try:
            return int(client.hlen("unacked"))
        finally:
            client.close()

    def synced(self) -> bool:
        return self.db.live_tree() == self.tree.files

    def wait_synced(self, timeout: float = 30.0) -> None:
        try:
            wait_until(self.synced, timeout, 0.05, "table equal to the head tree")
        except TimeoutError:
            live = self.db.live_tree()
            want = self.tree.files
            missing = sorted(set(want) - set(live))[:5]
            extra = sorted(set(live) - set(want))[:5]
            stale = sorted(p for p in set(want) & set(live) if want[p] != live[p])[:5]
            raise AssertionError(
                f"table != head tree after {timeout}s: {len(live)} live rows, {len(want)} "
                f"wanted; missing {missing}, extra {extra}, stale {stale}"
            ) from None


def initial_files(n: int = 3) -> dict[str, str]:
    return {f"skills/item-{i:04d}.md": item_text(f"item-{i:04d}", "v0") for i in range(n)}


@pytest.fixture
def system(
    request: pytest.FixtureRequest,
    pg_server: PostgresServer,
    redis_server: RedisServer,
    fake_github: FakeGitHub,
    tmp_path: Path,
) -> Iterator[System]:
    """The stack running, `acme/catalog` synced once through a real webhook delivery.

    `@pytest.mark.stack(beats=2, initial=3, env={...})` adjusts it.
    """
    marker = request.node.get_closest_marker("stack")
    opts: dict[str, Any] = dict(marker.kwargs) if marker else {}
    create_database(pg_server.url(), "catalog")
    db_url = pg_server.url("catalog")
    env = stack_env(
        db_url, redis_server.url(), fake_github.api_url, fake_github.token, **opts.get("env", {})
    )
    stack = Stack(tmp=tmp_path, env=env, port=new_port(), db_url=db_url)
    db = Db(db_url)
    try:
        stack.migrate()  # docker-compose's one-shot `migrate` service
        stack.start("webhook")
        worker = stack.start("worker")
        for _ in range(opts.get("beats", 1)):
            stack.start("beat")
        stack.wait_healthy()
        stack.wait_worker_ready(worker)
        repo = fake_github.create_repo(REPO)
        fake_github.add_hook(REPO, stack.webhook_url, SECRET)
        sys_ = System(stack, fake_github, repo, Tree(), db, pg_server, redis_server)
        head = sys_.push(initial_files(opts.get("initial", 3)), "initial")
        sys_.wait_synced(60)
        # The rows commit before the run's `sync_runs` row: tests that count runs start after it.
        wait_until(
            lambda: any(r["to_sha"] == head for r in db.runs()), 30, 0.02, "initial run recorded"
        )
        yield sys_
    finally:
        failed = any(
            getattr(request.node, f"rep_{when}", None) is not None
            and getattr(request.node, f"rep_{when}").failed
            for when in ("setup", "call")
        )
        stack.stop_all()
        db.close()
        if failed or not hasattr(request.node, "rep_call"):
            print("\n" + stack.tails(60), flush=True)
        left = stack.leftovers()
        assert not left, f"processes left running after teardown: {left}"
