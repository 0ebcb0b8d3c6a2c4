"""The change feed's rows for an applied plan: one per changed item, the right ids and blobs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from worker.sync.changes import Commit, RowAfter, Stamp, change_rows
from worker.sync.plan import RowState, Wanted, plan_reconcile

NOW = datetime(2026, 12, 1, tzinfo=UTC)
COMMIT = Commit("c" * 40, "ada", datetime(2026, 11, 30, tzinfo=UTC))
STAMP = Stamp(repository_id=7, run_id=3, commit=COMMIT, now=NOW)


def row(path: str, sha: str, deleted: bool = False) -> RowState:
    return RowState(id=uuid.uuid4(), path=path, sha=sha, type="skill", deleted=deleted)


def test_every_kind_names_its_item_paths_and_blobs() -> None:
    edited, gone, back, moved = (
        row("skills/e.md", "e1"),
        row("skills/g.md", "g1"),
        row("skills/b.md", "b1", deleted=True),
        row("skills/old.md", "m1"),
    )
    new_id = uuid.uuid4()
    before = {r.path: r for r in (edited, gone, back, moved)}
    after = {
        "skills/e.md": RowAfter(edited.id, "e2"),
        "skills/g.md": RowAfter(gone.id, "g1"),
        "skills/b.md": RowAfter(back.id, "b1"),
        "skills/new.md": RowAfter(moved.id, "m1"),
        "skills/n.md": RowAfter(new_id, "n1"),
    }
    details = [
        ("moved", "skills/new.md"),
        ("deleted", "skills/g.md"),
        ("restored", "skills/b.md"),
        ("added", "skills/n.md"),
        ("updated", "skills/e.md"),
    ]
    rows = change_rows(details, {"skills/new.md": "skills/old.md"}, before, after, STAMP)
    got = [
        (
            r["kind"],
            r["item_id"],
            r["git_path"],
            r["old_git_path"],
            r["old_blob_sha"],
            r["new_blob_sha"],
        )
        for r in rows
    ]
    assert got == [
        ("moved", moved.id, "skills/new.md", "skills/old.md", "m1", "m1"),
        ("deleted", gone.id, "skills/g.md", None, "g1", None),
        ("restored", back.id, "skills/b.md", None, "b1", "b1"),
        ("added", new_id, "skills/n.md", None, None, "n1"),
        ("updated", edited.id, "skills/e.md", None, "e1", "e2"),
    ]
    for r in rows:
        assert (r["repository_id"], r["sync_run_id"], r["created_at"]) == (7, 3, NOW)
        assert (r["commit_sha"], r["author_login"], r["committed_at"]) == (
            COMMIT.sha,
            COMMIT.author_login,
            COMMIT.committed_at,
        )


def test_rows_follow_a_real_plan() -> None:
    """A plan from the planner (move, delete, restore) turns into exactly its changes."""
    kept, moving, dropped, revived = (
        row("skills/k.md", "k"),
        row("skills/a.md", "same"),
        row("skills/d.md", "d"),
        row("skills/r.md", "r", deleted=True),
    )
    desired = {
        "skills/k.md": Wanted("k", "skill"),
        "skills/z.md": Wanted("same", "skill"),
        "skills/r.md": Wanted("r", "skill"),
    }
    plan = plan_reconcile(desired, [kept, moving, dropped, revived], {})
    details = [("moved", m.new_path) for m in plan.moves]
    details += [("deleted", r.path) for r in plan.deletes]
    details += [("restored", r.path) for r in plan.restores]
    before = {r.path: r for r in (kept, moving, dropped, revived)}
    after = {
        "skills/z.md": RowAfter(moving.id, "same"),
        "skills/d.md": RowAfter(dropped.id, "d"),
        "skills/r.md": RowAfter(revived.id, "r"),
    }
    moved_from = {m.new_path: m.old_path for m in plan.moves}
    rows = change_rows(details, moved_from, before, after, STAMP)
    assert [(r["kind"], r["item_id"]) for r in rows] == [
        ("moved", moving.id),
        ("deleted", dropped.id),
        ("restored", revived.id),
    ]


def test_nothing_changed_gives_no_rows() -> None:
    assert change_rows([], {}, {}, {}, STAMP) == []


def test_a_change_of_a_row_that_did_not_exist_is_refused() -> None:
    """Inconsistent input must fail the transaction, not write a feed that lies."""
    after = {"skills/x.md": RowAfter(uuid.uuid4(), "x")}
    with pytest.raises(ValueError, match="no row before"):
        change_rows([("updated", "skills/x.md")], {}, {}, after, STAMP)
    with pytest.raises(ValueError):
        change_rows([("exploded", "skills/x.md")], {}, {}, after, STAMP)
