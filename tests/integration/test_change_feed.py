"""The change feed is written with the rows: exactly the expected changes, none for a run that
did not commit, and a feed that replays into the table (on SQLite and real PostgreSQL)."""

from __future__ import annotations

import itertools
import json
import select
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy import select as sql_select

from models import CatalogItem, CatalogItemChange, Repository, SyncRun, session_factory
from tests.fakes.github import FakeRepo
from worker.cli.views import live_items
from worker.github.client import GitHubClient
from worker.github.source import GitHubSource
from worker.sync import repo_state
from worker.sync.folder import LocalSource
from worker.sync.layout import CatalogRules
from worker.sync.reconcile import Options, Result, reconcile
from worker.sync.run import ReconcileRequest

OPTIONS = Options(rules=CatalogRules(roots={"skills": "skill", "tools": "tool"}))
REPO = "acme/catalog"
_repo_numbers = itertools.count()


def item(name: str, version: int = 1) -> str:
    return f"---\nname: {name}\ndescription: version {version}\n---\n"


def feed(engine: Engine, repo: str = REPO) -> list[CatalogItemChange]:
    stmt = (
        sql_select(CatalogItemChange)
        .join(Repository, Repository.id == CatalogItemChange.repository_id)
        .where(Repository.full_name == repo)
        .order_by(CatalogItemChange.id)
    )
    with session_factory(engine)() as session:
        return list(session.execute(stmt).scalars())


def item_ids(engine: Engine) -> dict[str, uuid.UUID]:
    with session_factory(engine)() as session:
        return dict(session.execute(sql_select(CatalogItem.git_path, CatalogItem.id)).all())


def github_sync(engine: Engine, client: GitHubClient, **kwargs: Any) -> Result:
    source = GitHubSource(client, REPO, None)
    result = reconcile(engine, REPO, source, OPTIONS, ReconcileRequest(trigger="push", **kwargs))
    assert result.ok, result.error
    return result


def test_pushes_produce_exactly_the_expected_changes(
    engine: Engine, make_repo: Any, github_client: GitHubClient
) -> None:
    repo: FakeRepo = make_repo(
        REPO, {"skills/a.md": item("a"), "skills/b.md": item("b"), "tools/t.yaml": "name: t\n"}
    )
    base = repo.head
    sha = {p: repo.blob_sha_at(p) for p in ("skills/a.md", "skills/b.md", "tools/t.yaml")}
    runs: list[tuple[Result, str]] = []

    def push(message: str) -> None:
        repo.commit(message)
        repo.push()
        runs.append((github_sync(engine, github_client), repo.head))

    runs.append((github_sync(engine, github_client), base))
    a2 = repo.write("skills/a.md", item("a", 2))
    push("edit a")
    c1 = repo.write("skills/c.md", item("c"))
    push("add c")
    repo.delete("skills/b.md")
    push("delete b")
    repo.rename("tools/t.yaml", "tools/t2.yaml")
    push("move t")
    repo.write("skills/b.md", item("b"))
    push("restore b")
    repo.force_push_to(base)
    runs.append((github_sync(engine, github_client), base))
    assert github_sync(engine, github_client).outcome == "noop"  # nothing new: no change

    ids = item_ids(engine)
    a, b, c, t = ids["skills/a.md"], ids["skills/b.md"], ids["skills/c.md"], ids["tools/t.yaml"]
    expected_by_run = [
        [
            ("added", a, "skills/a.md", None, None, sha["skills/a.md"]),
            ("added", b, "skills/b.md", None, None, sha["skills/b.md"]),
            ("added", t, "tools/t.yaml", None, None, sha["tools/t.yaml"]),
        ],
        [("updated", a, "skills/a.md", None, sha["skills/a.md"], a2)],
        [("added", c, "skills/c.md", None, None, c1)],
        [("deleted", b, "skills/b.md", None, sha["skills/b.md"], None)],
        [("moved", t, "tools/t2.yaml", "tools/t.yaml", sha["tools/t.yaml"], sha["tools/t.yaml"])],
        [("restored", b, "skills/b.md", None, sha["skills/b.md"], sha["skills/b.md"])],
        [  # the force-push back: moves, deletes, then rewritten files by path
            ("moved", t, "tools/t.yaml", "tools/t2.yaml", sha["tools/t.yaml"], sha["tools/t.yaml"]),
            ("deleted", c, "skills/c.md", None, c1, None),
            ("updated", a, "skills/a.md", None, a2, sha["skills/a.md"]),
        ],
    ]
    expected = [
        (*change, head, result.run_id)
        for (result, head), changes in zip(runs, expected_by_run, strict=True)
        for change in changes
    ]
    got = [
        (
            r.kind,
            r.item_id,
            r.git_path,
            r.old_git_path,
            r.old_blob_sha,
            r.new_blob_sha,
            r.commit_sha,
            r.sync_run_id,
        )
        for r in feed(engine)
    ]
    assert got == expected
    with session_factory(engine)() as session:
        stored = {r.id: r for r in session.execute(sql_select(SyncRun)).scalars()}
    for result, _ in runs:  # each run's row was opened with its changes and completed after
        run = stored[result.run_id]  # type: ignore[index]
        assert run.outcome == "success" and run.trigger == "push"
        assert run.added + run.updated + run.moved + run.deleted + run.restored == sum(
            1 for r in feed(engine) if r.sync_run_id == run.id
        )
    assert len(stored) == len(runs) + 1  # and the no-op run has a row but no change


