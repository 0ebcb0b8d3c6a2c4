"""The Celery app, its tasks and the sync engine (`celery -A worker worker|beat`).

Only the app is imported here: the receiver publishes tasks by name and must not load the
sync engine; the worker imports `worker.tasks` itself (the app's `include`).
"""

from worker.celery_app import app

__all__ = ["app"]
