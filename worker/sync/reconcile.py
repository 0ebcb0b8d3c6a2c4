"""One reconcile of one repository: read the desired state, plan, apply in one transaction.

Cheapest first: one (conditional) head request; an unchanged head ends the run. Otherwise the
listing, then, under a per-repository lock, the rows, the plan, the bytes of only the changed
files, and the writes, all in one transaction, which also records the commit the rows now
equal: a run that listed before another one applied lists again under the lock, so an older
listing never lands over newer rows. A run that finds the lock taken marks the
repository dirty; the running one sees the flag when it ends and reconciles once more, so a
burst of pushes costs one or two runs.

A run that could not read every file it wanted writes what it read but does not claim the
head: the repository stays behind it (`status` shows the lag and why), so the next run, a poll
included, lists again and retries those files. Whatever goes wrong, the run ends with a
`sync_runs` row and a one-line error.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

from models import CatalogFileError, CatalogItem, ItemType, Repository, RunOutcome, utcnow
from models.db import transaction
from worker.errors import CatalogSyncError, LockBusyError, UnsafePlanError
from worker.repoconfig.parse import RepoConfigError
from worker.repoconfig.resolve import record_config_error, rules_for
from worker.repositories import ensure_repository
from worker.sync import change_log, repo_state
from worker.sync.apply import Outcome, Target, apply_plan
from worker.sync.entries import blob_sha
from worker.sync.layout import CatalogRules, classify
from worker.sync.parse import FileError, parse_item
from worker.sync.plan import Plan, RowState, Wanted, check_safe, plan_reconcile
from worker.sync.prefetch import prefetched
from worker.sync.repo_state import due_repositories
from worker.sync.run import Options, Progress, ReconcileRequest, Result
from worker.sync.source import Head, Listing, Source
from worker.sync.storable import one_line, printable, storable_text

__all__ = [
    "LOCK_CLASS",
    "Options",
    "ReconcileRequest",
    "Result",
    "due_repositories",
    "read_and_parse",
    "reconcile",
]

log = logging.getLogger(__name__)

#: First key of the two-int advisory lock; the second is the repository id.
LOCK_CLASS = 0x63730001
#: How many times a run reconciles again because pushes arrived while it held the lock.
MAX_COALESCED_RERUNS = 3


@dataclass(frozen=True)
class _Job:
    """What every run of one `reconcile` call shares: where to write, what to read, the knobs."""

    engine: Engine
    full_name: str
    source: Source
    options: Options


def reconcile(
    engine: Engine, full_name: str, source: Source, options: Options, request: ReconcileRequest
) -> Result:
    """Make the repository's rows equal to `source`; reruns while pushes keep arriving."""
    job = _Job(engine, full_name, source, options)
    with contextlib.closing(source):
        result = _reconcile_once(job, request)
        for _rerun in range(0 if request.dry_run else MAX_COALESCED_RERUNS):
            if result.outcome == RunOutcome.SKIPPED or not repo_state.take_dirty(engine, full_name):
                break
            result = _reconcile_once(job, request.coalesced())
        return result


def _reconcile_once(job: _Job, request: ReconcileRequest) -> Result:
    started = utcnow()
    clock = time.monotonic()
    source = job.source
    requests_before = source.requests
    repo = (
        repo_state.find_repository(job.engine, job.full_name, request.branch)
        if request.dry_run
        else repo_state.stored_repository(job.engine, job.full_name, request.branch)
    )
    result = Result(
        full_name=job.full_name, outcome=RunOutcome.RUNNING, from_sha=repo.last_synced_sha
    )
    try:
        head = source.head(None if (request.full or request.dry_run) else repo.head_etag)
        result.to_sha = repo.head_sha if head.not_modified else head.sha
        result.etag = head.etag
        if _unchanged(repo, result.to_sha, request, source):
            result.outcome = RunOutcome.NOOP
            result.requests = source.requests - requests_before
            repo_state.record_noop(job.engine, repo.id, head, source, request, started, result)
            return result
        _list_and_apply(job, request, repo, result)
    except LockBusyError:
        result.outcome = RunOutcome.SKIPPED
        result.error = "another reconcile of this repository is running; it will catch up"
    except CatalogSyncError as exc:
        result.exception = exc
        refused = isinstance(exc, UnsafePlanError | RepoConfigError)
        result.outcome = RunOutcome.REFUSED if refused else RunOutcome.FAILED
        result.error = storable_text(exc.message)
        if isinstance(exc, RepoConfigError) and not request.dry_run:
            record_config_error(job.engine, repo.id, exc, result.to_sha)
    except Exception as exc:
        result.exception = exc
        result.outcome = RunOutcome.FAILED
        result.error = one_line(exc)
        log.exception(  # a traceback in the log (logging survives an unprintable one)
            "reconcile.failed",
            extra={"repository": job.full_name, "trigger": request.trigger, "error": result.error},
        )
    result.requests = source.requests - requests_before
    if not request.dry_run:
        repo_state.record(job.engine, repo.id, source, request, started, clock, result)
    return result


