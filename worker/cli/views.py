"""Read-only queries of the sync state for `status`, `items` and `errors` (shapes: `render`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from models import (
    CatalogFileError,
    CatalogItem,
    DeliveryStatus,
    Repository,
    SyncRun,
    WebhookDelivery,
    session_factory,
    utcnow,
)
from worker.feedback.records import LastVerdict, last_verdicts
from worker.observability.sync_lag import in_sync, sync_lag_seconds

_PENDING = (DeliveryStatus.PENDING, DeliveryStatus.QUEUED, DeliveryStatus.PROCESSING)


@dataclass(frozen=True)
class RepoStatus:
    repository: str
    #: False for a repository the table still holds but the settings no longer name.
    watched: bool
    branch: str | None
    synced_sha: str | None
    head_sha: str | None
    in_sync: bool
    lag_seconds: float | None
    last_synced_at: datetime | None
    last_run_at: datetime | None
    last_outcome: str | None
    last_error: str | None
    consecutive_failures: int
    items: int
    errors: int
    pending_deliveries: int
    #: The newest verdict reported on the watched branch (None: none yet).
    verdict: LastVerdict | None = None


def _counts(session: Any, column: Any, *where: Any) -> dict[Any, int]:
    stmt = select(column, func.count()).where(*where).group_by(column)
    return {key: n for key, n in session.execute(stmt)}


def repo_statuses(
    engine: Engine, watched: Callable[[str], bool] = lambda _name: True
) -> list[RepoStatus]:
    """One line per repository: synced versus head, lag, items, errors, pending deliveries;
    `watched(full_name)` says whether it is still watched (named or discovered)."""
    now = utcnow()
    with session_factory(engine)() as session:
        items = _counts(session, CatalogItem.repository_id, CatalogItem.deleted_at.is_(None))
        errors = _counts(session, CatalogFileError.repository_id)
        pending = _counts(
            session,
            WebhookDelivery.repository_full_name,
            WebhookDelivery.status.in_([s.value for s in _PENDING]),
        )
        last_runs = {
            repo_id: outcome
            for repo_id, outcome in session.execute(
                select(SyncRun.repository_id, SyncRun.outcome).where(
                    SyncRun.id.in_(select(func.max(SyncRun.id)).group_by(SyncRun.repository_id))
                )
            )
        }
        verdicts = last_verdicts(session)
        repos = session.execute(select(Repository).order_by(Repository.full_name)).scalars()
        result = []
        for repo in repos:
            result.append(
                RepoStatus(
                    repository=repo.full_name,
                    watched=watched(repo.full_name),
                    branch=repo.branch,
                    synced_sha=repo.last_synced_sha,
                    head_sha=repo.head_sha,
                    in_sync=in_sync(repo),
                    lag_seconds=sync_lag_seconds(repo, now),
                    last_synced_at=repo.last_synced_at,
                    last_run_at=repo.last_run_at,
                    last_outcome=last_runs.get(repo.id),
                    last_error=repo.last_error,
                    consecutive_failures=repo.consecutive_failures,
                    items=items.get(repo.id, 0),
                    errors=errors.get(repo.id, 0),
                    pending_deliveries=pending.get(repo.full_name, 0),
                    verdict=verdicts.get(repo.id),
                )
            )
        return result


@dataclass(frozen=True)
class FileErrorView:
    repository: str
    git_path: str
    blob_sha: str
    message: str
    since: datetime


def file_errors(engine: Engine) -> list[FileErrorView]:
    stmt = (
        select(Repository.full_name, CatalogFileError)
        .join(Repository, Repository.id == CatalogFileError.repository_id)
        .order_by(Repository.full_name, CatalogFileError.git_path)
    )
    with session_factory(engine)() as session:
        return [
            FileErrorView(name, e.git_path, e.blob_sha, e.message, e.first_seen_at)
            for name, e in session.execute(stmt)
        ]


def repository_names(engine: Engine) -> dict[int, str]:
    """Every repository's full name by id (items carry the id)."""
    with session_factory(engine)() as session:
        rows = session.execute(select(Repository.id, Repository.full_name))
        return {repo_id: name for repo_id, name in rows}


def live_items(engine: Engine, full_name: str | None = None) -> list[CatalogItem]:
    """Live rows, for the demo and for tests."""
    stmt = select(CatalogItem).where(CatalogItem.deleted_at.is_(None))
    if full_name is not None:
        stmt = stmt.join(Repository, Repository.id == CatalogItem.repository_id).where(
            Repository.full_name == full_name
        )
    with session_factory(engine)() as session:
        return list(session.execute(stmt.order_by(CatalogItem.git_path)).scalars())
