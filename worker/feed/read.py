"""Read the change feed: pages after a cursor, the cursor at a time, one item's history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Select, func, or_, select

from models import CatalogItem, CatalogItemChange, Repository, session_factory

#: Changes read per query; a follower catches up page by page.
PAGE = 500


@dataclass(frozen=True)
class Change:
    """One row of the feed as readers see it; `cursor` is its id."""

    cursor: int
    kind: str
    repository: str
    git_path: str
    old_git_path: str | None
    item_id: uuid.UUID
    old_blob_sha: str | None
    new_blob_sha: str | None
    commit_sha: str | None
    author_login: str | None
    committed_at: datetime | None
    run_id: int | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        """The JSON document of one change (`repository`, `git_path` as in every command)."""
        return {
            "cursor": self.cursor,
            "kind": self.kind,
            "repository": self.repository,
            "git_path": self.git_path,
            "old_git_path": self.old_git_path,
            "item_id": str(self.item_id),
            "old_blob_sha": self.old_blob_sha,
            "new_blob_sha": self.new_blob_sha,
            "commit_sha": self.commit_sha,
            "author_login": self.author_login,
            "committed_at": self.committed_at.isoformat() if self.committed_at else None,
            "run_id": self.run_id,
            "created_at": self.created_at.isoformat(),
        }


def parse_since(text: str) -> int | datetime:
    """`--since`: a cursor (a whole number) or an ISO 8601 time (UTC when it names no zone)."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    when = datetime.fromisoformat(value)  # ValueError names the bad text
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _select(repository: str | None) -> Select[CatalogItemChange, str]:
    stmt = select(CatalogItemChange, Repository.full_name).join(
        Repository, Repository.id == CatalogItemChange.repository_id
    )
    if repository is not None:
        stmt = stmt.where(func.lower(Repository.full_name) == repository.lower())
    return stmt


def _change(row: CatalogItemChange, repository: str) -> Change:
    return Change(
        cursor=row.id,
        kind=row.kind,
        repository=repository,
        git_path=row.git_path,
        old_git_path=row.old_git_path,
        item_id=row.item_id,
        old_blob_sha=row.old_blob_sha,
        new_blob_sha=row.new_blob_sha,
        commit_sha=row.commit_sha,
        author_login=row.author_login,
        committed_at=row.committed_at,
        run_id=row.sync_run_id,
        created_at=row.created_at,
    )


def changes_after(
    engine: Engine, cursor: int, *, repository: str | None = None, limit: int = PAGE
) -> list[Change]:
    """The next `limit` changes after `cursor`, oldest first."""
    stmt = (
        _select(repository)
        .where(CatalogItemChange.id > cursor)
        .order_by(CatalogItemChange.id)
        .limit(limit)
    )
    with session_factory(engine)() as session:
        return [_change(row, name) for row, name in session.execute(stmt)]


def cursor_before(engine: Engine, when: datetime) -> int:
    """The cursor to read from to get every change recorded at or after `when`."""
    with session_factory(engine)() as session:
        first = session.scalar(
            select(func.min(CatalogItemChange.id)).where(CatalogItemChange.created_at >= when)
        )
        if first is not None:
            return int(first) - 1
        return int(session.scalar(select(func.max(CatalogItemChange.id))) or 0)


def item_history(
    engine: Engine, path: str, *, repository: str | None = None
) -> list[Change] | None:
    """Every retained change of the item(s) at `path` (now or once), newest first.

    None when no item ever had this path: the caller reports an unknown path.
    """
    items = select(CatalogItem.id).join(Repository, Repository.id == CatalogItem.repository_id)
    items = items.where(CatalogItem.git_path == path)
    moved = _select(repository).where(
        or_(CatalogItemChange.git_path == path, CatalogItemChange.old_git_path == path)
    )
    if repository is not None:
        items = items.where(func.lower(Repository.full_name) == repository.lower())
    with session_factory(engine)() as session:
        ids = set(session.execute(items).scalars())
        ids |= {row.item_id for row, _ in session.execute(moved)}
        if not ids:
            return None
        stmt = (
            _select(repository)
            .where(CatalogItemChange.item_id.in_(sorted(ids)))
            .order_by(CatalogItemChange.id.desc())
        )
        return [_change(row, name) for row, name in session.execute(stmt)]
