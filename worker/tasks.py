"""Celery tasks: thin wrappers over the engine, each safe to run twice.

Every task converges on the state of the repository at the time it runs, so a redelivered
message (late acks, worker killed) or a duplicate from two beats only costs a cheap no-op.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Task
from sqlalchemy.exc import DBAPIError

from models import utcnow
from settings import get_settings
from worker import composition as services
from worker.celery_app import get_app
from worker.embedded_broker import purge_delivered
from worker.errors import (
    CatalogSyncError,
    ConfigError,
    RateLimitedError,
    TransientSourceError,
)
from worker.inbox.publish import MAX_COUNTDOWN_S, enqueue_reconcile
from worker.inbox.queries import watched_hooks
from worker.inbox.status import mark_failed, mark_processing
from worker.inbox.sweep import sweep_pending
from worker.sync.reconcile import ReconcileRequest, Result, due_repositories, reconcile
from worker.tasknames import (
    POLL_TASK,
    RECONCILE_TASK,
    SELF_REPAIR_TASK,
    SWEEP_TASK,
    VERIFY_ALL_TASK,
)

log = logging.getLogger(__name__)
app = get_app()

#: Retries of a reconcile that failed for a reason worth retrying (5xx, timeouts, DB restart).
MAX_RETRIES = 8


def _retry_countdown(result: Result, retries: int) -> float | None:
    """Seconds until a retry is worth it, or None when retrying cannot help."""
    exc = result.exception
    if isinstance(exc, RateLimitedError):
        return min(MAX_COUNTDOWN_S, max(1.0, (exc.reset_at - utcnow()).total_seconds() + 1))
    if isinstance(exc, TransientSourceError) or (
        exc is not None and not isinstance(exc, CatalogSyncError)
    ):
        return float(min(600, 2 ** (retries + 1)))
    return None


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
    spec = services.repo_spec(full_name, settings)
    try:
        source = services.github_source(spec, settings)
    except ConfigError as exc:
        if delivery_id:
            mark_failed(engine, delivery_id, str(exc), dead=True)
        raise
    try:
        if delivery_id:
            mark_processing(engine, delivery_id)
        result = reconcile(
            engine,
            spec.full_name,
            source,
            services.options(settings),
            ReconcileRequest(trigger=trigger, branch=spec.branch, full=full),
        )
    except DBAPIError as exc:
        # The database went away (restart, failover): nothing was committed, so running the
        # same reconcile a little later is exactly right.
        raise self.retry(countdown=min(60, 2 ** (self.request.retries + 1)), exc=exc) from exc
    log.info("reconciled", extra={"repository": spec.full_name, "outcome": str(result.outcome)})
    if result.ok:
        return result.summary()
    countdown = _retry_countdown(result, self.request.retries)
    if countdown is not None and self.request.retries < MAX_RETRIES:
        raise self.retry(countdown=countdown, exc=result.exception)
    if delivery_id:
        mark_failed(engine, delivery_id, result.error or "reconcile failed", dead=False)
    return result.summary()


@app.task(name=POLL_TASK)
def poll_repositories_task() -> int:
    """The fallback for missed webhooks: poll every watched repository that is due, here.

    Conditional head requests go out concurrently from this process (`worker.sync.poll`);
    an unchanged repository costs one 304, a changed one is reconciled in the same pool.
    Failing repositories are due only after their back-off (`repositories.next_poll_at`);
    under the rate reserve every worker defers its polls until GitHub's reset.
    """
    settings = get_settings()
    specs = due_repositories(services.engine(settings), settings.catalog_repos, utcnow())
    if not specs:
        return 0
    report = services.poll_repositories(specs, settings)
    log.info(
        "polled",
        extra={
            "repositories": len(specs),
            "outcomes": dict(report.outcomes),
            "deferred": len(report.deferred),
        },
    )
    return sum(report.outcomes.values())


@app.task(name=SWEEP_TASK)
def sweep_deliveries_task() -> dict[str, Any]:
    """Queue the stored deliveries the receiver could not (broker down) or that were lost."""
    settings = get_settings()
    swept = sweep_pending(
        services.engine(settings),
        enqueue_reconcile,
        utcnow(),
        max_attempts=settings.delivery_max_attempts,
    )
    return {**swept.as_dict(), "broker_rows_purged": purge_delivered(settings.celery_broker_url)}


@app.task(name=VERIFY_ALL_TASK)
def verify_all_task() -> int:
    """Nightly: re-read every file of every repository (catches rows edited by hand)."""
    settings = get_settings()
    for spec in settings.catalog_repos:
        reconcile_repository_task.apply_async(
            kwargs={"full_name": str(spec), "trigger": "nightly", "full": True}
        )
    return len(settings.catalog_repos)


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
            log.warning("self-repair failed", extra={"repository": full_name, "error": str(exc)})
    return total
