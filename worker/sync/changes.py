"""The change feed's rows for one applied plan, as a pure function.

A reconcile's apply reports every row it changed as `(kind, path)` (`Counts.details`); with the
rows as they were before and as they are after, that is enough to say, per item, what changed:
which id, which path (and the old one for a move), which blob it had and has now.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models import ChangeKind
from worker.sync.plan import RowState


@dataclass(frozen=True)
class Commit:
    """The commit the rows now equal, with its author and time when the source knows them."""

    sha: str | None
    author_login: str | None = None
    committed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RowAfter:
    """A changed row as the apply left it."""

    id: uuid.UUID
    blob_sha: str


@dataclass(frozen=True)
class Stamp:
    """What every change of one apply shares: where, which run, which commit, when."""

    repository_id: int
    run_id: int | None
    commit: Commit
    now: datetime


def change_rows(
    details: Iterable[tuple[str, str]],
    moved_from: Mapping[str, str],
    before: Mapping[str, RowState],
    after: Mapping[str, RowAfter],
    stamp: Stamp,
) -> list[dict[str, Any]]:
    """One `catalog_item_changes` row per changed item, in the order the apply reported them.

    `moved_from` maps each move's new path to its old one, `before` holds the rows by path as
    the plan saw them, `after` the changed paths' rows once written. A delete keeps its path
    and loses its blob; a move names both paths.
    """
    rows = []
    for kind, path in details:
        change = ChangeKind(kind)
        old_path = moved_from.get(path) if change == ChangeKind.MOVED else None
        previous = before.get(old_path or path)
        if change != ChangeKind.ADDED and previous is None:
            raise ValueError(f"{kind} {path}: no row before the change")
        now = after[path]
        rows.append(
            {
                "item_id": now.id,
                "repository_id": stamp.repository_id,
                "kind": change.value,
                "git_path": path,
                "old_git_path": old_path,
                "old_blob_sha": previous.sha if previous is not None else None,
                "new_blob_sha": None if change == ChangeKind.DELETED else now.blob_sha,
                "commit_sha": stamp.commit.sha,
                "author_login": stamp.commit.author_login,
                "committed_at": stamp.commit.committed_at,
                "sync_run_id": stamp.run_id,
                "created_at": stamp.now,
            }
        )
    return rows
