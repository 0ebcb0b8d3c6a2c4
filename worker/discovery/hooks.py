"""What a reconcile task tells the lifecycle, and asks of it, around each run.

Before: a repository the lifecycle took out is not reconciled (a message queued before it left
must not bring its items back). After: a 404 for the repository itself marks it gone
(`unwatched` now, retired after the grace period); a success brings a gone one back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine

from worker.discovery.lifecycle import mark_alive, mark_gone
from worker.discovery.run import repository_gone
from worker.discovery.watching import may_reconcile
from worker.errors import CatalogSyncError, NotFoundError
from worker.github.client import GitHubClient
from worker.sync.run import Result

log = logging.getLogger(__name__)

__all__ = ["after_reconcile", "may_reconcile"]


def after_reconcile(
    engine: Engine, full_name: str, result: Result, client: Callable[[], GitHubClient]
) -> None:
    """Record what the run learnt about the repository's existence."""
    if result.ok:
        if mark_alive(engine, full_name):
            log.info("lifecycle.found_again", extra={"repository": full_name})
        return
    if not isinstance(result.exception, NotFoundError):
        return
    try:
        gone = repository_gone(client(), full_name)
    except CatalogSyncError as exc:  # cannot tell now; the next failure asks again
        log.warning("lifecycle.check_failed", extra={"repository": full_name, "error": str(exc)})
        return
    if gone and mark_gone(engine, full_name):
        log.info("lifecycle.gone", extra={"repository": full_name})
