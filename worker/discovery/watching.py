"""Which repositories the poll, the nightly check and the receiver act on. Reads only.

Explicit `CATALOG_REPOS` entries, plus discovered repositories in state `watched`. An archived
repository is synced once and then left alone (it cannot change while archived). A repository
taken out of the lifecycle (unwatched, retired) is not polled, except one GitHub answered 404
for while the settings still name it: polling is how its return is noticed (with back-off).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from models import Repository, session_factory
from models.lifecycle import WatchSource, WatchState
from settings import RepoSpec, Settings
from worker.discovery.plan import GONE_REASON

W = WatchState


@dataclass(frozen=True)
class _Row:
    full_name: str
    state: str
    source: str | None
    reason: str | None
    archived: bool
    synced: bool

    @property
    def settled_archive(self) -> bool:
        return self.archived and self.synced


def _rows(engine: Engine) -> dict[str, _Row]:
    stmt = select(
        Repository.full_name,
        Repository.state,
        Repository.watch_source,
        Repository.state_reason,
        Repository.archived,
        Repository.last_synced_sha.is_not(None),
    )
    with session_factory(engine)() as session:
        return {r[0].lower(): _Row(*r) for r in session.execute(stmt)}


def _explicit_allowed(row: _Row | None) -> bool:
    if row is None:
        return True
    if row.settled_archive:
        return False
    return row.state == W.WATCHED or row.reason == GONE_REASON


def watched_specs(engine: Engine, settings: Settings) -> list[RepoSpec]:
    """What a poll (or `resync` with no argument) covers, explicit entries first."""
    rows = _rows(engine)
    explicit = settings.explicit_repos
    names = {s.full_name.lower() for s in explicit}
    specs = [s for s in explicit if _explicit_allowed(rows.get(s.full_name.lower()))]
    for name, row in sorted(rows.items()):
        if (
            name not in names
            and row.source == WatchSource.DISCOVERED
            and row.state == W.WATCHED
            and not row.settled_archive
        ):
            specs.append(RepoSpec(row.full_name))
    return specs


def may_reconcile(engine: Engine, settings: Settings, full_name: str) -> bool:
    """False for a repository the lifecycle took out (a late message must not revive it)."""
    with session_factory(engine)() as session:
        row = session.execute(
            select(Repository.state, Repository.state_reason).where(
                func.lower(Repository.full_name) == full_name.lower()
            )
        ).first()
    if row is None or row[0] == W.WATCHED:
        return True
    return row[1] == GONE_REASON and settings.repo_spec(full_name) is not None


def discovered_spec(engine: Engine, full_name: str) -> RepoSpec | None:
    """The spec of a watched discovered repository (for the receiver), or None."""
    with session_factory(engine)() as session:
        found = session.execute(
            select(Repository.full_name).where(
                Repository.full_name == full_name,
                Repository.watch_source == WatchSource.DISCOVERED.value,
                Repository.state == W.WATCHED.value,
            )
        ).scalar_one_or_none()
    return RepoSpec(found) if found is not None else None
