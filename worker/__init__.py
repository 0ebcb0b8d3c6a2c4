"""The Celery app, its tasks and the sync engine (`celery -A worker worker|beat`).

The app is built lazily, on first access to `worker.app`: importing the pure engine
(`worker.sync.plan`, `worker.sync.parse`) loads no Celery and reads no settings, so a
malformed setting cannot break `--help` or a unit test. The receiver publishes tasks by name
and never imports `worker.tasks`; the worker imports it itself (the app's `include`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Celery

    app: Celery

__all__ = ["app"]


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        from worker.celery_app import get_app

        return get_app()
    raise AttributeError(f"module 'worker' has no attribute {name!r}")
