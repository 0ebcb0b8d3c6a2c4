"""Discovery and the repository lifecycle against the fake GitHub, on SQLite and PostgreSQL.

Every transition: new → watched and synced; gone from a listing, lost topic, removed from the
settings or deleted (404) → unwatched at once; unwatched past the grace period → retired (items
soft-deleted, one `retire` run); back → watched, items restored with their ids.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from models import (
    CatalogItem,
    CatalogItemChange,
    DiscoveryPage,
    Repository,
    SyncRun,
    session_factory,
    utcnow,
)
from settings import RepoSpec, Settings
from tests.fakes.github import FakeGitHub
from worker.discovery.hooks import after_reconcile, may_reconcile
from worker.discovery.lifecycle import forget, retire_due
from worker.discovery.plan import FORGOTTEN_REASON, GONE_REASON
from worker.discovery.run import DiscoveryResult, run_discovery
from worker.discovery.watching import watched_specs
from worker.errors import NotFoundError
from worker.github.client import GitHubClient
from worker.github.source import GitHubSource
from worker.sync.layout import CatalogRules
from worker.sync.reconcile import Options, ReconcileRequest, Result, reconcile

OPTIONS = Options(rules=CatalogRules(roots={"skills": "skill", "mcps": "mcp", "tools": "tool"}))
FILES = {"skills/a.md": "---\nname: a\n---\n", "tools/t.yaml": "name: t\n"}


class World:
    """Discovery runs and the reconciles they queue, run inline, at a clock the test moves."""

    def __init__(self, engine: Engine, client: GitHubClient, **values: Any) -> None:
        self.engine, self.client, self.values = engine, client, values
        self.settings = Settings(**values)
        self.now = utcnow()

    def discover(self, **changes: Any) -> DiscoveryResult:
        if changes:
            self.values.update(changes)
            self.settings = Settings(**self.values)
        queued: list[str] = []
        result = run_discovery(self.engine, self.settings, self.client, queued.append, self.now)
        assert queued == result.synced
        for spec in queued:
            self.sync(spec)
        return result

    def sync(self, text: str) -> Result:
        spec = RepoSpec.parse(text)
        source = GitHubSource(self.client, spec.full_name, spec.branch)
        result = reconcile(
            self.engine,
            spec.full_name,
            source,
            OPTIONS,
            ReconcileRequest(trigger="discovered", branch=spec.branch),
        )
        after_reconcile(self.engine, spec.full_name, result, lambda: self.client)
        return result

    def later(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def repo(self, name: str) -> Repository:
        with session_factory(self.engine)() as s:
            return s.execute(select(Repository).where(Repository.full_name == name)).scalar_one()

    def items(self, name: str, *, live: bool = True) -> dict[str, Any]:
        stmt = (
            select(CatalogItem.git_path, CatalogItem.id)
            .join(Repository, Repository.id == CatalogItem.repository_id)
            .where(Repository.full_name == name)
        )
        if live:
            stmt = stmt.where(CatalogItem.deleted_at.is_(None))
        with session_factory(self.engine)() as s:
            return dict(s.execute(stmt).all())

    def runs(self, name: str, trigger: str) -> list[SyncRun]:
        with session_factory(self.engine)() as s:
            return list(
                s.scalars(
                    select(SyncRun)
                    .join(Repository, Repository.id == SyncRun.repository_id)
                    .where(Repository.full_name == name, SyncRun.trigger == trigger)
                )
            )


@pytest.fixture
def world(
    engine: Engine, github_client: GitHubClient, fake_github: FakeGitHub, db_url: str
) -> World:
    fake_github.add_org("acme")
    return World(
        engine,
        github_client,
        database_url=db_url,
        github_api_url=fake_github.api_url,
        github_token=fake_github.token,
        retire_after_seconds=3600,
        catalog_repos="acme/*",
    )


def test_full_lifecycle_through_the_topic(world: World, make_repo: Any) -> None:
    fake = make_repo("acme/one", FILES).fake
    make_repo("acme/two", {"mcps/m.json": '{"name": "m"}'})
    fake.set_repo_meta("acme/one", topics=["Agent-Catalog"])
    fake.set_repo_meta("acme/two", topics=["agent-catalog"])

    # new → watched and synced at once; untagged repositories stay out
    make_repo("acme/untagged", FILES)
    first = world.discover(catalog_topic="agent-catalog")
    assert sorted(first.synced) == ["acme/one", "acme/two"]
    assert first.listings == {"owner:acme": "3 repositories"}
    ids = world.items("acme/one")
    assert sorted(ids) == ["skills/a.md", "tools/t.yaml"]
    repo = world.repo("acme/one")
    assert (repo.state, repo.watch_source, repo.discovered_via) == (
        "watched",
        "discovered",
        "owner:acme",
    )
    assert repo.state_reason == "listed for acme/* with topic agent-catalog"
    with session_factory(world.engine)() as s:
        assert (
            s.execute(select(Repository).where(Repository.full_name == "acme/untagged")).first()
            is None
        )
    with world.engine.begin() as conn:  # usage must survive retirement and return
        conn.execute(update(CatalogItem).values(usage_count=7))

    # lost its topic → unwatched at once, items still live
    fake.set_repo_meta("acme/one", topics=[])
    world.later(10)
    second = world.discover()
    assert second.unwatched == ["acme/one"] and second.synced == []
    repo = world.repo("acme/one")
    assert (repo.state, repo.state_reason) == ("unwatched", "lacks the topic agent-catalog")
    assert repo.unwatched_at == world.now
    assert sorted(world.items("acme/one")) == ["skills/a.md", "tools/t.yaml"]
    assert "acme/one" not in [s.full_name for s in watched_specs(world.engine, world.settings)]
    assert not may_reconcile(world.engine, world.settings, "acme/one")

    # grace period not over: nothing; over: retired in one run, items soft-deleted
    world.later(3599)
    assert retire_due(world.engine, 3600, world.now) == []
    world.later(1)
    [retired] = retire_due(world.engine, 3600, world.now)
    assert (retired.full_name, retired.items) == ("acme/one", 2)
    assert world.items("acme/one") == {}
    [run] = world.runs("acme/one", "retire")
    assert (run.outcome, run.deleted, run.error) == ("success", 2, "lacks the topic agent-catalog")
    repo = world.repo("acme/one")
    assert (repo.state, repo.retired_at, repo.last_synced_sha) == ("retired", world.now, None)
    assert world.items("acme/two") != {}  # the other repository is untouched

    # back → watched and synced; rows restored with their ids and usage
    fake.set_repo_meta("acme/one", topics=["agent-catalog"])
    world.later(60)
    back = world.discover()
    assert back.synced == ["acme/one"] and back.watched == ["acme/one"]
    assert world.items("acme/one") == ids
    with session_factory(world.engine)() as s:
        assert set(s.scalars(select(CatalogItem.usage_count))) == {7}
    repo = world.repo("acme/one")
    assert (repo.state, repo.unwatched_at, repo.retired_at) == ("watched", None, None)


def test_removed_from_a_listing_is_unwatched_with_why(world: World, make_repo: Any) -> None:
    fake = make_repo("acme/one", FILES).fake
    make_repo("acme/two", FILES)
    world.discover()
    fake.remove_repo("acme/two")
    world.later(5)
    assert world.discover().unwatched == ["acme/two"]
    assert world.repo("acme/two").state_reason == (
        "no longer listed for acme/* (deleted, renamed or out of reach)"
    )
    # the wildcard taken out of the settings: its repositories leave too
    assert world.discover(catalog_repos="").unwatched == []  # nothing configured: nothing leaves
    assert world.discover(catalog_repos="other/x").unwatched == ["acme/one"]
    assert world.repo("acme/one").state_reason == "acme/* removed from CATALOG_REPOS"


def test_a_failed_or_empty_listing_never_unwatches_or_retires(
    world: World, make_repo: Any, fake_github: FakeGitHub
) -> None:
    make_repo("acme/one", FILES)
    world.discover()
    fake_github.fail_next(world.client.retry.attempts, status=500, path="^/orgs/acme/repos$")
    world.later(100_000)
    failed = world.discover()
    assert failed.listings == {"owner:acme": "failed"}
    assert (failed.unwatched, failed.retired) == ([], [])
    fake_github.remove_repo("acme/one")  # the owner now lists nothing at all
    world.later(100_000)
    empty = world.discover()
    assert empty.listings == {"owner:acme": "empty"}
    assert (empty.unwatched, empty.retired) == ([], [])
    assert world.repo("acme/one").state == "watched"


def test_explicit_wins_and_removal_from_the_settings(world: World, make_repo: Any) -> None:
    make_repo("acme/one", FILES)
    repo = make_repo("acme/two", FILES)
    repo.checkout("release", create=True)
    repo.write("skills/r.md", "---\nname: r\n---\n")
    repo.commit("release only")
    repo.push()
    result = world.discover(catalog_repos="acme/*,acme/two@release")
    assert sorted(result.synced) == ["acme/one", "acme/two@release"]
    assert world.repo("acme/two").watch_source == "explicit"
    assert "skills/r.md" in world.items("acme/two")
    world.later(30)
    assert world.discover(catalog_repos="acme/two").unwatched == ["acme/one"]
    world.later(30)
    assert world.discover(catalog_repos="acme/one").unwatched == ["acme/two"]
    assert world.repo("acme/two").state_reason == "removed from CATALOG_REPOS"


def test_user_owner_falls_back_and_remembers(
    world: World, make_repo: Any, fake_github: FakeGitHub
) -> None:
    make_repo("bob/catalog", FILES)
    make_repo("bob/private", FILES, private_to={"someone-else"})
    assert world.discover(catalog_repos="bob/*").synced == ["bob/catalog"]
    assert len(fake_github.requests_matching("^/orgs/bob/repos$")) == 1
    fake_github.reset_log()
    world.discover()
    assert fake_github.requests_matching("^/orgs/") == []  # straight to the user's listing
    assert [r.status for r in fake_github.requests_matching("^/users/bob/repos$")] == [304]


def test_archived_is_synced_once_then_not_polled(world: World, make_repo: Any) -> None:
    fake = make_repo("acme/old", FILES).fake
    fake.set_repo_meta("acme/old", archived=True)
    assert world.discover().synced == ["acme/old"]
    assert world.repo("acme/old").archived
    assert sorted(world.items("acme/old")) == ["skills/a.md", "tools/t.yaml"]
    assert watched_specs(world.engine, world.settings) == []
    fake.set_repo_meta("acme/old", archived=False)  # unarchived: polled again
    world.discover()
    assert [s.full_name for s in watched_specs(world.engine, world.settings)] == ["acme/old"]


def test_deleted_repository_is_gone_then_found_again(
    world: World, make_repo: Any, fake_github: FakeGitHub
) -> None:
    kept = make_repo("other/kept", FILES)
    world.discover(catalog_repos="other/kept")
    fake_github.remove_repo("other/kept")
    failed = world.sync("other/kept")
    assert isinstance(failed.exception, NotFoundError)
    repo = world.repo("other/kept")
    assert (repo.state, repo.state_reason) == ("unwatched", GONE_REASON)
    assert world.discover().watched == []  # the settings still name it: not back by themselves
    assert [s.full_name for s in watched_specs(world.engine, world.settings)] == ["other/kept"]
    assert may_reconcile(world.engine, world.settings, "other/kept")  # polled to notice return
    fake_github.repos["other/kept"] = kept  # restored (un-deleted)
    assert world.sync("other/kept").ok
    assert world.repo("other/kept").state == "watched"


def test_forget_retires_now(world: World, make_repo: Any) -> None:
    make_repo("acme/one", FILES)
    world.discover()
    done = forget(world.engine, "ACME/one", world.now)
    assert (done.retired.items, done.was) == (2, "watched")
    repo = world.repo("acme/one")
    assert (repo.state, repo.state_reason) == ("retired", FORGOTTEN_REASON)
    assert world.items("acme/one") == {}
    with session_factory(world.engine)() as s:
        changes = s.execute(
            select(
                CatalogItemChange.kind, CatalogItemChange.git_path, CatalogItemChange.sync_run_id
            )
            .where(CatalogItemChange.kind == "retired")
            .order_by(CatalogItemChange.git_path)
        ).all()
    # The change feed hears of it: one `retired` row per item, under the retire run.
    assert [(kind, run) for kind, _, run in changes] == [("retired", done.retired.run_id)] * 2
    with pytest.raises(NotFoundError):
        forget(world.engine, "acme/nothing")


def test_discovery_of_500_repositories_pages_then_304s(
    world: World, fake_github: FakeGitHub
) -> None:
    names = [f"acme/repo-{n:03d}" for n in range(500)]
    fake_github.add_listed_repos(names, topics=["agent-catalog"])
    queued: list[str] = []
    first = run_discovery(world.engine, world.settings, world.client, queued.append, world.now)
    assert sorted(queued) == names and len(first.watched) == 500
    assert (first.requests, first.not_modified) == (5, 0)  # 100 per page
    with session_factory(world.engine)() as s:
        pages = s.scalars(select(DiscoveryPage).order_by(DiscoveryPage.page)).all()
        assert [len(p.repositories) for p in pages] == [100] * 5
        assert all(p.etag for p in pages)
    queued.clear()
    # The last page is unchanged but full: one look at the page after it (empty, kept too).
    again = run_discovery(world.engine, world.settings, world.client, queued.append, world.now)
    assert (again.requests, again.not_modified) == (6, 5)
    remaining = fake_github.rate_limit_remaining
    steady = run_discovery(world.engine, world.settings, world.client, queued.append, world.now)
    assert (steady.requests, steady.not_modified) == (6, 6)
    assert fake_github.rate_limit_remaining == remaining  # 304s are free
    assert queued == [] and (steady.watched, steady.unwatched) == ([], [])
    # One more repository, on a new page: found, while the unchanged pages stay 304s.
    fake_github.add_listed_repos(["acme/repo-999"])
    third = run_discovery(world.engine, world.settings, world.client, queued.append, world.now)
    assert queued == ["acme/repo-999"]
    assert (third.requests, third.not_modified) == (6, 5)


def test_discoveries_at_once_agree(world: World, fake_github: FakeGitHub) -> None:
    """Several installation deliveries at once: concurrent runs, one consistent result."""
    fake_github.add_listed_repos([f"acme/r{n:03d}" for n in range(150)])
    errors: list[BaseException] = []
    queued: list[str] = []

    def run() -> None:
        client = GitHubClient(fake_github.api_url, token=fake_github.token, timeout=10)
        try:
            run_discovery(world.engine, world.settings, client, queued.append, world.now)
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(queued) == [f"acme/r{n:03d}" for n in range(150)]  # each queued once
    with session_factory(world.engine)() as s:
        assert s.scalar(select(func.count()).select_from(Repository)) == 150
        assert [p.page for p in s.scalars(select(DiscoveryPage).order_by(DiscoveryPage.page))] == [
            1,
            2,
        ]
