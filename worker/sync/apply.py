"""Apply a plan to the table inside the caller's transaction, in bulk statements.

This is the only code that writes `catalog_items`. It runs inside the reconcile's single
transaction, so readers see the old table or the new one, never a half-applied plan.
Each batch of parsed files is written inside a SAVEPOINT: when the database refuses a value
that the parse let through, the batch is split until the one refusing file is found, and that
file becomes an error row instead of failing the repository (`_write_batch`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import InterfaceError, OperationalError, StatementError
from sqlalchemy.orm import Session

from models import CatalogFileError, CatalogItem, ItemType
from models.copy import bulk_insert
from worker.sync.changes import RowAfter
from worker.sync.parse import ParsedItem
from worker.sync.people import resolve_people
from worker.sync.plan import Move, Plan, RowState
from worker.sync.storable import error_path, one_line, storable_text

log = logging.getLogger(__name__)

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
    #: Each changed path's row as written (id, blob), but for added rows (the feed reads
    #: those back in one statement): the change feed needs no re-read of the others.
    after: dict[str, RowAfter] = field(default_factory=dict)
    #: Wanted files the source did not give: the run must not claim its head (retried).
    unread: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}

    def add(self, other: Counts) -> None:
        """Add the counts of one written batch to these."""
        for key, value in other.__dict__.items():
            if isinstance(value, int):
                setattr(self, key, getattr(self, key) + value)
        self.details.extend(other.details)
        self.after.update(other.after)
        self.unread.extend(other.unread)

    @property
    def changed(self) -> int:
        return self.added + self.updated + self.moved + self.deleted + self.restored


@dataclass
class Outcome:
    """Parsed files and failures of one reconcile, keyed by path."""

    parsed: dict[str, tuple[str, ParsedItem]] = field(default_factory=dict)
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Wanted path -> blob SHA the source did not yield: no error row, the next run retries.
    unread: dict[str, str] = field(default_factory=dict)

    def split(self) -> tuple[Outcome, Outcome]:
        """Two halves of this batch (by path), for finding the one file the database refuses."""
        keys = sorted([*self.parsed, *self.failed])
        first = set(keys[: len(keys) // 2])
        halves = (Outcome(), Outcome())
        for path, value in self.parsed.items():
            halves[path not in first].parsed[path] = value
        for path, failure in self.failed.items():
            halves[path not in first].failed[path] = failure
        return halves


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
    #: Keys of the error rows the repository had when planned: only those can need deleting.
    error_keys: frozenset[str] = frozenset()


_COMPARED = ("type", "name", "description", "tags", "author_id", "team_id", "meta", "blob_sha")


def apply_plan(session: Session, target: Target, plan: Plan, outcomes: Iterable[Outcome]) -> Counts:
    """Write the plan: moves, deletes, restores, then adds/updates and errors batch by batch.

    `outcomes` are the parsed files in batches, written as they arrive, so memory holds one
    batch of parsed items, not the whole repository.
    """
    counts = Counts(unchanged=len(plan.unchanged))
    pure = [m for m in plan.moves if not m.reread]
    rereads = [m for m in plan.moves if m.reread]
    _apply_moves(session, pure, target, counts)
    _apply_deletes(session, plan, target.now, counts)
    _clear_errors(session, target, plan.clear_errors)
    target = _with_rereads(target, rereads)
    reread_paths = {m.new_path for m in rereads}
    written: set[str] = set()  # re-read moves whose new path was written
    for outcome in outcomes:
        done = _write_batch(session, target, outcome, counts)
        written.update(p for p in done.parsed if p in reread_paths)
        counts.errors += len(done.failed) + len(outcome.unread)
        counts.unread.extend(sorted(outcome.unread))
    counts.errors += len(plan.kept_errors)
    _drop_failed_rereads(session, target, [m for m in rereads if m.new_path not in written], counts)
    return counts


def _with_rereads(target: Target, rereads: list[Move]) -> Target:
    """The target where a re-read move's new path names its old row: a parse updates it there."""
    if not rereads:
        return target
    rows = dict(target.rows)
    for move in rereads:
        rows[move.new_path] = rows[move.old_path]
    return replace(target, rows=rows)


def _drop_failed_rereads(
    session: Session, target: Target, failed: list[Move], counts: Counts
) -> None:
    """A renamed file that no longer parses (or was not read): its old row goes, like a delete."""
    _set_deleted_at(session, [m.row_id for m in failed], target.now, target.now)
    counts.deleted += len(failed)
    counts.details.extend(("deleted", m.old_path) for m in failed)
    counts.after.update(
        (m.old_path, RowAfter(m.row_id, target.rows[m.old_path].sha)) for m in failed
    )


