"""Status changes of one stored delivery, as the worker and the CLI make them.

Life of a row: pending → queued → processing → done | failed | dead (see `DeliveryStatus`).
Each change names the statuses it may leave, so a late or repeated call never moves a row back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, or_, update
from sqlalchemy.orm import Session

from models import DeliveryStatus, WebhookDelivery, transaction, utcnow

S = DeliveryStatus
#: Statuses a successful reconcile may close: the synced tree covers what they asked for.
OPEN_STATUSES = (S.PENDING.value, S.QUEUED.value, S.PROCESSING.value, S.FAILED.value)
#: `last_error` keeps this many characters (a traceback-sized message is cut).
ERROR_MAX_CHARS = 2000


def _set_status(
    engine: Engine, delivery_id: str, from_statuses: Sequence[str], **values: Any
) -> bool:
    with transaction(engine) as session:
        result = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.delivery_id == delivery_id,
                WebhookDelivery.status.in_(from_statuses),
            )
            .values(updated_at=utcnow(), **values)
        )
        return bool(getattr(result, "rowcount", 0))


def mark_queued(engine: Engine, delivery_id: str) -> bool:
    """pending → queued. Never regresses a row the worker already picked up (it may be faster)."""
    return _set_status(
        engine, delivery_id, [S.PENDING.value], status=S.QUEUED.value, queued_at=utcnow()
    )


def mark_processing(engine: Engine, delivery_id: str) -> bool:
    """pending/queued/failed → processing, when a worker starts the reconcile it asked for."""
    return _set_status(
        engine,
        delivery_id,
        [S.PENDING.value, S.QUEUED.value, S.FAILED.value],
        status=S.PROCESSING.value,
    )


def mark_done_through(
    session: Session, repository_full_name: str, synced_sha: str, started_before: datetime
) -> int:
    """Close every open delivery of the repository the reconcile covered; returns the count.

    Called inside the reconcile's transaction: a delivery received before the reconcile started
    (its push is in the head the reconcile read, or older), or one whose `after` is the synced
    SHA, is done. So a burst of pushes costs one reconcile. `failed` rows are closed too: the
    synced tree supersedes them.
    """
    now = utcnow()
    result = session.execute(
        update(WebhookDelivery)
        .where(
            func.lower(WebhookDelivery.repository_full_name) == repository_full_name.lower(),
            WebhookDelivery.status.in_(OPEN_STATUSES),
            WebhookDelivery.event != "pull_request",  # a sync does not validate pull requests
            or_(
                WebhookDelivery.received_at < started_before,
                WebhookDelivery.after_sha == synced_sha,
            ),
        )
        .values(status=S.DONE.value, processed_at=now, updated_at=now, last_error=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def mark_done(engine: Engine, delivery_id: str) -> bool:
    """The work one delivery asked for is done (a pull request's validation, a discovery)."""
    now = utcnow()
    return _set_status(
        engine, delivery_id, OPEN_STATUSES, status=S.DONE.value, processed_at=now, last_error=None
    )


def mark_failed(engine: Engine, delivery_id: str, error: str, *, dead: bool) -> bool:
    """A reconcile for this delivery failed (`dead`: retrying will not help)."""
    return _set_status(
        engine,
        delivery_id,
        [S.PENDING.value, S.QUEUED.value, S.PROCESSING.value, S.FAILED.value],
        status=(S.DEAD if dead else S.FAILED).value,
        last_error=error[:ERROR_MAX_CHARS],
        processed_at=utcnow(),
    )
