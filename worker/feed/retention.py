"""Retention of the change feed: rows older than `CHANGES_RETENTION_DAYS` are pruned.

Deleted in small batches, each its own transaction, so pruning a large backlog never holds a
long lock or a huge transaction. The oldest go first, so the feed's start moves forward; a
reader whose cursor falls behind it re-reads the table.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select

from models import CatalogItemChange, transaction, utcnow

log = logging.getLogger(__name__)

#: Rows deleted per transaction.
PRUNE_BATCH = 5000


def retention_cutoff(days: float, now: datetime | None = None) -> datetime:
    """Changes recorded before this time are pruned."""
    return (now or utcnow()) - timedelta(days=days)


def prune_changes(engine: Engine, before: datetime, *, batch: int = PRUNE_BATCH) -> int:
    """Delete changes recorded before `before`, oldest first; how many were deleted."""
    total = 0
    while True:
        oldest = (
            select(CatalogItemChange.id)
            .where(CatalogItemChange.created_at < before)
            .order_by(CatalogItemChange.id)
            .limit(batch)
        )
        with transaction(engine) as session:
            ids = list(session.execute(oldest).scalars())
            if ids:
                session.execute(
                    delete(CatalogItemChange)
                    .where(CatalogItemChange.id.in_(ids))
                    .execution_options(synchronize_session=False)
                )
        total += len(ids)
        if len(ids) < batch:
            break
    if total:
        log.info("changes_pruned", extra={"deleted": total, "before": before.isoformat()})
    return total
