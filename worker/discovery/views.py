"""`catalog-sync repos`: every repository with its state and why, read-only.

Repositories the settings name but no run has seen yet are listed too (as watched, no items),
so the command answers "what will be watched" as well as "what is".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from models import CatalogItem, Repository, session_factory
from models.lifecycle import WatchSource, WatchState
from settings import Settings
from worker.discovery.sources import describe


@dataclass(frozen=True)
class RepoView:
    """One line of `repos` (JSON keys as the contract spells them: `repository`, ...)."""

    repository: str
    branch: str | None
    state: str
    source: str
    reason: str | None
    discovered_via: str | None
    archived: bool
    items: int
    last_synced_at: datetime | None
    unwatched_at: datetime | None
    retire_at: datetime | None
    retired_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()
        }


def _source(repo: Repository, settings: Settings) -> str:
    if repo.watch_source:
        return str(repo.watch_source)
    return WatchSource.EXPLICIT.value if settings.repo_spec(repo.full_name) else "manual"


def repo_views(engine: Engine, settings: Settings) -> list[RepoView]:
    """Every known or configured repository, sorted by name."""
    with session_factory(engine)() as session:
        items = dict(
            session.execute(
                select(CatalogItem.repository_id, func.count())
                .where(CatalogItem.deleted_at.is_(None))
                .group_by(CatalogItem.repository_id)
            ).all()
        )
        repos = list(session.scalars(select(Repository)))
    grace = timedelta(seconds=settings.retire_after_seconds)
    views = [
        RepoView(
            repository=r.full_name,
            branch=r.branch,
            state=r.state,
            source=_source(r, settings),
            reason=r.state_reason,
            discovered_via=describe(r.discovered_via) if r.discovered_via else None,
            archived=r.archived,
            items=items.get(r.id, 0),
            last_synced_at=r.last_synced_at,
            unwatched_at=r.unwatched_at,
            retire_at=r.unwatched_at + grace
            if r.state == WatchState.UNWATCHED and r.unwatched_at
            else None,
            retired_at=r.retired_at,
        )
        for r in repos
    ]
    seen = {v.repository.lower() for v in views}
    views += [
        RepoView(
            spec.full_name,
            spec.branch,
            WatchState.WATCHED.value,
            WatchSource.EXPLICIT.value,
            "named in CATALOG_REPOS (not synced yet)",
            None,
            False,
            0,
            None,
            None,
            None,
            None,
        )
        for spec in settings.explicit_repos
        if spec.full_name.lower() not in seen
    ]
    return sorted(views, key=lambda v: v.repository.lower())
