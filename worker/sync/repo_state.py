"""The repository row and `sync_runs`: what a reconcile records about itself.

Kept apart from the reconcile's own transaction: these are short writes before and after it,
so the receiver and other runs never wait behind a long reconcile for the repository row.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from models import Repository, RunOutcome, SyncRun, utcnow
from models.db import session_factory, transaction
from worker.inbox.status import mark_done_through
from worker.repositories import ensure_repository
from worker.sync.run import ReconcileRequest, Result
from worker.sync.source import Head, Source


class _Watched(Protocol):
    """A watched repository as the poll sees it (`settings.RepoSpec` is one)."""

    @property
    def full_name(self) -> str: ...


W = TypeVar("W", bound=_Watched)


def find_repository(engine: Engine, full_name: str, branch: str | None) -> Repository:
    """The stored row, or an unsaved one (id None) for a repository never seen."""
    with session_factory(engine)() as session:
        found = session.execute(
            select(Repository).where(Repository.full_name == full_name)
        ).scalar_one_or_none()
    return found or Repository(full_name=full_name, branch=branch, dirty=False)


def stored_repository(engine: Engine, full_name: str, branch: str | None) -> Repository:
    """The repository's row, created on first sight (race-safe), committed."""
    with transaction(engine) as session:
        return session.get_one(Repository, ensure_repository(session, full_name, branch))


def due_repositories(engine: Engine, specs: Sequence[W], now: datetime) -> list[W]:
    """The watched repositories a poll should look at now (failing ones back off)."""
    with session_factory(engine)() as session:
        stmt = select(Repository.full_name, Repository.next_poll_at).where(
            Repository.next_poll_at.is_not(None)
        )
        backoff = {name: due for name, due in session.execute(stmt)}
    return [s for s in specs if (due := backoff.get(s.full_name)) is None or due <= now]


def take_dirty(engine: Engine, full_name: str) -> bool:
    """Clear the dirty flag; True if it was set (pushes arrived during the last run)."""
    with transaction(engine) as session:
        res = session.execute(
            update(Repository)
            .where(Repository.full_name == full_name, Repository.dirty.is_(True))
            .values(dirty=False)
        )
        return bool(getattr(res, "rowcount", 0))


def mark_dirty(engine: Engine, repository_id: int) -> None:
    with transaction(engine) as session:
        session.execute(update(Repository).where(Repository.id == repository_id).values(dirty=True))


def synced_marker(session: Session, repository_id: int) -> tuple[str | None, datetime | None]:
    """What the rows were last synced to, read inside the reconcile's locked transaction."""
    sha, at = session.execute(
        select(Repository.last_synced_sha, Repository.last_synced_at).where(
            Repository.id == repository_id
        )
    ).one()
    return sha, at


def mark_synced(session: Session, repository_id: int, sha: str | None, etag: str | None) -> None:
    """Record, in the applying transaction, the commit the rows now equal.

    Written with the rows, so a run that takes the lock next can tell that the rows moved
    since it listed (see `synced_marker`) and never applies an older listing over them.
    """
    session.execute(
        update(Repository)
        .where(Repository.id == repository_id)
        .values(last_synced_sha=sha, last_synced_at=utcnow(), head_sha=sha, head_etag=etag)
    )


def mark_partial(session: Session, repository_id: int, sha: str | None, etag: str | None) -> None:
    """Record rows written at `sha` without claiming it: some files could not be read.

    The synced SHA stays where it was (so `status` shows the lag and the next run, a poll
    included, lists again), but the marker time moves, so a run that listed earlier still
    lists again before it applies (see `synced_marker`).
    """
    session.execute(
        update(Repository)
        .where(Repository.id == repository_id)
        .values(last_synced_at=utcnow(), head_sha=sha, head_etag=etag)
    )


def rate_values(source: Source) -> dict[str, object]:
    """GitHub's last rate-limit headers, if the source talks to GitHub (for the metric)."""
    client = getattr(source, "client", None)
    remaining = getattr(client, "rate_limit_remaining", None)
    reset_at = getattr(client, "rate_limit_reset", None)
    values: dict[str, object] = {}
    if remaining is not None:
        values["rate_limit_remaining"] = remaining
    if isinstance(reset_at, datetime):
        values["rate_limit_reset_at"] = reset_at
    return values


def record_noop(
    engine: Engine,
    repository_id: int,
    head: Head,
    source: Source,
    request: ReconcileRequest,
    started: datetime,
    result: Result,
) -> None:
    """An unchanged head: note the check, and settle deliveries that asked for this head.

    Polls that find nothing write no `sync_runs` row (one a minute per repository adds up);
    every other trigger does.
    """
    with transaction(engine) as session:
        session.execute(
            update(Repository)
            .where(Repository.id == repository_id)
            .values(
                head_checked_at=utcnow(),
                head_etag=head.etag,
                consecutive_failures=0,
                last_error=None,
                next_poll_at=None,
                **rate_values(source),
            )
        )
        if result.to_sha:
            mark_done_through(session, result.full_name, result.to_sha, started)
        if request.trigger != "poll":
            run = SyncRun(
                repository_id=repository_id,
                trigger=request.trigger,
                from_sha=result.from_sha,
                to_sha=result.to_sha,
                outcome=RunOutcome.NOOP.value,
                github_requests=result.requests,
                started_at=started,
                finished_at=utcnow(),
                duration_ms=int((utcnow() - started).total_seconds() * 1000),
            )
            session.add(run)
            session.flush()
            result.run_id = run.id


def record(
    engine: Engine,
    repository_id: int,
    source: Source,
    request: ReconcileRequest,
    started: datetime,
    clock: float,
    result: Result,
) -> None:
    """Write the run's `sync_runs` row and the repository's state, in a short transaction."""
    ok = result.outcome in (RunOutcome.SUCCESS, RunOutcome.NOOP)
    with transaction(engine) as session:
        repo = session.get(Repository, repository_id)
        assert repo is not None
        now = utcnow()
        repo.last_run_at = started
        if ok:
            # `last_synced_*` and the head were set by the applying transaction (in apply
            # order, under the lock); this short one only closes the books.
            repo.head_checked_at = now
            repo.consecutive_failures = 0
            repo.last_error = result.error  # None, or why the head is not claimed yet
            repo.next_poll_at = None
            if result.to_sha and not result.counts.unread:
                mark_done_through(session, result.full_name, result.to_sha, started)
        elif result.outcome in (RunOutcome.FAILED, RunOutcome.REFUSED):
            repo.consecutive_failures += 1
            repo.last_error = result.error
            backoff = min(3600.0, 60.0 * 2 ** min(repo.consecutive_failures - 1, 6))
            repo.next_poll_at = now + timedelta(seconds=backoff)
        for key, value in rate_values(source).items():
            setattr(repo, key, value)
        run = SyncRun(
            repository_id=repository_id,
            trigger=request.trigger,
            full=request.full,
            from_sha=result.from_sha,
            to_sha=result.to_sha,
            outcome=str(result.outcome),
            github_requests=result.requests,
            error=result.error,
            started_at=started,
            finished_at=now,
            duration_ms=int((time.monotonic() - clock) * 1000),
            **{k: v for k, v in result.counts.as_dict().items()},
        )
        if result.run_id is not None:  # opened by the applying transaction, with its changes
            run.id = result.run_id
            run = session.merge(run)
        session.add(run)
        session.flush()
        result.run_id = run.id
