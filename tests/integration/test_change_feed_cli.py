"""`catalog-sync changes` / `history`, the follower across a PostgreSQL restart, and retention."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, update

from models import CatalogItemChange, make_engine, session_factory, transaction, utcnow
from models.migrate import upgrade
from settings import get_settings
from tests.servers import PostgresServer, create_database, with_database
from worker.cli import main
from worker.feed.retention import prune_changes
from worker.sync.folder import LocalSource
from worker.sync.layout import CatalogRules
from worker.sync.reconcile import Options, reconcile
from worker.sync.run import ReconcileRequest

CATALOG_SYNC = str(Path(sys.executable).parent / "catalog-sync")
OPTIONS = Options(rules=CatalogRules(roots={"skills": "skill", "tools": "tool"}))
REPO = "acme/catalog"


def item(name: str, version: int = 1) -> str:
    return f"---\nname: {name}\ndescription: version {version}\n---\n"


def put(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def sync(engine: Engine, root: Path) -> None:
    result = reconcile(engine, REPO, LocalSource(root), OPTIONS, ReconcileRequest(trigger="test"))
    assert result.ok, result.error


def cursors(engine: Engine) -> list[int]:
    with session_factory(engine)() as session:
        return list(session.execute(select(CatalogItemChange.id).order_by("id")).scalars())


def test_changes_and_history(cli: Any, engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    put(root, "skills/a.md", item("a"))
    put(root, "skills/old.md", item("moving"))
    sync(engine, root)
    first_run_end = cursors(engine)[-1]
    put(root, "skills/a.md", item("a", 2))
    (root / "skills/old.md").rename(root / "skills/new.md")
    sync(engine, root)

    doc = json.loads(cli("changes", "--json").output)
    assert [(c["kind"], c["git_path"], c["old_git_path"]) for c in doc["changes"]] == [
        ("added", "skills/a.md", None),
        ("added", "skills/old.md", None),
        ("moved", "skills/new.md", "skills/old.md"),
        ("updated", "skills/a.md", None),
    ]
    assert doc["cursor"] == cursors(engine)[-1]
    assert {c["repository"] for c in doc["changes"]} == {REPO}
    since = json.loads(cli("changes", "--json", "--since", str(first_run_end)).output)
    assert [c["kind"] for c in since["changes"]] == ["moved", "updated"]
    future = (utcnow() + timedelta(hours=1)).isoformat()
    assert json.loads(cli("changes", "--json", "--since", future).output)["changes"] == []
    past = (utcnow() - timedelta(hours=1)).isoformat()
    assert len(json.loads(cli("changes", "--json", "--since", past).output)["changes"]) == 4
    assert json.loads(cli("changes", "--json", "--repo", "other/repo").output)["changes"] == []
    human = cli("changes", "--repo", "ACME/Catalog")
    assert human.exit_code == 0
    assert "moved" in human.output and "skills/old.md -> skills/new.md" in human.output
    bad = cli("changes", "--since", "yesterday")
    assert bad.exit_code == 2 and "--since" in bad.output

    for path in ("skills/new.md", "skills/old.md"):  # the item, by its path now or before
        hist = json.loads(cli("history", path, "--json").output)
        assert [(c["kind"], c["git_path"]) for c in hist["changes"]] == [
            ("moved", "skills/new.md"),
            ("added", "skills/old.md"),
        ]
    text = cli("history", "skills/a.md", "--repo", REPO)
    assert text.exit_code == 0
    assert [line.split()[3] for line in text.output.splitlines()] == ["updated", "added"]
    unknown = cli("history", "skills/nope.md")
    assert unknown.exit_code == 1
    assert unknown.output.strip() == "error: skills/nope.md: no item has this path"
    assert cli("history", "skills/a.md", "--repo", "other/repo").exit_code == 1


def test_an_unmigrated_database_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    get_settings.cache_clear()
    try:
        for args in (["changes"], ["changes", "--follow"], ["history", "skills/a.md"]):
            result = CliRunner().invoke(main, args)
            assert result.exit_code == 1, result.output
            assert result.output.strip().endswith(
                "empty.sqlite is not migrated: run `catalog-sync db upgrade`"
            )
            assert len(result.output.splitlines()) == 1
    finally:
        get_settings.cache_clear()


def test_feed_commands_have_help() -> None:
    for command in ("changes", "history"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


class FollowProcess:
    """`catalog-sync changes --follow --json` in its own process; lines arrive on a queue."""

    def __init__(self, database_url: str, cwd: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CATALOG_", "GITHUB_"))}
        self.proc = subprocess.Popen(
            [CATALOG_SYNC, "changes", "--follow", "--json", *args],
            cwd=cwd,
            env={**env, "DATABASE_URL": database_url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def take(self, n: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        got = []
        while len(got) < n:
            try:
                got.append(
                    json.loads(self.lines.get(timeout=max(0.0, deadline - time.monotonic())))
                )
            except queue.Empty:
                raise AssertionError(f"follower printed {len(got)} of {n} changes") from None
        return got

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C: the follower must end with exit 0 and no traceback."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(15)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()


def test_follow_on_sqlite_polls_and_exits_cleanly_on_ctrl_c(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = make_engine(sqlite_url)
    root = tmp_path / "tree"
    put(root, "skills/a.md", item("a"))
    sync(engine, root)
    follower = FollowProcess(sqlite_url, tmp_path)
    try:
        assert [c["kind"] for c in follower.take(1)] == ["added"]
        put(root, "skills/b.md", item("b"))
        sync(engine, root)
        (new,) = follower.take(1)
        assert (new["kind"], new["git_path"], new["repository"]) == ("added", "skills/b.md", REPO)
        assert follower.lines.empty()
    finally:
        code, stderr = follower.interrupt()
        engine.dispose()
    assert code == 0 and "Traceback" not in stderr


def test_listen_follower_gets_every_cursor_once_across_a_postgres_restart(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    create_database(pg_server.url(), "feed")
    url = with_database(pg_server.url(), "feed")
    upgrade(url)
    engine = make_engine(url)
    root = tmp_path / "tree"
    seen: list[int] = []
    follower = FollowProcess(url, tmp_path, "--since", "0")
    try:
        for i in range(3):
            put(root, f"skills/s{i}.md", item(f"s{i}"))
        sync(engine, root)
        # Seconds, not the 30 s idle re-read: the follower was woken by the NOTIFY.
        seen += [c["cursor"] for c in follower.take(3, timeout=25)]

        pg_server.stop()
        time.sleep(1)
        pg_server.start()
        put(root, "skills/s0.md", item("s0", 2))
        (root / "skills/s1.md").unlink()
        sync(engine, root)  # right after the restart: maybe before the follower is back
        seen += [c["cursor"] for c in follower.take(2, timeout=30)]

        put(root, "skills/s3.md", item("s3"))
        sync(engine, root)  # and one the follower hears about once it LISTENs again
        seen += [c["cursor"] for c in follower.take(1, timeout=10)]
        time.sleep(0.5)
        assert follower.lines.empty()
    finally:
        code, stderr = follower.interrupt()
        engine.dispose()
    assert seen == cursors_of(url)
    assert code == 0 and "Traceback" not in stderr
    assert "retrying in" in stderr  # it did lose the connection, and came back


def cursors_of(url: str) -> list[int]:
    engine = make_engine(url)
    try:
        return cursors(engine)
    finally:
        engine.dispose()


def test_retention_prunes_old_changes_in_batches(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    root = tmp_path / "tree"
    for i in range(5):
        put(root, f"skills/s{i}.md", item(f"s{i}"))
    sync(engine, root)
    old = cursors(engine)[:3]
    with transaction(engine) as session:
        session.execute(
            update(CatalogItemChange)
            .where(CatalogItemChange.id.in_(old))
            .values(created_at=utcnow() - timedelta(days=91))
        )
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("CHANGES_RETENTION_DAYS", raising=False)
    get_settings.cache_clear()
    try:
        from worker.tasks import prune_changes_task

        assert prune_changes_task() == 3  # the beat task: CHANGES_RETENTION_DAYS=90
    finally:
        get_settings.cache_clear()
    kept = cursors(engine)
    assert len(kept) == 2 and min(kept) > max(old)
    assert prune_changes(engine, utcnow() + timedelta(seconds=1), batch=1) == 2
    # A new change never reuses a pruned cursor (SQLite: AUTOINCREMENT), readers stay correct.
    put(root, "skills/s9.md", item("s9"))
    sync(engine, root)
    with session_factory(engine)() as session:
        assert session.scalar(select(func.min(CatalogItemChange.id))) > max(kept)
