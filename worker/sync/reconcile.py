"""One reconcile of one repository: read the desired state, plan, apply in one transaction.

Cheapest first: one (conditional) head request; an unchanged head ends the run. Otherwise the
listing, then, under a per-repository lock, the rows, the plan, the bytes of only the changed
files, and the writes, all in one transaction, which also records the commit the rows now
equal: a run that listed before another one applied lists again under the lock, so an older
listing never lands over newer rows. A run that finds the lock taken marks the
repository dirty; the running one sees the flag when it ends and reconciles once more, so a
burst of pushes costs one or two runs.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

from models import CatalogFileError, CatalogItem, Repository, RunOutcome, utcnow
from models.db import transaction
from worker.errors import CatalogSyncError, LockBusyError, UnsafePlanError
from worker.repoconfig.parse import RepoConfigError
from worker.repoconfig.resolve import record_config_error, rules_for
from worker.sync import repo_state
from worker.sync.apply import Outcome, apply_plan
from worker.sync.catalog import CatalogRules, FileError, classify, parse_item
from worker.sync.gitblob import blob_sha
from worker.sync.plan import RowState, Wanted, check_safe, plan_reconcile
from worker.sync.repo_state import due_repositories, ensure_repository
from worker.sync.run_result import Options, Result
from worker.sync.source import Head, Listing, Source

__all__ = [
    "LOCK_CLASS",
    "Options",
    "Result",
    "due_repositories",
    "ensure_repository",
    "read_and_parse",
    "reconcile",
]

log = logging.getLogger(__name__)

#: First key of the two-int advisory lock; the second is the repository id.
LOCK_CLASS = 0x63730001
#: How many times a run reconciles again because pushes arrived while it held the lock.
MAX_COALESCED_RERUNS = 3

Progress = Callable[[int, int], None]


def reconcile(
    engine: Engine,
    full_name: str,
    source: Source,
    options: Options,
    *,
    trigger: str,
    branch: str | None = None,
    full: bool = False,
    force: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> Result:
    """Make the repository's rows equal to `source`; reruns while pushes keep arriving."""
    with contextlib.closing(source):
        result = _reconcile_once(
            engine, full_name, source, options, trigger, branch, full, force, dry_run, progress
        )
        for _rerun in range(0 if dry_run else MAX_COALESCED_RERUNS):
            if result.outcome == RunOutcome.SKIPPED or not repo_state.take_dirty(engine, full_name):
                break
            result = _reconcile_once(
                engine,
                full_name,
                source,
                options,
                "coalesced",
                branch,
                False,
                force,
                False,
                progress,
            )
        return result


def _reconcile_once(
    engine: Engine,
    full_name: str,
    source: Source,
    options: Options,
    trigger: str,
    branch: str | None,
    full: bool,
    force: bool,
    dry_run: bool,
    progress: Progress | None,
) -> Result:
    started = utcnow()
    clock = time.monotonic()
    requests_before = source.requests
    repo = (
        repo_state.find_repository(engine, full_name, branch)
        if dry_run
        else repo_state.ensure_repository(engine, full_name, branch)
    )
    result = Result(full_name=full_name, outcome=RunOutcome.RUNNING, from_sha=repo.last_synced_sha)
    try:
        head = source.head(None if (full or dry_run) else repo.head_etag)
        head_sha = repo.head_sha if head.not_modified else head.sha
        result.to_sha = head_sha
        result.etag = head.etag
        if _unchanged(repo, head, head_sha, full, dry_run, source):
            result.outcome = RunOutcome.NOOP
            result.requests = source.requests - requests_before
            repo_state.record_noop(engine, repo.id, head, source, trigger, started, result)
            return result
        listing = source.listing(Head(sha=head_sha, etag=head.etag))
        result.to_sha = listing.commit_sha or head_sha
        args = (engine, repo, source, options, listing, result, full, force, dry_run, progress)
        try:
            _apply(*args)
        except LockBusyError:
            # Flag first, then try once more: either the holder sees the flag when it ends,
            # or it has ended and this run takes the lock itself. No push is left behind.
            repo_state.mark_dirty(engine, repo.id)
            _apply(*args)
        result.outcome = (
            result.outcome
            if result.outcome != RunOutcome.RUNNING
            else (RunOutcome.SUCCESS if result.counts.changed or full else RunOutcome.NOOP)
        )
    except LockBusyError:
        result.outcome = RunOutcome.SKIPPED
        result.error = "another reconcile of this repository is running; it will catch up"
    except CatalogSyncError as exc:
        result.exception = exc
        refused = isinstance(exc, UnsafePlanError | RepoConfigError)
        result.outcome = RunOutcome.REFUSED if refused else RunOutcome.FAILED
        result.error = exc.message
        if isinstance(exc, RepoConfigError) and not dry_run:
            record_config_error(engine, repo.id, exc, result.to_sha)
    except Exception as exc:
        result.exception = exc
        result.outcome = RunOutcome.FAILED
        result.error = f"{type(exc).__name__}: {exc}"
        log.exception("reconcile of %s failed", full_name)
    result.requests = source.requests - requests_before
    if not dry_run:
        repo_state.record(engine, repo.id, source, trigger, full, started, clock, result)
    return result


