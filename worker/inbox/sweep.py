"""The sweeper: turns `pending` rows (and lost `queued`/`processing` ones) into queue messages.

The receiver publishes most deliveries itself; this catches those it could not (broker down)
and those whose message was lost. Retries back off exponentially, and a row is `dead` after the
cap. Concurrent sweepers take disjoint rows (FOR UPDATE SKIP LOCKED on PostgreSQL).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine, and_, or_, select
from sqlalchemy.orm import Session

from models import DeliveryStatus, WebhookDelivery, transaction, utcnow
from worker.errors import BrokerUnavailableError
from worker.inbox.status import ERROR_MAX_CHARS
from worker.tasknames import TASK_TIME_LIMIT_S

log = logging.getLogger(__name__)

S = DeliveryStatus
#: A `queued`/`processing` row untouched this long lost its message (e.g. a broker restarted
#: without persistence) and is queued again. Twice the hard task time limit: no task can still
#: be running it. A duplicate message is harmless: reconciles are idempotent and serialised.
STALE_AFTER_S = 2.0 * TASK_TIME_LIMIT_S
MAX_BACKOFF_S = 3600.0


class Enqueue(Protocol):
    """What the sweeper calls per repository; `Publisher.enqueue_reconcile` fits."""

    def __call__(self, full_name: str, trigger: str, *, delivery_id: str | None = ...) -> None: ...


@dataclass
class SweepResult:
    """What one sweep did (the sweep task returns these counts)."""

    claimed: int = 0
    queued: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    stale: int = 0
    #: Messages sent: one per repository, however many of its deliveries were waiting.
    messages: int = 0
    delivery_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Counts only (a task's JSON-serialisable return value)."""
        return {k: v for k, v in asdict(self).items() if k != "delivery_ids"}


def backoff_seconds(attempts: int, base_backoff_s: float) -> float:
    """Exponential: base, 2 x base, 4 x base, ... capped at an hour."""
    return float(min(MAX_BACKOFF_S, base_backoff_s * 2 ** max(0, attempts - 1)))


def sweep_pending(
    engine: Engine,
    enqueue: Enqueue,
    now: datetime | None = None,
    *,
    max_attempts: int,
    base_backoff_s: float = 30.0,
    limit: int = 500,
    min_age_s: float = 5.0,
    stale_after_s: float = STALE_AFTER_S,
) -> SweepResult:
    """Queue due `pending` rows (and stale `queued`/`processing` ones); one batch per call.

    A reconcile is level-triggered, so the deliveries waiting for one repository need one
    message between them (for the newest; the run marks every delivery it covers `done`):
    after a broker outage, a burst of pushes costs one reconcile, not one each.
    Rows are claimed with FOR UPDATE SKIP LOCKED on PostgreSQL, so concurrent sweepers take
    disjoint rows (on SQLite, one writer at a time; a rare duplicate message is harmless). The
    first `BrokerUnavailableError` costs that repository's rows one attempt (backoff, then
    `dead` past `max_attempts`) and ends the batch: the broker is down, the others keep their
    place.
    """
    now = now or utcnow()
    result = SweepResult()
    with transaction(engine) as session:
        rows = _claim(session, now, limit, min_age_s, stale_after_s)
        result.claimed = len(rows)
        result.stale = sum(row.status != S.PENDING.value for row in rows)
        groups: dict[tuple[str, str | None], list[WebhookDelivery]] = {}
        for row in rows:
            # A pull request's delivery asks for its own validation, not the repository's sync.
            pull = row.ref if row.event == "pull_request" else None
            groups.setdefault((row.repository_full_name or "", pull), []).append(row)
        done = 0
        for (full_name, _pull), group in groups.items():
            try:
                enqueue(full_name, "webhook", delivery_id=group[-1].delivery_id)
            except BrokerUnavailableError as exc:
                for row in group:
                    _count_failed_attempt(row, str(exc), now, max_attempts, base_backoff_s, result)
                result.skipped = len(rows) - done - len(group)
                log.warning(
                    "inbox.sweep.broker_unavailable",
                    extra={"repository": full_name, "deliveries": len(group)},
                )
                break
            done += len(group)
            _mark_queued(group, now, result)
    return result


def _claim(
    session: Session, now: datetime, limit: int, min_age_s: float, stale_after_s: float
) -> list[WebhookDelivery]:
    due_pending = and_(
        WebhookDelivery.status == S.PENDING.value,
        or_(
            WebhookDelivery.next_attempt_at.is_(None),
            WebhookDelivery.next_attempt_at <= now,
        ),
        # The receiver publishes fresh rows itself; leave them a moment to avoid a duplicate.
        or_(
            WebhookDelivery.received_at <= now - timedelta(seconds=min_age_s),
            WebhookDelivery.next_attempt_at.is_not(None),
        ),
    )
    stale = and_(
        WebhookDelivery.status.in_([S.QUEUED.value, S.PROCESSING.value]),
        WebhookDelivery.updated_at <= now - timedelta(seconds=stale_after_s),
    )
    stmt = (
        select(WebhookDelivery)
        .where(or_(due_pending, stale))
        .order_by(WebhookDelivery.received_at, WebhookDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def _mark_queued(group: list[WebhookDelivery], now: datetime, result: SweepResult) -> None:
    """One message went out for the repository: every row it covers is `queued`."""
    result.messages += 1
    for row in group:
        row.status = S.QUEUED.value
        row.queued_at = now
        row.updated_at = now
        row.next_attempt_at = None
        row.last_error = None
        result.queued += 1
        result.delivery_ids.append(row.delivery_id)


def _count_failed_attempt(
    row: WebhookDelivery,
    error: str,
    now: datetime,
    max_attempts: int,
    base_backoff_s: float,
    result: SweepResult,
) -> None:
    """One more failed attempt: back off, or `dead` past the cap."""
    row.attempts += 1
    row.last_error = error[:ERROR_MAX_CHARS]
    row.updated_at = now
    if row.attempts >= max_attempts:
        row.status = S.DEAD.value
        row.next_attempt_at = None
        result.dead += 1
    else:
        row.status = S.PENDING.value
        row.next_attempt_at = now + timedelta(seconds=backoff_seconds(row.attempts, base_backoff_s))
        result.retried += 1
