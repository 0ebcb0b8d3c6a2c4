"""Lifecycle writes: apply planned changes, retire, forget, and what a reconcile learns (404).

Retiring soft-deletes a repository's live items in one transaction with its `sync_runs` row
(trigger `retire`), under the repository's reconcile lock; the mass-delete guard does not
apply (leaving was decided by the lifecycle, not by a suspicious tree). The synced SHA is
cleared, so the reconcile that follows a return lists the tree again and restores the rows by
path, ids and `usage_count` kept.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.orm import Session

from models import (
    CatalogFileError,
    CatalogItem,
    ChangeKind,
    Repository,
    RunOutcome,
    SyncRun,
    utcnow,
)
from models.db import insert_ignoring_conflicts, transaction
from models.lifecycle import WatchState
from worker.discovery.desired import Desired
from worker.discovery.plan import (
    FORGOTTEN_REASON,
    GONE_REASON,
    Change,
    column_values,
    due_for_retirement,
    plan_changes,
)
from worker.discovery.sources import RowView
from worker.errors import NotFoundError
from worker.sync.change_log import announce, insert_changes, take_feed_lock
from worker.sync.reconcile import LOCK_CLASS

#: Advisory lock key serialising discovery runs (PostgreSQL).
DISCOVERY_LOCK = 0x63730002
W = WatchState


@dataclass(frozen=True)
class Retired:
    """One retirement: how many live items it soft-deleted, and its `sync_runs` row."""

    full_name: str
    items: int
    run_id: int


def _row_view(repo: Repository) -> RowView:
    return RowView(
        full_name=repo.full_name,
        state=repo.state,
        source=repo.watch_source,
        via=repo.discovered_via,
        reason=repo.state_reason,
        archived=repo.archived,
        unwatched_at=repo.unwatched_at,
        synced=repo.last_synced_sha is not None,
    )


def load_rows(session: Session) -> list[RowView]:
    return [_row_view(r) for r in session.scalars(select(Repository).order_by(Repository.id))]


def serialise(session: Session) -> None:
    """Take the discovery lock for this transaction (SQLite: the write lock, at once)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": DISCOVERY_LOCK})
    else:
        session.execute(update(Repository).where(text("1 = 0")).values(state=Repository.state))


def apply_desired(engine: Engine, desired: Desired, now: datetime) -> list[Change]:
    """Plan against the current rows and write the changes, in one serialised transaction."""
    with transaction(engine) as session:
        serialise(session)
        rows = {r.full_name.lower(): r for r in load_rows(session)}
        changes = plan_changes(desired, rows.values())
        _write(session, changes, rows, now)
        return changes


