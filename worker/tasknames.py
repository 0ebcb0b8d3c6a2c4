"""Queue, task names and time limits: plain constants, importable without Celery.

The receiver, the inbox and beat refer to tasks by these names, so none of them needs to import
the task code (or Celery) to publish or schedule one.
"""

__all__ = [
    "DISCOVERY_TASK",
    "POLL_TASK",
    "PRUNE_CHANGES_INTERVAL_S",
    "PRUNE_CHANGES_TASK",
    "PULL_REQUEST_TASK",
    "QUEUE_NAME",
    "RECONCILE_TASK",
    "RETIRE_INTERVAL_S",
    "RETIRE_TASK",
    "SELF_REPAIR_INTERVAL_S",
    "SELF_REPAIR_TASK",
    "SWEEP_TASK",
    "TASK_NAMES",
    "TASK_SOFT_TIME_LIMIT_S",
    "TASK_TIME_LIMIT_S",
    "VERIFY_ALL_TASK",
    "VISIBILITY_TIMEOUT_S",
]

QUEUE_NAME = "catalog-sync"
VISIBILITY_TIMEOUT_S = 3600
TASK_TIME_LIMIT_S = 900
TASK_SOFT_TIME_LIMIT_S = 840
SELF_REPAIR_INTERVAL_S = 600.0
PRUNE_CHANGES_INTERVAL_S = 3600.0

RECONCILE_TASK = "worker.tasks.reconcile_repository_task"
POLL_TASK = "worker.tasks.poll_repositories_task"
SWEEP_TASK = "worker.tasks.sweep_deliveries_task"
SELF_REPAIR_TASK = "worker.tasks.self_repair_task"
VERIFY_ALL_TASK = "worker.tasks.verify_all_task"
PRUNE_CHANGES_TASK = "worker.tasks.prune_changes_task"
PULL_REQUEST_TASK = "worker.tasks.validate_pull_request_task"
DISCOVERY_TASK = "worker.tasks.discover_repositories_task"
RETIRE_TASK = "worker.tasks.retire_repositories_task"
RETIRE_INTERVAL_S = 60.0
TASK_NAMES = (
    RECONCILE_TASK,
    POLL_TASK,
    SWEEP_TASK,
    SELF_REPAIR_TASK,
    VERIFY_ALL_TASK,
    PRUNE_CHANGES_TASK,
    PULL_REQUEST_TASK,
    DISCOVERY_TASK,
    RETIRE_TASK,
)
