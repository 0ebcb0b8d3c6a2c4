"""Apply a plan to the table inside the caller's transaction, in bulk statements.

This is the only code that writes `catalog_items`. It runs inside the reconcile's single
transaction, so readers see the old table or the new one, never a half-applied plan.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from models import CatalogFileError, CatalogItem, ItemType
from worker.sync.parse import ParsedItem
from worker.sync.people import resolve_people
from worker.sync.plan import Plan, RowState

_CHUNK = 1000


@dataclass
class Counts:
    """What a reconcile did; stored on its `sync_runs` row."""

    added: int = 0
    updated: int = 0
    moved: int = 0
    deleted: int = 0
    restored: int = 0
    unchanged: int = 0
    errors: int = 0
    #: (change, path) for every row that changed: what `verify` reports as drift.
    details: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}

    @property
    def changed(self) -> int:
        return self.added + self.updated + self.moved + self.deleted + self.restored


@dataclass
class Outcome:
    """Parsed files and failures of one reconcile, keyed by path."""

    parsed: dict[str, tuple[str, ParsedItem]] = field(default_factory=dict)
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)


def _chunks(items: list[Any], size: int = _CHUNK) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _values(
    item: ParsedItem,
    sha: str,
    item_type: ItemType,
    users: Mapping[str, uuid.UUID],
    teams: Mapping[str, uuid.UUID],
    default_author: str,
    commit_sha: str | None,
) -> dict[str, Any]:
    return {
        "type": item_type,
        "name": item.name,
        "description": item.description,
        "tags": item.tags,
        "author_id": users.get(item.author or default_author) or users[default_author],
        "team_id": teams.get(item.team) if item.team else None,
        "meta": item.metadata,
        "blob_sha": sha,
        "commit_sha": commit_sha,
    }


@dataclass(frozen=True)
class Target:
    """Where and as of when the plan is written: shared by every write of one apply."""

    repository_id: int
    rows: Mapping[str, RowState]
    types: Mapping[str, ItemType]
    commit_sha: str | None
    default_author: str
    now: datetime


_COMPARED = ("type", "name", "description", "tags", "author_id", "team_id", "meta", "blob_sha")


def apply_plan(session: Session, target: Target, plan: Plan, outcomes: Iterable[Outcome]) -> Counts:
    """Write the plan: moves, deletes, restores, then adds/updates and errors batch by batch.

    `outcomes` are the parsed files in batches, written as they arrive, so memory holds one
    batch of parsed items, not the whole repository.
    """
    counts = Counts(unchanged=len(plan.unchanged))
    _apply_moves(session, plan, target.commit_sha, target.now, counts)
    _apply_deletes(session, plan, target.now, counts)
    _clear_errors(session, target, plan.clear_errors)
    failed = 0
    for outcome in outcomes:
        _apply_parsed(session, target, outcome, counts)
        _apply_errors(session, target, outcome)
        failed += len(outcome.failed)
    counts.errors = failed + len(plan.kept_errors)
    return counts


def _apply_moves(
    session: Session, plan: Plan, commit_sha: str | None, now: datetime, counts: Counts
) -> None:
    if plan.moves:
        session.execute(
            update(CatalogItem),
            [
                {
                    "id": m.row_id,
                    "git_path": m.new_path,
                    "type": m.type,
                    "commit_sha": commit_sha,
                    "deleted_at": None,
                    "updated_at": now,
                }
                for m in plan.moves
            ],
        )
    counts.moved = len(plan.moves)
    counts.details.extend(("moved", m.new_path) for m in plan.moves)


def _apply_deletes(session: Session, plan: Plan, now: datetime, counts: Counts) -> None:
    _set_deleted_at(session, [r.id for r in plan.deletes], now, now)
    counts.deleted = len(plan.deletes)
    counts.details.extend(("deleted", r.path) for r in plan.deletes)
    _set_deleted_at(session, [r.id for r in plan.restores], None, now)
    counts.restored = len(plan.restores)
    counts.details.extend(("restored", r.path) for r in plan.restores)


def _set_deleted_at(
    session: Session, ids: list[uuid.UUID], deleted_at: datetime | None, now: datetime
) -> None:
    """Soft-delete (a time) or restore (None) rows by id, in chunks."""
    for chunk in _chunks(ids):
        session.execute(
            update(CatalogItem)
            .where(CatalogItem.id.in_(chunk))
            .values(deleted_at=deleted_at, updated_at=now)
            .execution_options(synchronize_session=False)
        )


def _apply_parsed(session: Session, target: Target, outcome: Outcome, counts: Counts) -> None:
    """Insert new rows, update changed ones (a full re-check skips rows already right)."""
    if not outcome.parsed:
        return
    default_author, now, rows = target.default_author, target.now, target.rows
    logins = {item.author or default_author for _, item in outcome.parsed.values()}
    logins.add(default_author)
    team_names = {item.team for _, item in outcome.parsed.values() if item.team}
    users, teams = resolve_people(session, logins, team_names)
    current = _current_values(session, [rows[p].id for p in outcome.parsed if p in rows])

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for path, (sha, item) in sorted(outcome.parsed.items()):
        item_type = target.types[path]
        values = _values(item, sha, item_type, users, teams, default_author, target.commit_sha)
        row = rows.get(path)
        if row is None:
            inserts.append(
                {
                    **values,
                    "id": uuid.uuid4(),
                    "repository_id": target.repository_id,
                    "git_path": path,
                    "usage_count": 0,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            counts.added += 1
            counts.details.append(("added", path))
            continue
        old = current.get(row.id, {})
        if not row.deleted and all(old.get(k) == values[k] for k in _COMPARED):
            counts.unchanged += 1  # a full re-check found the row already right
            continue
        updates.append({**values, "id": row.id, "deleted_at": None, "updated_at": now})
        kind = "restored" if row.deleted else "updated"
        counts.restored += row.deleted
        counts.updated += not row.deleted
        counts.details.append((kind, path))
    for chunk in _chunks(inserts):
        session.execute(insert(CatalogItem), chunk)
    for chunk in _chunks(updates):
        session.execute(update(CatalogItem), chunk)


def _current_values(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    columns = [getattr(CatalogItem, k) for k in _COMPARED]
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        for row in session.execute(
            select(CatalogItem.id, *columns).where(CatalogItem.id.in_(chunk))
        ):
            found[row[0]] = dict(zip(_COMPARED, row[1:], strict=True))
    return found


def _clear_errors(session: Session, target: Target, paths: Iterable[str]) -> None:
    for chunk in _chunks(list(paths)):
        session.execute(
            delete(CatalogFileError)
            .where(
                CatalogFileError.repository_id == target.repository_id,
                CatalogFileError.git_path.in_(chunk),
            )
            .execution_options(synchronize_session=False)
        )


def _apply_errors(session: Session, target: Target, outcome: Outcome) -> None:
    """Forget errors of files that parsed (or failed anew); record this batch's failures."""
    commit_sha, now = target.commit_sha, target.now
    _clear_errors(session, target, [*outcome.parsed, *outcome.failed])
    if outcome.failed:
        session.execute(
            insert(CatalogFileError),
            [
                {
                    "repository_id": target.repository_id,
                    "git_path": path,
                    "blob_sha": sha,
                    "message": message,
                    "commit_sha": commit_sha,
                    "first_seen_at": now,
                    "last_seen_at": now,
                }
                for path, (sha, message) in sorted(outcome.failed.items())
            ],
        )