def _write_batch(session: Session, target: Target, outcome: Outcome, counts: Counts) -> Outcome:
    """Write one batch in a SAVEPOINT; the batch as written (refused files moved to `failed`).

    On a value the database refuses, the batch is halved until the refusing file is alone;
    it is then recorded as that file's error and its last good row stays as it was.
    """
    part = Counts()
    try:
        with session.begin_nested():
            _apply_parsed(session, target, outcome, part)
            _apply_errors(session, target, outcome)
    except Exception as exc:
        if not _refused_value(exc) or len(outcome.parsed) + len(outcome.failed) == 0:
            raise
        if len(outcome.parsed) + len(outcome.failed) > 1:
            first, second = outcome.split()
            a = _write_batch(session, target, first, counts)
            b = _write_batch(session, target, second, counts)
            return Outcome(parsed={**a.parsed, **b.parsed}, failed={**a.failed, **b.failed})
        if not outcome.parsed:
            raise  # the error row itself was refused: nothing smaller to fall back on
        ((path, (sha, _item)),) = outcome.parsed.items()
        log.warning("sync.file_refused", extra={"path": error_path(path), "error": one_line(exc)})
        refused = Outcome(failed={path: (sha, f"could not be stored: {one_line(exc, 500)}")})
        return _write_batch(session, target, refused, counts)
    counts.add(part)
    return outcome


def _refused_value(exc: BaseException) -> bool:
    """True for a database (or driver) refusing a value; False for a lost connection."""
    if isinstance(exc, OperationalError | InterfaceError):
        return False
    return isinstance(exc, StatementError | ValueError | TypeError | OverflowError)


def _apply_moves(session: Session, moves: list[Move], target: Target, counts: Counts) -> None:
    commit_sha, now = target.commit_sha, target.now
    if moves:
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
                for m in moves
            ],
        )
    counts.moved += len(moves)
    counts.details.extend(("moved", m.new_path) for m in moves)
    rows = target.rows
    counts.after.update((m.new_path, RowAfter(m.row_id, rows[m.old_path].sha)) for m in moves)


def _apply_deletes(session: Session, plan: Plan, now: datetime, counts: Counts) -> None:
    _set_deleted_at(session, [r.id for r in plan.deletes], now, now)
    counts.deleted = len(plan.deletes)
    counts.details.extend(("deleted", r.path) for r in plan.deletes)
    _set_deleted_at(session, [r.id for r in plan.restores], None, now)
    counts.restored = len(plan.restores)
    counts.details.extend(("restored", r.path) for r in plan.restores)
    counts.after.update((r.path, RowAfter(r.id, r.sha)) for r in [*plan.deletes, *plan.restores])


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
            counts.details.append(("added", path))  # the feed reads added rows back itself
            continue
        old = current.get(row.id, {})
        moved = row.path != path  # a re-read move: the row follows the file to its new path
        if not (moved or row.deleted) and all(old.get(k) == values[k] for k in _COMPARED):
            counts.unchanged += 1  # a full re-check found the row already right
            continue
        updates.append(
            {**values, "id": row.id, "git_path": path, "deleted_at": None, "updated_at": now}
        )
        kind = "moved" if moved else "restored" if row.deleted else "updated"
        counts.moved += moved
        counts.restored += row.deleted and not moved
        counts.updated += not (row.deleted or moved)
        counts.details.append((kind, path))
        counts.after[path] = RowAfter(row.id, sha)
    bulk_insert(session, CatalogItem, inserts)
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


def _clear_errors(session: Session, target: Target, keys: Iterable[str]) -> None:
    """Delete the error rows stored under `keys` (`storable.error_path` of their paths)."""
    for chunk in _chunks(list(keys)):
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
    keys = (error_path(p) for p in [*outcome.parsed, *outcome.failed])
    _clear_errors(session, target, [k for k in keys if k in target.error_keys])
    if outcome.failed:
        session.execute(
            insert(CatalogFileError),
            [
                {
                    "repository_id": target.repository_id,
                    "git_path": error_path(path),
                    "blob_sha": sha,
                    "message": storable_text(message),
                    "commit_sha": commit_sha,
                    "first_seen_at": now,
                    "last_seen_at": now,
                }
                for path, (sha, message) in sorted(outcome.failed.items())
            ],
        )