def test_a_git_work_tree_records_the_commit_author_and_time(engine: Engine, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "skills").mkdir(parents=True)
    (tree / "skills/a.md").write_text(item("a"))
    git = ["git", "-C", str(tree), "-c", "user.name=Ada Lovelace", "-c", "user.email=ada@e"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    env = {"GIT_COMMITTER_DATE": "2026-11-30T12:00:00+01:00", "PATH": "/usr/bin:/bin"}
    subprocess.run([*git, "commit", "-qm", "first"], check=True, env=env)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    reconcile(engine, REPO, LocalSource(tree), OPTIONS, ReconcileRequest(trigger="test"))
    (change,) = feed(engine)
    assert (change.kind, change.commit_sha, change.author_login) == (
        "added",
        head.strip(),
        "Ada Lovelace",
    )
    assert change.committed_at is not None
    assert change.committed_at.isoformat() == "2026-11-30T11:00:00+00:00"


def write(root: Path, files: dict[str, str]) -> None:
    """Make the folder hold exactly `files`."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


@pytest.fixture
def pg_listener(engine: Engine) -> Iterator[Any]:
    """A LISTEN connection on PostgreSQL (None on SQLite, which has no NOTIFY)."""
    if engine.dialect.name != "postgresql":
        yield None
        return
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    conn = psycopg2.connect(*cargs, **cparams)
    conn.autocommit = True
    conn.cursor().execute("LISTEN catalog_changes")
    yield conn
    conn.close()


def notifications(conn: Any, wait: float = 0.5) -> list[dict[str, Any]]:
    if conn is None:
        return []
    select.select([conn], [], [], wait)
    conn.poll()
    got = [json.loads(n.payload) for n in conn.notifies]
    conn.notifies.clear()
    return got


def test_failed_refused_and_dry_runs_write_no_change(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_listener: Any
) -> None:
    from worker.sync import change_log

    monkeypatch.setattr(change_log, "_CHUNK", 3)  # many batches of changes in one run
    root = tmp_path / "tree"
    write(root, {f"skills/s{i}.md": item(f"s{i}") for i in range(20)})
    first = reconcile(engine, REPO, LocalSource(root), OPTIONS, ReconcileRequest(trigger="test"))
    assert len(feed(engine)) == 20
    notes = notifications(pg_listener)
    if pg_listener is not None:
        cursors = [c.id for c in feed(engine)]
        announced = {"first_cursor": min(cursors), "last_cursor": max(cursors)}
        assert notes == [{"run_id": first.run_id, "repository": REPO, **announced}]

    write(root, {})
    refused = reconcile(engine, REPO, LocalSource(root), OPTIONS, ReconcileRequest(trigger="test"))
    assert refused.outcome == "refused"
    dry = reconcile(
        engine,
        REPO,
        LocalSource(root),
        OPTIONS,
        ReconcileRequest(trigger="verify", dry_run=True, force=True),
    )
    assert dry.counts.deleted == 20

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    # Fails after the changes are inserted, in the same transaction: they roll back with it.
    monkeypatch.setattr(repo_state, "mark_synced", broken)
    failed = reconcile(
        engine, REPO, LocalSource(root), OPTIONS, ReconcileRequest(trigger="test", force=True)
    )
    assert failed.outcome == "failed" and "disk on fire" in (failed.error or "")
    assert len(feed(engine)) == 20
    assert len(live_items(engine, REPO)) == 20
    assert notifications(pg_listener) == []
    with session_factory(engine)() as session:
        outcomes = session.execute(sql_select(SyncRun.outcome).order_by(SyncRun.id)).scalars()
        assert list(outcomes) == ["success", "refused", "failed"]

    monkeypatch.undo()
    forced = reconcile(
        engine, REPO, LocalSource(root), OPTIONS, ReconcileRequest(trigger="test", force=True)
    )
    assert forced.counts.deleted == 20
    assert [c.kind for c in feed(engine)] == ["added"] * 20 + ["deleted"] * 20
    assert len(notifications(pg_listener)) == (1 if pg_listener is not None else 0)


# --- the feed alone keeps an index equal to the table ------------------------------------------

PATHS = [f"skills/s{i}.md" for i in range(5)] + ["skills/f/SKILL.md", "tools/t.md"]
#: Few contents, so the same blob turns up at another path (moves) or again (restores).
CONTENTS = [item(f"c{i}") for i in range(4)] + ["---\nname: [broken\n---\n"]

states = st.lists(
    st.dictionaries(st.sampled_from(PATHS), st.sampled_from(CONTENTS), max_size=len(PATHS)),
    min_size=1,
    max_size=8,
)


def replay(changes: list[CatalogItemChange], index: dict[uuid.UUID, tuple[str, str]]) -> None:
    """What a consumer does with the feed: item id -> (path, blob), live items only."""
    for change in changes:
        if change.kind in ("deleted", "retired"):
            del index[change.item_id]
        else:
            assert change.new_blob_sha is not None
            index[change.item_id] = (change.git_path, change.new_blob_sha)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=states)
def test_replaying_the_feed_gives_the_table(engine: Engine, tmp_path: Path, sequence: list) -> None:  # type: ignore[type-arg]
    repo = f"acme/r{next(_repo_numbers)}"
    root = tmp_path / repo.replace("/", "-")
    index: dict[uuid.UUID, tuple[str, str]] = {}
    cursor = 0
    for files in sequence:
        write(root, files)
        result = reconcile(
            engine, repo, LocalSource(root), OPTIONS, ReconcileRequest(trigger="test", force=True)
        )
        assert result.outcome in ("success", "noop"), result.error
        new = [c for c in feed(engine, repo) if c.id > cursor]
        assert len(new) == result.counts.changed  # one row per changed item, no more
        replay(new, index)
        for kind in {c.kind for c in new}:
            event(kind)  # `--hypothesis-show-statistics`: how often each kind was exercised
        cursor = max([cursor, *(c.id for c in new)])
        table = {i.id: (i.git_path, i.blob_sha) for i in live_items(engine, repo)}
        assert index == table


def test_change_ids_become_visible_in_increasing_order(pg_engine: Engine, tmp_path: Path) -> None:
    """A writer that allocated ids holds the feed lock until it commits: a later writer waits,
    so a reader never sees a higher cursor while a lower one is still uncommitted."""
    import threading

    from worker.sync import change_log

    root = tmp_path / "tree"
    write(root, {"skills/a.md": item("a")})
    reconcile(pg_engine, "acme/one", LocalSource(root), OPTIONS, ReconcileRequest(trigger="test"))
    (first,) = feed(pg_engine, "acme/one")
    with session_factory(pg_engine)() as session, session.begin():
        change_log.take_feed_lock(session)  # an open writer, like issue 16's retirement
        row = {c: getattr(first, c) for c in ("item_id", "repository_id", "git_path")}
        _, held = change_log.insert_changes(
            session, [{**row, "kind": "retired", "created_at": first.created_at}]
        )
        other = threading.Thread(
            target=reconcile,
            args=(pg_engine, "acme/two", LocalSource(root), OPTIONS, ReconcileRequest("test")),
        )
        other.start()
        other.join(1.5)
        assert other.is_alive()  # waiting for the lock, with no id allocated yet
    other.join(30)
    (later,) = feed(pg_engine, "acme/two")
    assert later.id > held
