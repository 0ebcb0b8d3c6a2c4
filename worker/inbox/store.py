"""The receiver's store path: a verified push becomes a `webhook_deliveries` row, once.

A delivery is committed before the receiver answers 2xx, so an accepted push survives a broker
outage or a crash; the reconcile is published inside the same transaction when the broker
answers, and the sweeper (`worker.inbox.sweep`) publishes it later when not. No Flask here.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Connection, Engine, Table, select, update
from sqlalchemy.orm import Session

from models import DeliveryStatus, Repository, WebhookDelivery, utcnow
from models.db import insert_for, retry_on_dead_connection
from worker.errors import BrokerUnavailableError
from worker.repositories import ensure_repository

log = logging.getLogger(__name__)

S = DeliveryStatus
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class DeliveryIn:
    """A verified delivery to act on: a watched push, or an App installation change (no repo)."""

    delivery_id: str
    event: str
    repository_full_name: str | None
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


def valid_hook_id(value: object) -> int | None:
    """`X-GitHub-Hook-ID` as an int the column can hold, or None."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= INT64_MAX else None


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
        repo_id, known_hook_id = (
            _repository_ids(engine, conn, delivery)
            if delivery.repository_full_name
            else (None, None)
        )
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
        if repo_id is not None and delivery.hook_id not in (None, known_hook_id):
            # Only when it changed, so the hot path never waits on another row lock.
            conn.execute(
                update(Repository).where(Repository.id == repo_id).values(hook_id=delivery.hook_id)
            )
            _REPO_IDS.pop((_database(engine), delivery.repository_full_name or ""), None)
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
#: engine -> its URL as text: rendering (or hashing) a URL per push costs more than the lookup.
_DATABASES: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def _database(engine: Engine) -> str:
    """The database an engine points at, as `_REPO_IDS` keys it (engines for one URL share)."""
    name = _DATABASES.get(engine)
    if name is None:
        name = _DATABASES[engine] = str(engine.url)
    return name


def _repository_ids(
    engine: Engine, conn: Connection, delivery: DeliveryIn
) -> tuple[int, int | None]:
    assert delivery.repository_full_name is not None
    key = (_database(engine), delivery.repository_full_name)
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
