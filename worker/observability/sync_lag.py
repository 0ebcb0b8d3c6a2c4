"""One sync-lag rule, read by `catalog-sync status` and by `/metrics`, so the two agree."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class RepositoryHeads(Protocol):
    """What the rule reads of a repository (an ORM `Repository` or a selected row)."""

    @property
    def head_sha(self) -> str | None: ...
    @property
    def last_synced_sha(self) -> str | None: ...
    @property
    def last_synced_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...


def in_sync(repo: RepositoryHeads) -> bool:
    """The table equals the known head."""
    return repo.head_sha is not None and repo.head_sha == repo.last_synced_sha


def sync_lag_seconds(repo: RepositoryHeads, now: datetime) -> float | None:
    """Seconds the synced SHA has trailed the known head.

    0 when in sync; None while the head is unknown (lag is only measurable against a head
    we have seen); otherwise the time since the last sync, or since the row was created if
    it never synced.
    """
    if repo.head_sha is None:
        return None
    if in_sync(repo):
        return 0.0
    since = repo.last_synced_at or repo.created_at
    return max(0.0, (now - since).total_seconds())
