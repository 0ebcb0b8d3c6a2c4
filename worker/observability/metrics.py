"""Prometheus metrics: receiver counters/latency, and DB-derived gauges read at scrape time.

The inbox, sync-run and repository figures live in the database, not in process memory, so a
custom collector queries them per scrape; every process (and every gunicorn worker) reports
the same truth. Under gunicorn with `PROMETHEUS_MULTIPROC_DIR` set, the counters and the
histogram are aggregated across workers by `MultiProcessCollector` (the directory must be empty
at start, and gunicorn's `child_exit` hook should call `mark_process_dead`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, func, select

from models import DeliveryStatus, Repository, RunOutcome, SyncRun, WebhookDelivery, utcnow
from models.db import retry_on_dead_connection
from worker.feedback.metrics import FeedbackCollector
from worker.observability.sync_lag import sync_lag_seconds

log = logging.getLogger(__name__)

DELIVERIES = Counter(
    "catalog_sync_webhook_deliveries",
    "Webhook deliveries received, by event and outcome.",
    ["event", "outcome"],
    registry=None,
)
RECEIVER_LATENCY = Histogram(
    "catalog_sync_webhook_request_seconds",
    "Time to answer POST /webhooks/github, by outcome.",
    ["outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=None,
)
_PROCESS_METRICS = (DELIVERIES, RECEIVER_LATENCY)


class DatabaseCollector(Collector):
    """Reads the database at scrape time; a failed query reports `db_up 0`, never an error.

    Sync lag per repository follows `worker.observability.sync_lag` (the rule `status` shows),
    reported as 0 while the head is still unknown.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("catalog_sync_metrics_db_up", "1 if the scrape could read the DB.")
        try:
            metrics = retry_on_dead_connection(lambda: list(self._read()))
        except Exception:  # a scrape must not fail because the DB is down
            log.warning("metrics.db_unavailable", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from metrics

    def _read(self) -> Iterator[Metric]:
        now = utcnow()
        with self.engine.connect() as conn:
            yield from _inbox_metrics(conn, now)
            yield from _runs_metrics(conn)
            yield from _repository_metrics(conn, now)


def _inbox_metrics(conn: Connection, now: datetime) -> Iterator[Metric]:
    inbox = GaugeMetricFamily(
        "catalog_sync_inbox_deliveries", "Stored deliveries by status.", labels=["status"]
    )
    counts = dict(
        conn.execute(
            select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
        ).all()
    )
    for status in DeliveryStatus:
        inbox.add_metric([status.value], int(counts.get(status.value, 0)))
    yield inbox
    oldest = conn.scalar(
        select(func.min(WebhookDelivery.received_at)).where(
            WebhookDelivery.status == DeliveryStatus.PENDING.value
        )
    )
    age = GaugeMetricFamily(
        "catalog_sync_inbox_oldest_pending_age_seconds",
        "Age of the oldest pending delivery (0 when none).",
    )
    age.add_metric([], _age(now, oldest))
    yield age


#: Outcomes that mean the table equals the repository's head afterwards.
_SUCCESSES = (RunOutcome.SUCCESS.value, RunOutcome.NOOP.value)


def _runs_metrics(conn: Connection) -> Iterator[Metric]:
    """Runs by repository, trigger and outcome, and each repository's last successful run: a
    failing repository is visible on its own, never masked by another one's successes."""
    runs = CounterMetricFamily(
        "catalog_sync_reconcile_runs",
        "Reconcile runs recorded in sync_runs, by repository, trigger and outcome.",
        labels=["repository", "trigger", "outcome"],
    )
    for repository, trigger, outcome, count in conn.execute(
        select(Repository.full_name, SyncRun.trigger, SyncRun.outcome, func.count())
        .join(Repository, Repository.id == SyncRun.repository_id)
        .group_by(Repository.full_name, SyncRun.trigger, SyncRun.outcome)
    ):
        runs.add_metric([repository, trigger, outcome], int(count))
    yield runs
    last = GaugeMetricFamily(
        "catalog_sync_reconcile_last_success_timestamp_seconds",
        "Unix time the last successful (or no-op) reconcile of the repository finished.",
        labels=["repository"],
    )
    for repository, finished in conn.execute(
        select(Repository.full_name, func.max(SyncRun.finished_at))
        .join(Repository, Repository.id == SyncRun.repository_id)
        .where(SyncRun.outcome.in_(_SUCCESSES), SyncRun.finished_at.is_not(None))
        .group_by(Repository.full_name)
    ):
        if finished is not None:
            last.add_metric([repository], _as_utc(finished).timestamp())
    yield last


def _as_utc(value: datetime) -> datetime:
    """A database timestamp as an aware UTC time (SQLite hands back naive ones)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _repository_metrics(conn: Connection, now: datetime) -> Iterator[Metric]:
    """Sync lag per repository (`sync_lag_seconds`; 0 while the head is unknown) and the
    lowest GitHub rate-limit budget left."""
    lag = GaugeMetricFamily(
        "catalog_sync_sync_lag_seconds",
        "Seconds the synced SHA has trailed the known head, per repository.",
        labels=["repository"],
    )
    remaining: list[int] = []
    for row in conn.execute(
        select(
            Repository.full_name,
            Repository.head_sha,
            Repository.last_synced_sha,
            Repository.last_synced_at,
            Repository.created_at,
            Repository.rate_limit_remaining,
        )
    ):
        lag.add_metric([row.full_name], sync_lag_seconds(row, now) or 0.0)
        if row.rate_limit_remaining is not None:
            remaining.append(int(row.rate_limit_remaining))
    yield lag
    if remaining:
        rate = GaugeMetricFamily(
            "catalog_sync_github_rate_limit_remaining",
            "GitHub API requests left in the current window (lowest over repositories).",
        )
        rate.add_metric([], min(remaining))
        yield rate


def _age(now: datetime, then: datetime | None) -> float:
    return 0.0 if then is None else max(0.0, (now - then).total_seconds())


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def make_registry(engine: Engine | None) -> CollectorRegistry:
    """A registry for one app: process metrics (or their multiprocess view) + the DB collector."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        for metric in _PROCESS_METRICS:
            registry.register(metric)
    if engine is not None:
        registry.register(DatabaseCollector(engine))
        registry.register(FeedbackCollector(engine))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of `registry`."""
    return generate_latest(registry)
