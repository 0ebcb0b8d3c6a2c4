"""What operators ask of the inbox: list and show deliveries, redeliver one, the watched hooks.

Every answer is a detached `DeliveryRecord` (or plain tuples), read in a short transaction.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, select

from models import DeliveryStatus, Repository, WebhookDelivery, transaction, utcnow
from worker.errors import BrokerUnavailableError, NotFoundError
from worker.inbox.records import DeliveryRecord
from worker.inbox.status import mark_queued
from worker.inbox.sweep import Enqueue

log = logging.getLogger(__name__)


def list_deliveries(
    engine: Engine, status: str | None = None, limit: int = 100
) -> list[DeliveryRecord]:
    """Most recent first; `status` filters (e.g. `dead` for the CLI)."""
    stmt = select(WebhookDelivery).order_by(
        WebhookDelivery.received_at.desc(), WebhookDelivery.id.desc()
    )
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    with transaction(engine) as session:
        return [DeliveryRecord.of(row) for row in session.scalars(stmt.limit(limit))]


def get_delivery(engine: Engine, delivery_id: str) -> DeliveryRecord | None:
    with transaction(engine) as session:
        row = session.scalar(
            select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id)
        )
        return DeliveryRecord.of(row) if row is not None else None


def requeue(engine: Engine, delivery_id: str) -> DeliveryRecord | None:
    """Reset a stored delivery to `pending` with a clean slate (`catalog-sync redeliver ID`).

    The caller then enqueues it and calls `mark_queued`; if that publish fails the sweeper
    picks the row up. Returns None when no such delivery exists.
    """
    now = utcnow()
    with transaction(engine) as session:
        row = session.scalar(
            select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id)
        )
        if row is None:
            return None
        row.status = DeliveryStatus.PENDING.value
        row.attempts = 0
        row.next_attempt_at = None
        row.last_error = None
        row.processed_at = None
        row.queued_at = None
        row.updated_at = now
        session.flush()
        return DeliveryRecord.of(row)


def redeliver(engine: Engine, delivery_id: str, enqueue: Enqueue | None = None) -> DeliveryRecord:
    """`catalog-sync redeliver ID`: reset the row, publish it, mark it queued.

    Raises `NotFoundError` for an unknown id. With the broker down the row stays `pending` (the
    sweeper queues it later) and the returned record says so; that is not an error.
    """
    record = requeue(engine, delivery_id)
    if record is None:
        raise NotFoundError(f"no stored delivery {delivery_id!r}", reason="no_such_delivery")
    if enqueue is None:
        from worker.inbox.publish import enqueue_for_delivery  # Celery, only when publishing

        enqueue = enqueue_for_delivery
    try:
        enqueue(record.repository_full_name or "", "redeliver", delivery_id=delivery_id)
    except BrokerUnavailableError:
        log.warning("inbox.redeliver.broker_unavailable", extra={"delivery_id": delivery_id})
        return record
    mark_queued(engine, delivery_id)
    return get_delivery(engine, delivery_id) or record


def watched_hooks(engine: Engine) -> list[tuple[str, int]]:
    """(full_name, hook_id) of every repository a delivery told us its hook id for."""
    with transaction(engine) as session:
        rows = session.execute(
            select(Repository.full_name, Repository.hook_id)
            .where(Repository.hook_id.is_not(None))
            .order_by(Repository.full_name)
        ).all()
        return [(str(name), int(hook)) for name, hook in rows if hook is not None]
