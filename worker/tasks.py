"""Celery tasks: thin wrappers over the engine, each safe to run twice.

Every task converges on the state of the repository at the time it runs, so a redelivered
message (late acks, worker killed) or a duplicate from two beats only costs a cheap no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from celery import Task
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from models import utcnow
from settings import RepoSpec, Settings, get_settings
from worker import composition as services
from worker.celery_app import get_app
from worker.discovery.hooks import after_reconcile, may_reconcile
from worker.discovery.watching import watched_specs
from worker.embedded_broker import purge_delivered
from worker.errors import (
    CatalogSyncError,
    ConfigError,
    RateLimitedError,
    TransientSourceError,
)
from worker.feed.retention import prune_changes, retention_cutoff
from worker.feedback.report import report_synced_commit
from worker.inbox.publish import MAX_COUNTDOWN_S
from worker.inbox.queries import watched_hooks
from worker.inbox.status import mark_done, mark_failed, mark_processing
from worker.inbox.sweep import sweep_pending
from worker.pulls.refs import delivery_pull_request
from worker.pulls.run import check_pull_request
from worker.sync.poll import PollReport, poll_all
from worker.sync.reconcile import ReconcileRequest, Result, due_repositories, reconcile
from worker.sync.source import Source
from worker.tasknames import (
    DISCOVERY_TASK,
    POLL_TASK,
    PRUNE_CHANGES_TASK,
    PULL_REQUEST_TASK,
    RECONCILE_TASK,
    RETIRE_TASK,
    SELF_REPAIR_TASK,
    SWEEP_TASK,
    VERIFY_ALL_TASK,
)

log = logging.getLogger(__name__)
app = get_app()

#: Retries of a reconcile that failed for a reason worth retrying (5xx, timeouts, DB restart).
MAX_RETRIES = 8


def _retry_countdown(exc: BaseException | None, retries: int) -> float | None:
    """Seconds until a retry is worth it, or None when retrying cannot help."""
    if isinstance(exc, RateLimitedError):
        return min(MAX_COUNTDOWN_S, max(1.0, (exc.reset_at - utcnow()).total_seconds() + 1))
    if isinstance(exc, TransientSourceError) or (
        exc is not None and not isinstance(exc, CatalogSyncError)
    ):
        return float(min(600, 2 ** (retries + 1)))
    return None


def _reconcile_and_report(
    engine: Engine, settings: Settings, spec: RepoSpec, source: Source, request: ReconcileRequest
) -> Result:
    """One reconcile, then what follows every one: the lifecycle hook and the verdict on GitHub.

    The reconcile task and the poll both come through here, so a commit the poll catches gets
    the same check run or status as one a webhook announced.
    """
    result = reconcile(engine, spec.full_name, source, services.options(settings), request)
    log.info(
        "tasks.reconciled",
        extra={
            "repository": spec.full_name,
            "trigger": request.trigger,
            "outcome": str(result.outcome),
        },
    )
    client = lambda: services.github_client(settings)  # noqa: E731 - built only when needed
    after_reconcile(engine, spec.full_name, result, client)
    report_synced_commit(engine, settings, client, result)
    return result


@app.task(name=RECONCILE_TASK, bind=True, max_retries=MAX_RETRIES)
def reconcile_repository_task(
    self: Task,
    full_name: str,
    trigger: str = "manual",
    full: bool = False,
    delivery_id: str | None = None,
) -> str:
    """Reconcile one repository from GitHub; marks its deliveries done up to the head."""
    settings = get_settings()
    engine = services.engine(settings)
    if delivery_id and (number := delivery_pull_request(engine, delivery_id)) is not None:
        # A stored pull_request delivery re-queued by the sweeper or `redeliver`.
        kwargs = {"full_name": full_name, "number": number, "delivery_id": delivery_id}
        validate_pull_request_task.apply_async(kwargs=kwargs)
        return f"{full_name}#{number}: validation queued"
    spec = services.repo_spec(full_name, settings)
    try:
        source = services.github_source(spec, settings)
    except ConfigError as exc:
        if delivery_id:
            mark_failed(engine, delivery_id, str(exc), dead=True)
        raise
    if not may_reconcile(engine, settings, spec.full_name):
        if delivery_id:
            mark_done(engine, delivery_id)
        return f"{spec.full_name}: skipped: not watched"
    try:
        if delivery_id:
            mark_processing(engine, delivery_id)
        request = ReconcileRequest(trigger=trigger, branch=spec.branch, full=full)
        result = _reconcile_and_report(engine, settings, spec, source, request)
    except DBAPIError as exc:
        # The database went away (restart, failover): nothing was committed, so running the
        # same reconcile a little later is exactly right.
        raise self.retry(countdown=min(60, 2 ** (self.request.retries + 1)), exc=exc) from exc
    if result.ok:
        return result.summary()
    countdown = _retry_countdown(result.exception, self.request.retries)
    if countdown is not None and self.request.retries < MAX_RETRIES:
        raise self.retry(countdown=countdown, exc=result.exception)
    if delivery_id:
        mark_failed(engine, delivery_id, result.error or "reconcile failed", dead=False)
    return result.summary()


@app.task(name=PULL_REQUEST_TASK, bind=True, max_retries=MAX_RETRIES)
def validate_pull_request_task(
    self: Task, full_name: str, number: int, delivery_id: str | None = None
) -> str:
    """Validate a pull request's changed catalog files; the verdict goes on its head commit.

    Writes no catalog row. GitHub or the database unreachable: retried a bounded number of
    times; anything else that stops it (no access, no such pull request) ends the delivery.
    """
    settings = get_settings()
    engine = services.engine(settings)
    if delivery_id:
        mark_processing(engine, delivery_id)
    try:
        outcome = check_pull_request(
            engine, settings, services.github_client(settings), full_name, number
        )
    except (DBAPIError, TransientSourceError, RateLimitedError) as exc:
        countdown = _retry_countdown(exc, self.request.retries) or 60.0
        if self.request.retries < MAX_RETRIES:
            raise self.retry(countdown=countdown, exc=exc) from exc
        if delivery_id:
            mark_failed(engine, delivery_id, str(exc), dead=False)
        return f"{full_name}#{number}: {exc}"
    except CatalogSyncError as exc:
        log.warning("pull_request.failed", extra={"repository": full_name, "error": str(exc)})
        if delivery_id:
            mark_failed(engine, delivery_id, exc.message, dead=True)
        return f"{full_name}#{number}: {exc.message}"
    if delivery_id:
        mark_done(engine, delivery_id)
    return outcome.summary()


@app.task(name=POLL_TASK)
def poll_repositories_task() -> int:
    """The fallback for missed webhooks: poll every watched repository that is due, here.

    Failing repositories are due only after their back-off (`repositories.next_poll_at`);
    under the rate reserve every worker defers its polls until GitHub's reset.
    """
    settings = get_settings()
    engine = services.engine(settings)
    specs = due_repositories(engine, watched_specs(engine, settings), utcnow())
    if not specs:
        return 0
    report = poll_cycle(specs, settings)
    log.info(
        "tasks.polled",
        extra={
            "repositories": len(specs),
            "outcomes": dict(report.outcomes),
            "deferred": len(report.deferred),
        },
    )
    return sum(report.outcomes.values())


def poll_cycle(specs: Sequence[RepoSpec], settings: Settings) -> PollReport:
    """Poll `specs` from this process: conditional head requests issued concurrently
    (`worker.sync.poll`); an unchanged repository costs one 304, a changed one is reconciled
    in the same pool and reported like any other reconcile."""
    engine = services.engine(settings)
    by_name = {str(spec): spec for spec in specs}

    def poll_one(name: str) -> Result:
        spec = by_name[name]
        request = ReconcileRequest(trigger="poll", branch=spec.branch)
        source = services.github_source(spec, settings)
        return _reconcile_and_report(engine, settings, spec, source, request)

    return poll_all(engine, list(by_name), poll_one, services.github_client(settings))


@app.task(name=SWEEP_TASK)
def sweep_deliveries_task() -> dict[str, Any]:
    """Queue the stored deliveries the receiver could not (broker down) or that were lost."""
    settings = get_settings()
    swept = sweep_pending(
        services.engine(settings),
        services.publisher().enqueue_for_delivery,
        utcnow(),
        max_attempts=settings.delivery_max_attempts,
    )
    return {**swept.as_dict(), "broker_rows_purged": purge_delivered(settings.celery_broker_url)}


@app.task(name=VERIFY_ALL_TASK)
def verify_all_task() -> int:
    """Nightly: re-read every file of every repository (catches rows edited by hand)."""
    settings = get_settings()
    specs = watched_specs(services.engine(settings), settings)
    for spec in specs:
        reconcile_repository_task.apply_async(
            kwargs={"full_name": str(spec), "trigger": "nightly", "full": True}
        )
    return len(specs)


@app.task(name=DISCOVERY_TASK)
def discover_repositories_task(trigger: str = "beat", delivery_id: str | None = None) -> Any:
    """Refresh the discovered repositories; new ones are reconciled at once, gone ones unwatched."""
    from worker.discovery.run import run_discovery

    settings = get_settings()
    engine = services.engine(settings)
    if delivery_id:
        mark_processing(engine, delivery_id)
    creds = settings.github_token or settings.uses_github_app
    result = run_discovery(
        engine,
        settings,
        services.github_client(settings) if creds else None,
        lambda spec: reconcile_repository_task.apply_async(
            kwargs={"full_name": spec, "trigger": "discovered"}
        ),
    )
    if delivery_id:
        mark_done(engine, delivery_id)
    return result.as_dict()


@app.task(name=RETIRE_TASK)
def retire_repositories_task() -> int:
    """Soft-delete the items of repositories unwatched for longer than RETIRE_AFTER_SECONDS."""
    from worker.discovery.lifecycle import retire_due

    settings = get_settings()
    return len(retire_due(services.engine(settings), settings.retire_after_seconds))


@app.task(name=SELF_REPAIR_TASK)
def self_repair_task() -> int:
    """Ask GitHub to redeliver the failed deliveries of each watched hook (3-day window)."""
    from worker.github.redelivery import redeliver_failed

    settings = get_settings()
    if not (settings.github_token or settings.uses_github_app):
        return 0
    client = services.github_client(settings)
    since = utcnow() - timedelta(days=3)
    total = 0
    for full_name, hook_id in watched_hooks(services.engine(settings)):
        try:
            total += len(
                redeliver_failed(client, full_name, hook_id, since, app=settings.uses_github_app)
            )
        except CatalogSyncError as exc:
            log.warning(
                "tasks.self_repair_failed",
                extra={"repository": full_name, "reason": exc.reason, "error": str(exc)},
            )
    return total


@app.task(name=PRUNE_CHANGES_TASK)
def prune_changes_task() -> int:
    """Hourly: drop change-feed rows older than CHANGES_RETENTION_DAYS (in small batches)."""
    settings = get_settings()
    return prune_changes(
        services.engine(settings), retention_cutoff(settings.changes_retention_days)
    )