def _unchanged(
    repo: Repository, head: Head, head_sha: str | None, full: bool, dry_run: bool, source: Source
) -> bool:
    """An unchanged head, already synced, needs nothing more (not even a listing)."""
    if full or dry_run or repo.dirty or not getattr(source, "head_identifies_content", True):
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
        RowState(id=r[0], path=r[1], sha=r[2], type=str(r[3]), deleted=r[4] is not None)
        for r in session.execute(stmt)
    ]


def _load_errors(session: Session, repository_id: int) -> dict[str, str]:
    stmt = select(CatalogFileError.git_path, CatalogFileError.blob_sha).where(
        CatalogFileError.repository_id == repository_id
    )
    return {path: sha for path, sha in session.execute(stmt)}


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
    engine: Engine,
    repo: Repository,
    source: Source,
    options: Options,
    listing: Listing,
    result: Result,
    full: bool,
    force: bool,
    dry_run: bool,
    progress: Progress | None,
) -> None:
    try:
        with transaction(engine) as session:
            repository_id = repo.id
            if dry_run:
                # No lock (MVCC gives a consistent snapshot) and, for a repository never seen,
                # a row that the rollback below takes back: a dry run writes nothing.
                if repository_id is None:
                    repository_id = repo_state.add_repository(session, repo)
            else:
                _lock(session, repository_id)
                synced = repo_state.synced_marker(session, repository_id)
                if synced != (repo.last_synced_sha, repo.last_synced_at):
                    # Another run applied since this one listed: the rows may be newer than
                    # the listing. Under the lock nobody else applies, so list again.
                    listing = _relist(source, result, synced[0])
            rules = rules_for(session, repository_id, source, listing, options.rules)
            types = classify(listing.entries, rules)
            shas = {e.path: e.sha for e in listing.entries}
            desired = {path: Wanted(sha=shas[path], type=t) for path, t in types.items()}
            rows = _load_rows(session, repository_id)
            plan = plan_reconcile(
                desired,
                rows,
                _load_errors(session, repository_id),
                full=full,
                complete=listing.complete,
            )
            result.plan, result.withheld_deletes = plan, plan.withheld_deletes
            live = sum(not r.deleted for r in rows)
            check_safe(plan, live, options.max_delete_fraction, force=force)
            bulk = not rows or len(plan.fetch) > options.tarball_threshold
            outcomes = read_and_parse(source, listing, plan.fetch, rules, bulk, progress)
            result.counts = apply_plan(
                session,
                repository_id=repository_id,
                plan=plan,
                outcomes=outcomes,
                rows={r.path: r for r in rows},
                types=types,
                commit_sha=listing.commit_sha,
                default_author=options.default_author,
                now=utcnow(),
            )
            if dry_run:
                raise _DryRunDone
            repo_state.mark_synced(session, repository_id, result.to_sha, result.etag)
    except _DryRunDone:
        pass


def _relist(source: Source, result: Result, synced_sha: str | None) -> Listing:
    """The listing at the current head, read while holding the lock."""
    head = source.head(None)
    listing = source.listing(head)
    result.from_sha = synced_sha
    result.to_sha = listing.commit_sha or head.sha
    result.etag = head.etag
    return listing


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
    last, as errors ("could not be read"): the next run tries them again.
    """
    size = batch_size or BATCH_SIZE
    seen: set[str] = set()
    batch = Outcome()
    total = len(wanted)
    head = Head(sha=listing.commit_sha)
    for path, data in source.read(head, wanted, bulk=bulk):
        sha = wanted.get(path)
        if sha is None or path in seen or blob_sha(data) != sha:
            continue  # unasked, repeated, or raced ahead of the listing: the next run settles it
        seen.add(path)
        parsed = parse_item(path, data, rules)
        if isinstance(parsed, FileError):
            batch.failed[path] = (sha, parsed.message)
        else:
            batch.parsed[path] = (sha, parsed)
        if progress is not None:
            progress(len(seen), total)
        if len(batch.parsed) + len(batch.failed) >= size:
            yield batch
            batch = Outcome()
    for path, sha in wanted.items():
        if path not in seen:
            batch.failed[path] = (sha, f"{path}: could not be read from the source")
    yield batch
