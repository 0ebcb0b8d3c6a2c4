"""Write the change feed inside the transaction that changes the rows, and announce it.

Readers page through `catalog_item_changes` by id, so an id must never become visible after a
higher one: on PostgreSQL, ids come from a sequence when a row is inserted, but transactions
commit in any order. Every writer therefore takes one transaction-scoped advisory lock just
before it inserts changes and holds it until it commits: ids are allocated in commit order. The
lock covers only the tail of a reconcile (the inserts and the commit), after the slow part.
SQLite has one writer at a time anyway.

The NOTIFY is sent inside the transaction: PostgreSQL delivers it when, and only if, the
transaction commits, so a rolled-back, failed or dry run announces nothing.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, func, insert, literal, select, text
from sqlalchemy.orm import Session

from models import CatalogItem, CatalogItemChange, ChangeKind, RunOutcome, SyncRun, utcnow
from models.copy import bulk_insert
from models.types import UTCDateTime
from worker.sync.changes import Commit, Stamp, change_rows
from worker.sync.folder import LocalSource
from worker.sync.plan import RowState
from worker.sync.run import Result
from worker.sync.source import Source

log = logging.getLogger(__name__)

#: PostgreSQL channel readers LISTEN on; the payload is JSON with the run and cursor range.
CHANNEL = "catalog_changes"
#: First key of the two-int advisory lock that orders change ids (0x63730001 is the reconcile's).
FEED_LOCK_CLASS = 0x63730002
_CHUNK = 1000


def record(
    session: Session,
    source: Source,
    result: Result,
    *,
    repository_id: int,
    before: Iterable[RowState],
    commit_sha: str | None,
    trigger: str,
    full: bool,
    added_at: datetime,
) -> int | None:
    """Record the applied plan's changes under a `sync_runs` row opened here; its id, or None.

    Called in the reconcile's transaction after the rows are written. The run row is inserted
    now (outcome `running`) so the changes can name it; the reconcile's bookkeeping fills it in
    after the commit. A plan that changed no row writes nothing. Added rows (every row a cold
    sync writes, `created_at` = `added_at`) are copied into the feed by the database itself;
    the other changes are built here from the rows as they were.
    """
    details = result.counts.details
    if not details:
        return None
    commit = commit_of(source, commit_sha)
    rows_before = {r.path: r for r in before}
    moved_from = {m.new_path: m.old_path for m in (result.plan.moves if result.plan else [])}
    take_feed_lock(session)
    run_id = _open_run(session, result, repository_id, trigger, full)
    stamp = Stamp(repository_id, run_id, commit, utcnow())
    ranges = []
    others = [d for d in details if d[0] != ChangeKind.ADDED.value]
    for i in range(0, len(others), _CHUNK):  # a batch at a time: a full re-read has many
        chunk = others[i : i + _CHUNK]
        rows = change_rows(chunk, moved_from, rows_before, result.counts.after, stamp)
        ranges.append(insert_changes(session, rows))
    if result.counts.added:
        ranges.append(insert_added(session, stamp, added_at))
    first, last = min(low for low, _ in ranges), max(high for _, high in ranges)
    announce(session, {"run_id": run_id, "repository": result.full_name}, first, last)
    log.info(
        "changes_recorded",
        extra={"repository": result.full_name, "run_id": run_id, "first": first, "last": last},
    )
    return run_id


def insert_added(session: Session, stamp: Stamp, added_at: datetime) -> tuple[int, int]:
    """One `added` change per row this apply inserted, by INSERT ... SELECT; their cursors.

    The rows never pass through Python (a cold sync of 100,000 items would otherwise hold
    100,000 ids until the end of the transaction).
    """
    item = CatalogItem
    values = select(
        item.id,
        item.repository_id,
        literal(ChangeKind.ADDED.value, String),
        item.git_path,
        item.blob_sha,
        literal(stamp.commit.sha, String),
        literal(stamp.commit.author_login, String),
        literal(stamp.commit.committed_at, UTCDateTime()),
        literal(stamp.run_id, Integer),
        literal(stamp.now, UTCDateTime()),
    ).where(item.repository_id == stamp.repository_id, item.created_at == added_at)
    columns = [
        "item_id",
        "repository_id",
        "kind",
        "git_path",
        "new_blob_sha",
        "commit_sha",
        "author_login",
        "committed_at",
        "sync_run_id",
        "created_at",
    ]
    copy = insert(CatalogItemChange).from_select(columns, values.order_by(item.git_path))
    return _appended(session, lambda: session.execute(copy))


def _open_run(
    session: Session, result: Result, repository_id: int, trigger: str, full: bool
) -> int:
    """The run's `sync_runs` row, `running` until the bookkeeping after the commit."""
    run = SyncRun(
        repository_id=repository_id,
        trigger=trigger,
        full=full,
        from_sha=result.from_sha,
        to_sha=result.to_sha,
        outcome=RunOutcome.RUNNING.value,
        started_at=utcnow(),
    )
    session.add(run)
    session.flush()
    return run.id


def take_feed_lock(session: Session) -> None:
    """Order change ids by commit: held from the first insert to the end of the transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:c, 0)"), {"c": FEED_LOCK_CLASS})


def insert_changes(session: Session, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Append change rows (the caller holds the feed lock); their first and last cursor.

    On PostgreSQL the rows go in by COPY (`models.copy`), their ids from the column's identity.
    """
    return _appended(session, lambda: bulk_insert(session, CatalogItemChange, rows))


def _appended(session: Session, append: Callable[[], object]) -> tuple[int, int]:
    """Run `append` (new change rows); the first and last id it added.

    One writer appends at a time (the feed lock on PostgreSQL; on SQLite the caller has
    already written in this transaction, so it holds the database's write lock): every id
    above the highest before `append` is its own.
    """
    change = CatalogItemChange
    floor = session.execute(select(func.coalesce(func.max(change.id), 0))).scalar_one()
    append()
    low, high = session.execute(
        select(func.min(change.id), func.max(change.id)).where(change.id > floor)
    ).one()
    return int(low), int(high)


def announce(session: Session, fields: dict[str, Any], first: int, last: int) -> None:
    """`NOTIFY catalog_changes` with the cursor range, delivered by PostgreSQL on commit."""
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite readers poll the cursor
    payload = json.dumps({**fields, "first_cursor": first, "last_cursor": last})
    session.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
    )


def commit_of(source: Source, sha: str | None) -> Commit:
    """The commit with its author and time when the source knows them without a request.

    A git work tree does; GitHub would cost one more request per run, so its author and time
    stay unknown (None) and only the SHA is recorded.
    """
    if sha is None or not isinstance(source, LocalSource):
        return Commit(sha)
    try:
        proc = subprocess.run(
            ["git", "-C", str(source.root), "show", "-s", "--format=%an%x00%cI", sha],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return Commit(sha)
    author, sep, when = proc.stdout.strip().partition("\0")
    if proc.returncode != 0 or not sep:
        return Commit(sha)
    return Commit(sha, author or None, datetime.fromisoformat(when))
