"""The Celery app: broker, reliability settings, routes and the beat schedule.

Design (see issue 5, "Worker"):

- JSON only: a pickle payload on a shared Redis would be remote code execution.
- Late acks + reject on worker lost + prefetch 1: a message is acknowledged only after its task
  finished, so a killed worker's reconcile is redelivered instead of silently dropped. Tasks are
  idempotent (a reconcile converges on the head tree), so a redelivery is harmless.
- Redis redelivers an unacknowledged message after `visibility_timeout`. A task that runs longer
  than that would be run twice concurrently, so the hard time limit (900 s) and the soft one
  (840 s, which lets the task roll back cleanly) sit far below the explicit 3600 s visibility
  timeout. Countdowns (rate-limit re-queues) are capped below it for the same reason
  (`worker.inbox.publish.MAX_COUNTDOWN_S`).
- Results are ignored and there is no result backend: the database (`sync_runs`,
  `webhook_deliveries`) is the record.
- The worker retries the broker forever; the web receiver does the opposite (it publishes with
  its own fail-fast connection, see `worker.inbox.publish`): it must answer GitHub at once.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import setup_logging
from kombu import Exchange, Queue

from settings import Settings, settings_or_exit
from worker.tasknames import (
    DISCOVERY_TASK,
    POLL_TASK,
    PRUNE_CHANGES_INTERVAL_S,
    PRUNE_CHANGES_TASK,
    QUEUE_NAME,
    RETIRE_INTERVAL_S,
    RETIRE_TASK,
    SELF_REPAIR_INTERVAL_S,
    SELF_REPAIR_TASK,
    SWEEP_TASK,
    TASK_NAMES,
    TASK_SOFT_TIME_LIMIT_S,
    TASK_TIME_LIMIT_S,
    VERIFY_ALL_TASK,
    VISIBILITY_TIMEOUT_S,
)


def celery_config(settings: Settings) -> dict[str, Any]:
    """The whole Celery configuration as a plain dict (testable without a broker)."""
    exchange = Exchange(QUEUE_NAME, type="direct")
    return {
        "broker_url": settings.celery_broker_url,
        "broker_transport_options": broker_transport_options(settings.celery_broker_url),
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "broker_connection_timeout": 4.0,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": TASK_TIME_LIMIT_S,
        "task_soft_time_limit": TASK_SOFT_TIME_LIMIT_S,
        "task_ignore_result": True,
        "result_backend": None,
        "task_store_errors_even_if_ignored": False,
        "task_default_queue": QUEUE_NAME,
        "task_default_exchange": QUEUE_NAME,
        "task_default_routing_key": QUEUE_NAME,
        "task_queues": (Queue(QUEUE_NAME, exchange, routing_key=QUEUE_NAME),),
        "task_routes": {name: {"queue": QUEUE_NAME} for name in TASK_NAMES},
        "worker_hijack_root_logger": False,
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": beat_schedule(settings),
    }


def is_sql_broker(url: str) -> bool:
    """kombu's SQLAlchemy transport (the embedded default)."""
    return url.startswith(("sqla+", "sqlalchemy+"))


def broker_transport_options(url: str) -> dict[str, Any]:
    """Per-transport options; the SQL transport hands every option to `create_engine`.

    It has no visibility timeout (a delivered row stays invisible until acked, and the worker's
    QoS restores unacked ones on shutdown), and would reject the keyword, so it gets none.
    """
    if is_sql_broker(url):
        return {}
    return {"visibility_timeout": VISIBILITY_TIMEOUT_S}


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Periodic tasks; each names its task so beat needs no import of the task code."""
    return {
        "poll-repositories": {
            "task": POLL_TASK,
            "schedule": float(settings.poll_interval_seconds),
        },
        "sweep-deliveries": {
            "task": SWEEP_TASK,
            "schedule": float(settings.sweep_interval_seconds),
        },
        "self-repair": {"task": SELF_REPAIR_TASK, "schedule": SELF_REPAIR_INTERVAL_S},
        "verify-all-nightly": {"task": VERIFY_ALL_TASK, "schedule": crontab(hour=3, minute=17)},
        "prune-changes": {"task": PRUNE_CHANGES_TASK, "schedule": PRUNE_CHANGES_INTERVAL_S},
        "discover-repositories": {
            "task": DISCOVERY_TASK,
            "schedule": float(settings.discovery_interval_seconds),
        },
        # A short grace period (tests, demos) is honoured to the second, not to the minute.
        "retire-repositories": {
            "task": RETIRE_TASK,
            "schedule": max(1.0, min(RETIRE_INTERVAL_S, settings.retire_after_seconds / 2)),
        },
    }


@setup_logging.connect
def _json_logs(loglevel: int | str | None = None, **_kwargs: Any) -> None:
    """Workers and beat log one JSON line per event, through the receiver's redacting handler."""
    from worker.observability.logs import configure_logging, settings_secrets

    configure_logging(loglevel or "INFO", secrets=settings_secrets(settings_or_exit()))


def make_celery(settings: Settings | None = None) -> Celery:
    """A configured Celery app; `settings` defaults to the process settings."""
    celery = Celery("catalog-sync", include=["worker.tasks"])
    celery.conf.update(celery_config(settings or settings_or_exit()))
    return celery


_app: Celery | None = None


def get_app() -> Celery:
    """The process's app, built on first use (so importing `worker` reads no settings)."""
    global _app
    if _app is None:
        _app = make_celery()
    return _app
