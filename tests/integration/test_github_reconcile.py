"""Reconciles from the fake GitHub into real PostgreSQL: request budgets, faults, concurrency."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from models import Repository, SyncRun, session_factory
from tests.fakes.github import FakeGitHub, FakeRepo
from worker.cli.views import live_items
from worker.github.client import GitHubClient
from worker.github.retry import RetryPolicy
from worker.github.source import GitHubSource
from worker.sync.layout import CatalogRules
from worker.sync.reconcile import LOCK_CLASS, Options, ReconcileRequest, Result, reconcile
from worker.sync.source import Head, Listing

OPTIONS = Options(rules=CatalogRules(roots={"skills": "skill", "mcps": "mcp", "tools": "tool"}))
REPO = "acme/catalog"
FAST = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05)


def item(name: str, extra: str = "") -> str:
    return f"---\nname: {name}\ndescription: the {name} item{extra}\n---\nbody of {name}\n"


def catalog(n: int) -> dict[str, str | bytes]:
    roots = ("skills", "mcps", "tools")
    files: dict[str, str | bytes] = {
        f"{roots[i % 3]}/i{i:03d}/SKILL.md"
        if roots[i % 3] == "skills"
        else f"{roots[i % 3]}/i{i:03d}.md": item(f"i{i:03d}")
        for i in range(n)
    }
    files["README.md"] = "# not an item\n"
    files["skills/i000/logo.png"] = bytes(range(256))
    return files


@pytest.fixture
def client(fake_github: FakeGitHub) -> Iterator[GitHubClient]:
    c = GitHubClient(fake_github.api_url, token=fake_github.token, timeout=5, retry=FAST)
    yield c
    c.close()


def sync(engine: Engine, client: GitHubClient, trigger: str = "test", **kwargs: Any) -> Result:
    source = GitHubSource(client, REPO, None, tarball_threshold=50)
    return reconcile(engine, REPO, source, OPTIONS, ReconcileRequest(trigger=trigger, **kwargs))


def table(engine: Engine) -> dict[str, tuple[str, str]]:
    return {i.git_path: (i.name, i.blob_sha) for i in live_items(engine, REPO)}


def tree_items(repo: FakeRepo) -> dict[str, str]:
    """What the table must hold: item path → blob SHA at the pushed head."""
    from tests.fakes.github import git

    out = git(repo.bare, "ls-tree", "-r", repo.head).decode()
    shas = {line.split("\t")[1]: line.split()[2] for line in out.splitlines()}
    return {p: s for p, s in shas.items() if p.endswith(".md") and p != "README.md"}


def test_cold_sync_then_push_then_unchanged_poll(
    pg_engine: Engine, fake_github: FakeGitHub, make_repo: Any, client: GitHubClient
) -> None:
    repo = make_repo(REPO, catalog(300))
    fake_github.reset_log()
    cold = sync(pg_engine, client)
    assert cold.outcome == "success", cold.error
    assert cold.counts.added == 300
    assert cold.requests <= 5, fake_github.log
    assert {p: s for p, (_, s) in table(pg_engine).items()} == tree_items(repo)

    for i in (1, 2, 4, 5):
        path = f"mcps/i{i:03d}.md" if i % 3 == 1 else f"tools/i{i:03d}.md"
        if i % 3 == 0:
            path = f"skills/i{i:03d}/SKILL.md"
        repo.write(path, item(f"i{i:03d}", " (edited)"))
    repo.commit("edit 4")
    repo.push()
    push = sync(pg_engine, client)
    assert push.counts.updated == 4 and push.counts.added == 0
    assert push.requests <= 6
    assert {p: s for p, (_, s) in table(pg_engine).items()} == tree_items(repo)

    fake_github.reset_log()
    poll = sync(pg_engine, client, trigger="poll")
    assert poll.outcome == "noop"
    assert poll.requests == 1
    assert [(r.status) for r in fake_github.log] == [304]
    with session_factory(pg_engine)() as s:
        stored = s.execute(select(Repository).where(Repository.full_name == REPO)).scalar_one()
        assert stored.last_synced_sha == repo.head and stored.head_etag
        assert stored.rate_limit_remaining is not None
        runs = s.execute(select(SyncRun.github_requests).order_by(SyncRun.id)).scalars().all()
        assert runs == [cold.requests, push.requests]  # the 304 poll writes no run row


def test_force_push_to_an_older_tree_converges(
    engine: Engine, make_repo: Any, client: GitHubClient
) -> None:
    repo = make_repo(REPO, {"skills/a.md": item("a"), "skills/b.md": item("b")})
    old = repo.head
    sync(engine, client)
    repo.write("skills/c.md", item("c"))
    repo.delete("skills/a.md")
    repo.commit("newer")
    repo.push()
    assert set(table(engine)) == {"skills/a.md", "skills/b.md"}
    sync(engine, client)
    assert set(table(engine)) == {"skills/b.md", "skills/c.md"}
    repo.force_push_to(old)
    forced = sync(engine, client)
    assert forced.outcome == "success", forced.error
    assert set(table(engine)) == {"skills/a.md", "skills/b.md"}
    assert {p: s for p, (_, s) in table(engine).items()} == tree_items(repo)


def test_late_and_repeated_reconciles_change_nothing(
    pg_engine: Engine, make_repo: Any, client: GitHubClient
) -> None:
    """A reconcile is level-triggered: late, repeated or full runs all give the same table."""
    repo = make_repo(REPO, catalog(20))
    sync(pg_engine, client)
    repo.write("skills/i000/SKILL.md", item("i000", " v2"))
    repo.commit("v2")
    repo.push()
    first = sync(pg_engine, client)
    expected = table(pg_engine)
    for kwargs in ({}, {"full": True}, {}):
        again = sync(pg_engine, client, **kwargs)
        assert again.counts.changed == 0, again.summary()
    assert first.counts.updated == 1
    assert table(pg_engine) == expected


class SlowSource(GitHubSource):
    """Holds the reconcile inside its transaction until released (a long tarball)."""

    def __init__(self, *args: Any, gate: threading.Event, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = gate
        self.inside = threading.Event()

    def read(
        self, head: Head, wanted: Mapping[str, str], *, bulk: bool = False
    ) -> Iterator[tuple[str, bytes]]:
        self.inside.set()
        self.gate.wait(10)
        yield from super().read(head, wanted, bulk=bulk)


def test_concurrent_reconciles_take_turns_and_coalesce(
    pg_engine: Engine, fake_github: FakeGitHub, make_repo: Any
) -> None:
    repo = make_repo(REPO, catalog(30))
    gate = threading.Event()
    clients = [GitHubClient(fake_github.api_url, token=fake_github.token, retry=FAST) for _ in "ab"]
    slow = SlowSource(clients[0], REPO, None, gate=gate)
    results: dict[str, Result] = {}

    def first() -> None:
        results["a"] = reconcile(
            pg_engine, REPO, slow, OPTIONS, ReconcileRequest(trigger="webhook")
        )

    holder = threading.Thread(target=first)
    holder.start()
    assert slow.inside.wait(10)
    # A push lands while the first run holds the lock; a second worker picks up its delivery.
    repo.write("skills/new/SKILL.md", item("new"))
    repo.commit("new")
    repo.push()
    second = reconcile(
        pg_engine,
        REPO,
        GitHubSource(clients[1], REPO, None),
        OPTIONS,
        ReconcileRequest(trigger="webhook"),
    )
    assert second.outcome == "skipped"
    gate.set()
    holder.join(20)
    assert results["a"].ok, results["a"].error
    # The holder saw the dirty flag and reconciled again: the new item is there.
    assert {p: s for p, (_, s) in table(pg_engine).items()} == tree_items(repo)
    with session_factory(pg_engine)() as s:
        triggers = s.execute(select(SyncRun.trigger, SyncRun.outcome).order_by(SyncRun.id)).all()
        assert ("coalesced", "success") in [tuple(t) for t in triggers]
        assert not s.execute(select(Repository.dirty)).scalar_one()


class ListThenPause(GitHubSource):
    """Lists the tree, then lets `meanwhile` run before the reconcile goes on (once)."""

    def __init__(self, *args: Any, meanwhile: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meanwhile = meanwhile

    def listing(self, head: Head) -> Listing:
        listing = super().listing(head)
        if self.meanwhile is not None:
            step, self.meanwhile = self.meanwhile, None
            step()
        return listing


def test_a_listing_older_than_the_rows_is_never_applied(
    engine: Engine, fake_github: FakeGitHub, make_repo: Any
) -> None:
    """Run A lists head 1; run B syncs head 2 before A takes the lock. A must not undo B.

    Found by the two-beats system test: A soft-deleted B's new files and B's bookkeeping then
    said "synced to head 2", so every later poll was a no-op over a stale table.
    """
    repo = make_repo(REPO, catalog(6))
    clients = [GitHubClient(fake_github.api_url, token=fake_github.token, retry=FAST) for _ in "ab"]
    sync(engine, clients[0])

    def push_and_sync_newer() -> None:
        repo.write("skills/newer/SKILL.md", item("newer"))
        repo.commit("newer")
        repo.push()
        b = reconcile(
            engine,
            REPO,
            GitHubSource(clients[1], REPO, None),
            OPTIONS,
            ReconcileRequest(trigger="webhook"),
        )
        assert b.counts.added == 2, b.summary()  # `late` (A's head) and `newer`

    repo.write("tools/late.md", item("late"))
    repo.commit("late")
    repo.push()
    stale = ListThenPause(clients[0], REPO, None, meanwhile=push_and_sync_newer)
    a = reconcile(engine, REPO, stale, OPTIONS, ReconcileRequest(trigger="poll"))
    assert a.ok, a.error
    assert a.counts.deleted == 0, a.summary()
    assert a.to_sha == repo.head
    want = tree_items(repo)
    assert {p: s for p, (_, s) in table(engine).items()} == want
    with session_factory(engine)() as s:
        assert s.execute(select(Repository.last_synced_sha)).scalar_one() == repo.head
        deleted = s.execute(select(SyncRun.deleted)).scalars().all()
        assert sum(deleted) == 0, deleted
    # And the next poll agrees: nothing to do, the table already equals the head.
    poll = sync(engine, clients[0], trigger="poll")
    assert poll.outcome == "noop"
    assert {p: s for p, (_, s) in table(engine).items()} == want
    # Without a race nothing is listed twice: head, tree, one blob.
    repo.write("tools/late.md", item("late", " v2"))
    repo.commit("late v2")
    repo.push()
    push = sync(engine, clients[0])
    assert (push.counts.updated, push.requests) == (1, 3), push.summary()


def test_two_workers_at_once_end_with_the_head_tree(
    pg_engine: Engine, fake_github: FakeGitHub, make_repo: Any
) -> None:
    repo = make_repo(REPO, catalog(60))
    errors: list[BaseException] = []
    outcomes: list[str] = []

    def work() -> None:
        c = GitHubClient(fake_github.api_url, token=fake_github.token, retry=FAST)
        try:
            for _ in range(3):
                r = reconcile(
                    pg_engine,
                    REPO,
                    GitHubSource(c, REPO, None),
                    OPTIONS,
                    ReconcileRequest(trigger="t"),
                )
                outcomes.append(str(r.outcome))
                assert r.ok, r.error
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(3):
        repo.write(f"tools/extra{i}.md", item(f"extra{i}"))
        repo.commit(f"extra {i}")
        repo.push()
        time.sleep(0.05)
    for t in threads:
        t.join(60)
    assert errors == []
    sync(pg_engine, GitHubClient(fake_github.api_url, token=fake_github.token, retry=FAST))
    assert {p: s for p, (_, s) in table(pg_engine).items()} == tree_items(repo)


def test_the_lock_is_held_in_the_writing_transaction(
    pg_engine: Engine, make_repo: Any, client: GitHubClient
) -> None:
    make_repo(REPO, catalog(3))
    sync(pg_engine, client)
    with session_factory(pg_engine)() as s:
        repo_id = s.execute(select(Repository.id)).scalar_one()
    with pg_engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:c, :r)"), {"c": LOCK_CLASS, "r": repo_id})
        busy = sync(pg_engine, client, full=True)
        holder.execute(text("SELECT pg_advisory_unlock(:c, :r)"), {"c": LOCK_CLASS, "r": repo_id})
        holder.commit()
    assert busy.outcome == "skipped"
    with session_factory(pg_engine)() as s:
        assert s.execute(select(Repository.dirty)).scalar_one() is True


def test_a_file_that_could_not_be_read_leaves_the_head_unclaimed_until_it_is(
    pg_engine: Engine, fake_github: FakeGitHub, make_repo: Any, client: GitHubClient
) -> None:
    """Issue 13, class 5: a blob that answers 404 once is retried by the next run (a poll)."""
    from worker.cli.views import repo_statuses

    repo = make_repo(REPO, catalog(6))
    assert sync(pg_engine, client).counts.added == 6
    synced = repo.head
    repo.write("tools/i002.md", item("i002", " (edited)"))
    repo.write("mcps/i001.md", item("i001", " (edited)"))
    repo.commit("edit 2")
    repo.push()
    from tests.fakes.github import git

    lost = git(repo.bare, "rev-parse", f"{repo.head}:tools/i002.md").decode().strip()
    fake_github.fail_next(1, 404, path=f"/git/blobs/{lost}$")

    partial = sync(pg_engine, client, trigger="webhook")
    assert partial.outcome == "success" and partial.counts.updated == 1
    assert partial.counts.unread == ["tools/i002.md"]
    assert "could not be read (tools/i002.md)" in (partial.error or "")
    [status] = repo_statuses(pg_engine)
    assert (status.synced_sha, status.head_sha, status.in_sync) == (synced, repo.head, False)
    assert status.last_error == partial.error and status.errors == 0  # no error row pins it
    assert "edited" not in table_description(pg_engine, "tools/i002.md")

    poll = sync(pg_engine, client, trigger="poll")  # the unchanged head is not a no-op now
    assert poll.outcome == "success" and poll.counts.updated == 1, poll.error
    assert poll.counts.unread == [] and poll.error is None
    [status] = repo_statuses(pg_engine)
    assert (status.synced_sha, status.in_sync, status.last_error) == (repo.head, True, None)
    assert "edited" in table_description(pg_engine, "tools/i002.md")
    assert {p: s for p, (_, s) in table(pg_engine).items()} == tree_items(repo)
    assert sync(pg_engine, client, trigger="poll").outcome == "noop"


def table_description(engine: Engine, path: str) -> str:
    return next(i.description or "" for i in live_items(engine, REPO) if i.git_path == path)