def _list_and_apply(job: _Job, request: ReconcileRequest, repo: Repository, result: Result) -> None:
    """List the tree at the head in `result`, then plan and apply it; sets the outcome."""
    listing = job.source.listing(Head(sha=result.to_sha, etag=result.etag))
    result.to_sha = listing.commit_sha or result.to_sha
    try:
        _apply(job, request, repo, listing, result)
    except LockBusyError:
        # Flag first, then try once more: either the holder sees the flag when it ends,
        # or it has ended and this run takes the lock itself. No push is left behind.
        repo_state.mark_dirty(job.engine, repo.id)
        _apply(job, request, repo, listing, result)
    if result.outcome == RunOutcome.RUNNING:
        changed = result.counts.changed or request.full
        result.outcome = RunOutcome.SUCCESS if changed else RunOutcome.NOOP


def _unchanged(
    repo: Repository, head_sha: str | None, request: ReconcileRequest, source: Source
) -> bool:
    """An unchanged head, already synced, needs nothing more (not even a listing)."""
    if request.full or request.dry_run or repo.dirty:
        return False
    if not getattr(source, "head_identifies_content", True):
        return False
    return head_sha is not None and head_sha == repo.last_synced_sha


def _load_rows(session: Session, repository_id: int) -> list[RowState]:
    stmt = select(
        CatalogItem.id,
        CatalogItem.git_path,
        CatalogItem.blob_sha,
        CatalogItem.type,
        CatalogItem.deleted_at,
    ).where(CatalogItem.repository_id == repository_id)
    return [
        RowState(id=r[0], path=r[1], sha=r[2], type=ItemType(r[3]), deleted=r[4] is not None)
        for r in session.execute(stmt)
    ]


#: How earlier versions recorded a file the source did not give: retried, never kept.
_LEGACY_UNREAD = "could not be read from the source"


def _load_errors(session: Session, repository_id: int) -> dict[str, str]:
    """Error key -> the blob SHA that failed ("" for an old "could not be read": retry it)."""
    stmt = select(
        CatalogFileError.git_path, CatalogFileError.blob_sha, CatalogFileError.message
    ).where(CatalogFileError.repository_id == repository_id)
    return {
        key: "" if message.endswith(_LEGACY_UNREAD) else sha
        for key, sha, message in session.execute(stmt)
    }


def _lock(session: Session, repository_id: int) -> None:
    """Hold the repository's lock until this transaction ends; raise if another run holds it.

    PostgreSQL: a transaction-scoped advisory lock, and no row lock on `repositories` (the
    receiver and the dirty flag must never wait for a reconcile). SQLite serialises writers
    itself: a first write takes the database lock, waiting (busy timeout) for a running one.
    """
    if session.get_bind().dialect.name == "postgresql":
        got = session.execute(
            text("SELECT pg_try_advisory_xact_lock(:c, :r)"), {"c": LOCK_CLASS, "r": repository_id}
        ).scalar_one()
        if not got:
            raise LockBusyError("reconcile lock busy")
        return
    session.execute(
        update(Repository).where(Repository.id == repository_id).values(last_run_at=utcnow())
    )


def _apply(
    job: _Job, request: ReconcileRequest, repo: Repository, listing: Listing, result: Result
) -> None:
    """Plan and write in one transaction, under the repository's lock; a dry run rolls back."""
    options = job.options
    try:
        with transaction(job.engine) as session:
            repository_id, listing = _take(session, job, request, repo, listing, result)
            rules = rules_for(session, repository_id, job.source, listing, options.rules)
            types = classify(listing.entries, rules)
            rows = _load_rows(session, repository_id)
            errors = _load_errors(session, repository_id)
            plan = _plan(listing, types, rows, errors, request, options, result)
            bulk = not rows or len(plan.fetch) > options.tarball_threshold
            target = Target(
                repository_id=repository_id,
                rows={r.path: r for r in rows},
                types=types,
                commit_sha=listing.commit_sha,
                default_author=options.default_author,
                now=utcnow(),
                error_keys=frozenset(errors),
            )
            reads = read_and_parse(job.source, listing, plan.fetch, rules, bulk, request.progress)
            with prefetched(reads) as outcomes:  # the next batch is read while one is written
                result.counts = apply_plan(session, target, plan, outcomes)
            if request.dry_run:
                raise _DryRunDone
            run_id = change_log.record(
                session,
                job.source,
                result,
                repository_id=repository_id,
                before=rows,
                commit_sha=listing.commit_sha,
                trigger=request.trigger,
                full=request.full,
                added_at=target.now,
            )
            if result.counts.unread:
                result.error = _unread_message(result.counts.unread)
                repo_state.mark_partial(session, repository_id, result.to_sha, result.etag)
            else:
                repo_state.mark_synced(session, repository_id, result.to_sha, result.etag)
        result.run_id = run_id  # committed: the bookkeeping completes this run's row
    except _DryRunDone:
        pass


