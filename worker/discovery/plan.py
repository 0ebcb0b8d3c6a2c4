"""Lifecycle transitions from the desired set and the current rows. Pure.

- new → `watched`, synced at once; a row created by hand (no `watch_source`) is adopted.
- `watched`, no longer wanted → `unwatched` at once, with the reason; its items stay live.
- `unwatched` for `RETIRE_AFTER_SECONDS` → `retired`: its items are soft-deleted.
- `unwatched` or `retired`, wanted again → `watched` and synced, which restores the items.

Absence only counts where it can be trusted: a repository that a failed or empty listing could
have listed keeps its state, and with nothing configured at all nothing is unwatched. A
repository GitHub answered 404 for (`GONE_REASON`) comes back only through a successful
reconcile or a listing that shows it, never because the settings still name it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from models.lifecycle import WatchSource, WatchState
from worker.discovery.desired import Desired, Wanted
from worker.discovery.sources import INSTALLATION, RowView, describe, owner_key

GONE_REASON = "not found on GitHub (404): deleted, renamed or out of reach"
FORGOTTEN_REASON = "retired by `catalog-sync forget`"
W = WatchState


@dataclass(frozen=True)
class Change:
    """One row to create or update. `source`/`archived` None: leave as they are."""

    full_name: str
    state: str
    reason: str
    source: str | None = None
    via: str | None = None
    archived: bool | None = None
    create: bool = False
    #: Reconcile at once (new, back, or never synced).
    sync: bool = False


def plan_changes(desired: Desired, rows: Iterable[RowView]) -> list[Change]:
    """Every change that makes the rows agree with `desired`, sorted by name."""
    by_name = {row.full_name.lower(): row for row in rows}
    changes: list[Change] = []
    for name, want in sorted(desired.repos.items()):
        change = _watch(want, by_name.get(name))
        if change is not None:
            changes.append(change)
    for name, row in sorted(by_name.items()):
        if name not in desired.repos:
            change = _unwatch(row, desired)
            if change is not None:
                changes.append(change)
    return changes


def _watch(want: Wanted, row: RowView | None) -> Change | None:
    if row is None:
        return Change(
            want.full_name,
            W.WATCHED.value,
            want.reason,
            want.source,
            want.via,
            bool(want.archived),
            create=True,
            sync=True,
        )
    if row.state != W.WATCHED and row.reason == GONE_REASON and want.via is None:
        return None  # the settings still name it, but GitHub said it is gone: the poll tells
    archived = want.archived if want.archived is not None else row.archived
    back = row.state != W.WATCHED
    same = (row.source, row.via, row.reason, row.archived) == (
        want.source,
        want.via,
        want.reason,
        archived,
    )
    if same and not back:
        return None
    return Change(
        row.full_name,
        W.WATCHED.value,
        want.reason,
        want.source,
        want.via,
        archived,
        sync=back or not row.synced,
    )


def _covering(row: RowView, desired: Desired) -> set[str]:
    """The configured listings that could list `row`."""
    owner = owner_key(row.full_name.partition("/")[0])
    return {key for key in desired.configured if key in (owner, INSTALLATION)}


def _unwatch(row: RowView, desired: Desired) -> Change | None:
    if row.state != W.WATCHED or row.source is None or desired.nothing_configured:
        return None
    if any(key not in desired.trusted for key in _covering(row, desired)):
        return None  # a listing that failed or came back empty proves nothing
    name = row.full_name.lower()
    if name in desired.filtered:
        reason = desired.filtered[name]
    elif row.source == WatchSource.EXPLICIT:
        reason = "removed from CATALOG_REPOS"
    elif row.via not in desired.configured:
        reason = (
            "App discovery is off (CATALOG_REPOS is set)"
            if row.via == INSTALLATION
            else f"{describe(row.via or '')} removed from CATALOG_REPOS"
        )
    elif row.via == INSTALLATION:
        reason = "removed from the App installation"
    else:
        reason = (
            f"no longer listed for {describe(row.via or '')} (deleted, renamed or out of reach)"
        )
    return Change(row.full_name, W.UNWATCHED.value, reason)


def column_values(change: Change, current: RowView | None, now: datetime) -> dict[str, Any]:
    """The `repositories` columns a change sets (the one mapping the database apply uses)."""
    values: dict[str, Any] = {"state": change.state, "state_reason": change.reason}
    if change.source is not None:
        values["watch_source"] = change.source
    if change.archived is not None:
        values["archived"] = change.archived
    if change.state == W.WATCHED:
        values.update(discovered_via=change.via, unwatched_at=None, retired_at=None)
    elif change.state == W.UNWATCHED and (current is None or current.state != W.UNWATCHED):
        values["unwatched_at"] = now
    return values


def due_for_retirement(rows: Iterable[RowView], now: datetime, retire_after: float) -> list[str]:
    """Unwatched repositories whose grace period is over, by name."""
    limit = now - timedelta(seconds=retire_after)
    return sorted(
        row.full_name
        for row in rows
        if row.state == W.UNWATCHED and row.unwatched_at is not None and row.unwatched_at <= limit
    )
