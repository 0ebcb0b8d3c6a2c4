"""The durable webhook inbox: every state change of `webhook_deliveries`, and nothing else.

A delivery is committed before the receiver answers 2xx, so an accepted push survives a broker
outage or a crash; the sweeper turns `pending` rows into queue messages later. No Flask here.

Life of a row: pending → queued → processing → done | failed | dead (see `DeliveryStatus`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, cast

from sqlalchemy import Connection, Engine, Table, and_, func, or_, select, update
from sqlalchemy.orm import Session

from models import DeliveryStatus, Repository, WebhookDelivery, transaction, utcnow
from models.db import insert_for, insert_ignoring_conflicts, retry_on_dead_connection
from worker.errors import BrokerUnavailableError, NotFoundError
from worker.tasknames import TASK_TIME_LIMIT_S

log = logging.getLogger(__name__)

S = DeliveryStatus
#: Statuses a successful reconcile may close: the synced tree covers what they asked for.
OPEN_STATUSES = (S.PENDING.value, S.QUEUED.value, S.PROCESSING.value, S.FAILED.value)
#: A `queued`/`processing` row untouched this long lost its message (e.g. a broker restarted
#: without persistence) and is queued again. Twice the hard task time limit: no task can still
#: be running it. A duplicate message is harmless: reconciles are idempotent and serialised.
STALE_AFTER_S = 2.0 * TASK_TIME_LIMIT_S
MAX_BACKOFF_S = 3600.0
INT64_MAX = 2**63 - 1
ERROR_MAX_CHARS = 2000


class Enqueue(Protocol):
    """What the sweeper calls per row; `worker.inbox.publish.Publisher.enqueue_reconcile` fits."""

    def __call__(self, full_name: str, trigger: str, *, delivery_id: str | None = ...) -> None: ...


@dataclass(frozen=True)
class DeliveryIn:
    """A verified, watched push, as the receiver stores it."""

    delivery_id: str
    event: str
    repository_full_name: str
    ref: str | None = None
    before_sha: str | None = None
    after_sha: str | None = None
    forced: bool = False
    hook_id: int | None = None
    branch: str | None = None  # the watched branch, used only when creating the repository row


@dataclass(frozen=True)
class StoreResult:
    status: Literal["stored", "duplicate"]
    delivery_id: str
    #: The reconcile was published in the same transaction (status `queued`, not `pending`).
    queued: bool = False

    @property
    def stored(self) -> bool:
        return self.status == "stored"


@dataclass(frozen=True)
class DeliveryRecord:
    """A stored delivery, detached from any session (for the CLI and the sweeper)."""

    delivery_id: str
    event: str
    status: str
    repository_full_name: str | None
    ref: str | None
    before_sha: str | None
    after_sha: str | None
    forced: bool
    hook_id: int | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    received_at: datetime
    queued_at: datetime | None
    processed_at: datetime | None

    @classmethod
    def of(cls, row: WebhookDelivery) -> DeliveryRecord:
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (timestamps as ISO 8601; `repository` is the short name for the CLI)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        out["repository"] = self.repository_full_name
        return out


def delivery_as_json(record: DeliveryRecord) -> dict[str, Any]:
    """`record` as a JSON-ready dict (the CLI's `deliveries --json`)."""
    return record.as_dict()


@dataclass
class SweepResult:
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


def valid_hook_id(value: object) -> int | None:
    """`X-GitHub-Hook-ID` as an int the column can hold, or None."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= INT64_MAX else None


def ensure_repository(session: Session, full_name: str, branch: str | None = None) -> int:
    """The id of the repositories row for `full_name`, created if missing (a watched repo)."""
    insert_ignoring_conflicts(session, Repository, [{"full_name": full_name, "branch": branch}])
    repo_id = session.scalar(select(Repository.id).where(Repository.full_name == full_name))
    assert repo_id is not None
    return int(repo_id)


def store_delivery(
    engine: Engine, delivery: DeliveryIn, publish: Callable[[], None] | None = None
) -> StoreResult:
    """Insert the delivery once (ON CONFLICT (delivery_id) DO NOTHING); committed on return.

    With `publish`, a new delivery's reconcile is published inside the same transaction and the
    row committed as `queued`: one transaction per delivery instead of two. A publish that
    fails (`BrokerUnavailableError`) leaves it `pending` for the sweeper. A crash between the
    publish and the commit sends GitHub no 2xx, so nothing acknowledged is ever lost; the
    message without a row costs one harmless reconcile.
    """
    now = utcnow()
    try:
        # Safe to repeat: the insert is keyed by the delivery id, and a second publish is a
        # harmless duplicate reconcile.
        return retry_on_dead_connection(lambda: _store(engine, delivery, publish, now))
    except Exception:
        _REPO_IDS.clear()  # e.g. a repository row deleted by hand: look it up again next time
        raise


def _store(
    engine: Engine, delivery: DeliveryIn, publish: Callable[[], None] | None, now: datetime
) -> StoreResult:
    # Core, not the ORM, and statements built once: this runs for every push GitHub sends, and
    # the ORM's unit of work and a statement rebuilt per call cost more than the round trips.
    with engine.begin() as conn:
        repo_id, known_hook_id = _repository_ids(engine, conn, delivery)
        row = {
            "delivery_id": delivery.delivery_id,
            "event": delivery.event,
            "repository_full_name": delivery.repository_full_name,
            "repository_id": repo_id,
            "ref": delivery.ref,
            "before_sha": delivery.before_sha,
            "after_sha": delivery.after_sha,
            "forced": delivery.forced,
            "hook_id": delivery.hook_id,
            # Optimistic: nobody sees the row before the commit, and the publish below
            # almost always works; when it doesn't, the row is set back to pending.
            "status": S.QUEUED.value if publish is not None else S.PENDING.value,
            "queued_at": now if publish is not None else None,
            "attempts": 0,
            "received_at": now,
            "updated_at": now,
        }
        inserted = conn.execute(_insert_delivery(conn.dialect.name), row).first()
        if inserted is None:
            return StoreResult("duplicate", delivery.delivery_id)
        if delivery.hook_id not in (None, known_hook_id):
            # Only when it changed, so the hot path never waits on another row lock.
            conn.execute(
                update(Repository).where(Repository.id == repo_id).values(hook_id=delivery.hook_id)
            )
            _REPO_IDS.pop((str(engine.url), delivery.repository_full_name), None)
        queued = publish is not None and _publish(publish, delivery)
        if publish is not None and not queued:
            conn.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == inserted[0])
                .values(status=S.PENDING.value, queued_at=None)
            )
    return StoreResult("stored", delivery.delivery_id, queued=queued)


@functools.cache
def _insert_delivery(dialect_name: str) -> Any:
    """INSERT ... ON CONFLICT (delivery_id) DO NOTHING RETURNING id, built once per dialect.

    No `.values()`: the columns come from the parameters it is executed with.
    """
    table = cast(Table, WebhookDelivery.__table__)
    return (
        insert_for(dialect_name)(table)
        .on_conflict_do_nothing(index_elements=["delivery_id"])
        .returning(table.c.id)
    )


#: (database, full_name) -> (repository id, hook id), so the hot path skips a query.
_REPO_IDS: dict[tuple[str, str], tuple[int, int | None]] = {}


def _repository_ids(
    engine: Engine, conn: Connection, delivery: DeliveryIn
) -> tuple[int, int | None]:
    key = (str(engine.url), delivery.repository_full_name)
    cached = _REPO_IDS.get(key)
    if cached is not None:
        return cached
    repo = conn.execute(
        select(Repository.id, Repository.hook_id).where(
            Repository.full_name == delivery.repository_full_name
        )
    ).first()
    if repo is None:
        with Session(bind=conn) as session:  # joins the connection's transaction
            repo_id = ensure_repository(session, delivery.repository_full_name, delivery.branch)
        return repo_id, None  # not cached until committed
    found = (int(repo.id), repo.hook_id)
    _REPO_IDS[key] = found
    return found


def _publish(publish: Callable[[], None], delivery: DeliveryIn) -> bool:
    try:
        publish()
    except BrokerUnavailableError:
        log.warning(
            "webhook.broker_unavailable",
            extra={
                "delivery_id": delivery.delivery_id,
                "repository": delivery.repository_full_name,
            },
        )
        return False
    return True


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
            or_(
                WebhookDelivery.received_at < started_before,
                WebhookDelivery.after_sha == synced_sha,
            ),
        )
        .values(status=S.DONE.value, processed_at=now, updated_at=now, last_error=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


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


def backoff_seconds(attempts: int, base_backoff_s: float) -> float:
    """Exponential: base, 2 x base, 4 x base, ... capped at an hour."""
    return float(min(MAX_BACKOFF_S, base_backoff_s * 2 ** max(0, attempts - 1)))


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
        groups: dict[str, list[WebhookDelivery]] = {}
        for row in rows:
            groups.setdefault(row.repository_full_name or "", []).append(row)
        done = 0
        for full_name, group in groups.items():
            newest = group[-1]
            try:
                enqueue(full_name, "webhook", delivery_id=newest.delivery_id)
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
            result.messages += 1
            for row in group:
                row.status = S.QUEUED.value
                row.queued_at = now
                row.updated_at = now
                row.next_attempt_at = None
                row.last_error = None
                result.queued += 1
                result.delivery_ids.append(row.delivery_id)
    return result


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
        row.status = S.PENDING.value
        row.attempts = 0
        row.next_attempt_at = None
        row.last_error = None
        row.processed_at = None
        row.queued_at = None
        row.updated_at = now
        session.flush()
        return DeliveryRecord.of(row)


def redeliver(engine: Engine, delivery_id: str, enqueue: Enqueue) -> DeliveryRecord:
    """`catalog-sync redeliver ID`: reset the row, publish it, mark it queued.

    Raises `NotFoundError` for an unknown id. With the broker down the row stays `pending` (the
    sweeper queues it later) and the returned record says so; that is not an error.
    """
    record = requeue(engine, delivery_id)
    if record is None:
        raise NotFoundError(f"no stored delivery {delivery_id!r}", reason="no_such_delivery")
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