def _write(
    session: Session, changes: Iterable[Change], rows: dict[str, RowView], now: datetime
) -> None:
    for change in changes:
        current = rows.get(change.full_name.lower())
        values = column_values(change, current, now)
        if current is None:
            insert_ignoring_conflicts(
                session, Repository, [{"full_name": change.full_name, **values}]
            )
        session.execute(
            update(Repository)
            .where(func.lower(Repository.full_name) == change.full_name.lower())
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def _find(session: Session, full_name: str) -> Repository | None:
    return session.execute(
        select(Repository).where(func.lower(Repository.full_name) == full_name.lower())
    ).scalar_one_or_none()


def _lock_repository(session: Session, repository_id: int) -> None:
    """Wait for a running reconcile of the repository (its advisory lock) to end."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:c, :r)"), {"c": LOCK_CLASS, "r": repository_id}
        )


def retire_items(session: Session, repository_id: int, now: datetime) -> list[dict[str, Any]]:
    """Soft-delete every live item of the repository; the change rows that say so (no run id).

    The change feed hears of a retirement like of any deletion: one `retired` row per item,
    so a reader that replays the feed drops the repository's items too.
    """
    live = session.execute(
        select(CatalogItem.id, CatalogItem.git_path, CatalogItem.blob_sha).where(
            CatalogItem.repository_id == repository_id, CatalogItem.deleted_at.is_(None)
        )
    ).all()
    session.execute(
        update(CatalogItem)
        .where(CatalogItem.repository_id == repository_id, CatalogItem.deleted_at.is_(None))
        .values(deleted_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return [
        {
            "item_id": item_id,
            "repository_id": repository_id,
            "kind": ChangeKind.RETIRED.value,
            "git_path": path,
            "old_blob_sha": sha,
            "created_at": now,
        }
        for item_id, path, sha in live
    ]


def _retire(session: Session, repo: Repository, reason: str | None, now: datetime) -> Retired:
    clock = time.monotonic()
    _lock_repository(session, repo.id)
    changes = retire_items(session, repo.id, now)
    count = len(changes)
    session.execute(delete(CatalogFileError).where(CatalogFileError.repository_id == repo.id))
    run = SyncRun(
        repository_id=repo.id,
        trigger="retire",
        from_sha=repo.last_synced_sha,
        outcome=RunOutcome.SUCCESS.value,
        deleted=count,
        error=reason or repo.state_reason,
        started_at=now,
        finished_at=utcnow(),
        duration_ms=int((time.monotonic() - clock) * 1000),
    )
    session.add(run)
    repo.state = W.RETIRED.value
    repo.state_reason = reason or repo.state_reason
    repo.unwatched_at = repo.unwatched_at or now
    repo.retired_at = now
    # The rows no longer equal any commit: the next reconcile lists the tree again.
    repo.last_synced_sha = None
    repo.head_etag = None
    session.flush()
    if changes:
        take_feed_lock(session)
        first, last = insert_changes(session, [{**c, "sync_run_id": run.id} for c in changes])
        announce(session, {"run_id": run.id, "repository": repo.full_name}, first, last)
    return Retired(repo.full_name, count, run.id)


def retire_due(engine: Engine, retire_after: float, now: datetime | None = None) -> list[Retired]:
    """Retire every unwatched repository whose grace period is over (re-checked under lock)."""
    now = now or utcnow()
    with transaction(engine) as session:
        due = due_for_retirement(load_rows(session), now, retire_after)
    done: list[Retired] = []
    for name in due:
        with transaction(engine) as session:
            repo = _find(session, name)
            if repo is None or not due_for_retirement([_row_view(repo)], now, retire_after):
                continue  # watched again (or gone) since the list was read
            done.append(_retire(session, repo, None, now))
    return done


@dataclass(frozen=True)
class Forgotten:
    retired: Retired
    #: The state before: a `watched` repository comes back at the next discovery.
    was: str


def forget(engine: Engine, full_name: str, now: datetime | None = None) -> Forgotten:
    """`catalog-sync forget REPO`: retire it now; `NotFoundError` for an unknown repository."""
    with transaction(engine) as session:
        repo = _find(session, full_name)
        if repo is None:
            raise NotFoundError(f"no repository {full_name!r} is known", reason="no_such_repo")
        was = repo.state
        return Forgotten(_retire(session, repo, FORGOTTEN_REASON, now or utcnow()), was)


def mark_gone(engine: Engine, full_name: str, now: datetime | None = None) -> bool:
    """GitHub answered 404 for the repository itself: `unwatched` now (if it was watched)."""
    with transaction(engine) as session:
        result = session.execute(
            update(Repository)
            .where(
                Repository.full_name == full_name,
                Repository.state == W.WATCHED.value,
            )
            .values(state=W.UNWATCHED.value, state_reason=GONE_REASON, unwatched_at=now or utcnow())
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))


def mark_alive(engine: Engine, full_name: str) -> bool:
    """A reconcile succeeded for a repository marked gone: watched again."""
    with transaction(engine) as session:
        result = session.execute(
            update(Repository)
            .where(
                Repository.full_name == full_name,
                Repository.state != W.WATCHED.value,
                Repository.state_reason == GONE_REASON,
            )
            .values(
                state=W.WATCHED.value,
                state_reason="found on GitHub again",
                unwatched_at=None,
                retired_at=None,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))