def _take(
    session: Session,
    job: _Job,
    request: ReconcileRequest,
    repo: Repository,
    listing: Listing,
    result: Result,
) -> tuple[int, Listing]:
    """The repository id to write under, locked; the listing, read again if it went stale."""
    if request.dry_run:
        # No lock (MVCC gives a consistent snapshot) and, for a repository never seen,
        # a row that the rollback takes back: a dry run writes nothing.
        if repo.id is None:
            return ensure_repository(session, repo.full_name, repo.branch), listing
        return repo.id, listing
    _lock(session, repo.id)
    synced = repo_state.synced_marker(session, repo.id)
    if synced != (repo.last_synced_sha, repo.last_synced_at):
        # Another run applied since this one listed: the rows may be newer than
        # the listing. Under the lock nobody else applies, so list again.
        listing = _relist(job.source, result, synced[0])
    return repo.id, listing


def _plan(
    listing: Listing,
    types: dict[str, ItemType],
    rows: list[RowState],
    errors: dict[str, str],
    request: ReconcileRequest,
    options: Options,
    result: Result,
) -> Plan:
    """The plan from the listing and the rows; refused when it deletes too much."""
    shas = {e.path: e.sha for e in listing.entries}
    desired = {path: Wanted(sha=shas[path], type=t) for path, t in types.items()}
    plan = plan_reconcile(
        desired,
        rows,
        errors,
        full=request.full,
        complete=listing.complete,
    )
    result.plan = plan
    result.withheld_deletes = plan.withheld_deletes
    live = sum(not r.deleted for r in rows)
    check_safe(plan, live, options.max_delete_fraction, force=request.force)
    return plan


def _relist(source: Source, result: Result, synced_sha: str | None) -> Listing:
    """The listing at the current head, read while holding the lock."""
    head = source.head(None)
    listing = source.listing(head)
    result.from_sha = synced_sha
    result.to_sha = listing.commit_sha or head.sha
    result.etag = head.etag
    return listing


def _unread_message(unread: list[str]) -> str:
    """One line naming the files a run could not read (a few of them)."""
    shown = ", ".join(printable(p)[:200] for p in unread[:3])
    more = f" and {len(unread) - 3} more" if len(unread) > 3 else ""
    return (
        f"{len(unread)} file(s) could not be read ({shown}{more}); not synced at this head, "
        "the next run retries them"
    )


class _DryRunDone(Exception):
    """Raised inside the transaction of a dry run so that it rolls back."""


#: Parsed files written per batch: bounds memory to a batch, not the repository.
BATCH_SIZE = 1000


def read_and_parse(
    source: Source,
    listing: Listing,
    wanted: dict[str, str],
    rules: CatalogRules,
    bulk: bool,
    progress: Progress | None,
    batch_size: int | None = None,
) -> Iterator[Outcome]:
    """Read only the wanted files, parse each as it arrives, and hand them on in batches.

    Bytes are dropped as soon as a file is parsed. Wanted files the source did not yield come
    last, as `unread`: no error row (that would pin the blob as broken); the run does not
    claim the head, so the next run tries them again.
    """
    size = batch_size or BATCH_SIZE
    pending = set(wanted)  # shrinks as files arrive: memory falls while the batches are written
    batch = Outcome()
    total = len(wanted)
    head = Head(sha=listing.commit_sha)
    for path, data in source.read(head, wanted, bulk=bulk):
        if path not in pending or blob_sha(data) != wanted[path]:
            continue  # unasked, repeated, or raced ahead of the listing: the next run settles it
        pending.discard(path)
        sha = wanted[path]
        parsed = parse_item(path, data, rules)
        if isinstance(parsed, FileError):
            batch.failed[path] = (sha, parsed.message)
        else:
            batch.parsed[path] = (sha, parsed)
        if progress is not None:
            progress(total - len(pending), total)
        if len(batch.parsed) + len(batch.failed) >= size:
            yield batch
            batch = Outcome()
    for path in sorted(pending):
        batch.unread[path] = wanted[path]
    yield batch
