"""The durable inbox: store once, sweep with backoff, dead after the cap, disjoint claims."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from models import Repository, WebhookDelivery, transaction, utcnow
from settings import Settings
from tests.servers import free_port
from worker.celery_app import make_celery
from worker.errors import BrokerUnavailableError, NotFoundError
from worker.inbox.publish import Publisher
from worker.inbox.queries import list_deliveries, redeliver, watched_hooks
from worker.inbox.records import delivery_as_json
from worker.inbox.status import (
    ERROR_MAX_CHARS,
    mark_done_through,
    mark_failed,
    mark_processing,
    mark_queued,
)
from worker.inbox.store import DeliveryIn, store_delivery, valid_hook_id
from worker.inbox.sweep import STALE_AFTER_S, sweep_pending
from worker.repositories import ensure_repository

REPO = "octo/catalog"


def _delivery(n: int, repo: str = REPO, after: str | None = None) -> DeliveryIn:
    return DeliveryIn(
        delivery_id=f"d-{n}",
        event="push",
        repository_full_name=repo,
        ref="refs/heads/main",
        before_sha="a" * 40,
        after_sha=after or f"{n:040x}",
        hook_id=42,
    )


class Recorder:
    """An enqueue callable that records what it was asked to queue."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None]] = []

    def __call__(self, full_name: str, trigger: str, *, delivery_id: str | None = None) -> None:
        self.calls.append((full_name, trigger, delivery_id))


def _status(engine: Engine) -> dict[str, tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(WebhookDelivery.delivery_id, WebhookDelivery.status, WebhookDelivery.attempts)
        )
        return {d: (s, a) for d, s, a in rows}


def _later(seconds: float = 60) -> object:
    return utcnow() + timedelta(seconds=seconds)


def test_store_is_idempotent_and_records_the_hook(engine: Engine) -> None:
    assert store_delivery(engine, _delivery(1)).status == "stored"
    assert store_delivery(engine, _delivery(1)).status == "duplicate"
    assert store_delivery(engine, _delivery(2, repo="octo/other")).stored
    assert _status(engine) == {"d-1": ("pending", 0), "d-2": ("pending", 0)}
    assert watched_hooks(engine) == [("octo/catalog", 42), ("octo/other", 42)]
    with engine.connect() as conn:
        assert conn.scalar(select(Repository.hook_id).where(Repository.full_name == REPO)) == 42


def test_ensure_repository_creates_the_row_once_and_records_the_branch(engine: Engine) -> None:
    with transaction(engine) as session:
        first = ensure_repository(session, REPO, "main")
    with transaction(engine) as session:
        assert ensure_repository(session, REPO) == first  # no branch given: left as it is
        assert ensure_repository(session, REPO, "release") == first
    with engine.connect() as conn:
        rows = conn.execute(select(Repository.full_name, Repository.branch)).all()
    assert [tuple(r) for r in rows] == [(REPO, "release")]


def test_hook_ids_out_of_range_are_dropped() -> None:
    assert valid_hook_id("109948940") == 109948940
    assert valid_hook_id(str(2**31)) == 2**31  # hook ids are 64-bit (BigInteger)
    for bad in (None, "", "abc", "-1", "0", str(2**63), "1e9"):
        assert valid_hook_id(bad) is None


def test_sweep_queues_due_rows_and_leaves_fresh_ones_to_the_receiver(engine: Engine) -> None:
    for n in range(3):
        store_delivery(engine, _delivery(n))
    recorder = Recorder()
    fresh = sweep_pending(engine, recorder, utcnow(), max_attempts=3)
    assert (fresh.claimed, recorder.calls) == (0, [])
    result = sweep_pending(engine, recorder, _later(), max_attempts=3)
    assert (result.claimed, result.queued, result.messages) == (3, 3, 1)
    # One reconcile covers every waiting delivery of the repository: one message, the newest.
    assert recorder.calls == [(REPO, "webhook", "d-2")]
    assert set(_status(engine).values()) == {("queued", 0)}
    assert sweep_pending(engine, recorder, _later(), max_attempts=3).claimed == 0
    assert result.as_dict()["queued"] == 3


def test_broker_down_backs_off_then_dead(engine: Engine) -> None:
    store_delivery(engine, _delivery(1))
    down = Publisher(make_celery(Settings(celery_broker_url=f"redis://127.0.0.1:{free_port()}")))
    now = utcnow() + timedelta(seconds=10)
    delays = []
    for attempt in range(1, 4):
        result = sweep_pending(
            engine, down.enqueue_reconcile, now, max_attempts=3, base_backoff_s=10
        )
        assert result.claimed == 1
        with engine.connect() as conn:
            row = conn.execute(select(WebhookDelivery)).one()
        assert row.attempts == attempt
        assert "broker unavailable" in (row.last_error or "")
        if attempt < 3:
            assert row.status == "pending"
            assert row.next_attempt_at is not None
            delays.append((row.next_attempt_at - now).total_seconds())
            # Not due before its backoff ends.
            early = sweep_pending(engine, down.enqueue_reconcile, now, max_attempts=3)
            assert early.claimed == 0
            now = row.next_attempt_at
        else:
            assert (row.status, result.dead) == ("dead", 1)
    assert delays == [10.0, 20.0]
    assert [d.delivery_id for d in list_deliveries(engine, status="dead")] == ["d-1"]
    assert sweep_pending(engine, Recorder(), _later(9999), max_attempts=3).claimed == 0


def test_first_broker_failure_ends_the_batch(engine: Engine) -> None:
    for n in range(5):
        store_delivery(engine, _delivery(n, repo=REPO if n < 3 else "octo/other"))

    def failing(full_name: str, trigger: str, *, delivery_id: str | None = None) -> None:
        raise BrokerUnavailableError("broker unavailable: test")

    result = sweep_pending(engine, failing, _later(), max_attempts=5)
    assert (result.claimed, result.retried, result.skipped) == (5, 3, 2)
    attempts = sorted(a for _, a in _status(engine).values())
    assert attempts == [0, 0, 1, 1, 1]


def test_stale_queued_and_processing_rows_are_requeued(engine: Engine) -> None:
    for n in range(3):
        store_delivery(engine, _delivery(n))
    mark_queued(engine, "d-0")
    mark_queued(engine, "d-1")
    mark_processing(engine, "d-1")
    mark_queued(engine, "d-2")
    recorder = Recorder()
    assert sweep_pending(engine, recorder, _later(), max_attempts=3).claimed == 0
    result = sweep_pending(engine, recorder, _later(STALE_AFTER_S + 1), max_attempts=3)
    assert (result.claimed, result.stale, result.queued) == (3, 3, 3)


def test_status_transitions(engine: Engine) -> None:
    for n in range(4):
        store_delivery(engine, _delivery(n))
    assert mark_processing(engine, "d-0")  # the worker can beat the receiver's mark
    assert not mark_queued(engine, "d-0")  # ... which then must not regress it
    assert mark_failed(engine, "d-1", "boom " * 1000, dead=False)
    assert mark_failed(engine, "d-2", "bad credentials", dead=True)
    status = _status(engine)
    assert status["d-0"][0] == "processing"
    assert status["d-1"][0] == "failed"
    assert status["d-2"][0] == "dead"
    assert not mark_queued(engine, "nope")
    failed = list_deliveries(engine, status="failed")[0]
    assert failed.last_error is not None and len(failed.last_error) == ERROR_MAX_CHARS
    doc = delivery_as_json(failed)
    assert doc["repository"] == REPO and isinstance(doc["received_at"], str)


def test_mark_done_through_closes_what_the_reconcile_covered(engine: Engine) -> None:
    synced = "f" * 40
    for n in range(3):
        store_delivery(engine, _delivery(n))
    started = utcnow()
    store_delivery(engine, _delivery(10, after=synced))  # arrived during the run
    store_delivery(engine, _delivery(11))  # a newer push: not covered
    store_delivery(engine, _delivery(12, repo="octo/other"))
    mark_failed(engine, "d-1", "transient", dead=False)
    with transaction(engine) as session:
        assert mark_done_through(session, "OCTO/Catalog", synced, started) == 4
    status = {k: v[0] for k, v in _status(engine).items()}
    assert status == {
        "d-0": "done",
        "d-1": "done",
        "d-2": "done",
        "d-10": "done",
        "d-11": "pending",
        "d-12": "pending",
    }


def test_redeliver_resets_and_queues(engine: Engine) -> None:
    store_delivery(engine, _delivery(1))
    mark_failed(engine, "d-1", "x", dead=True)
    with engine.begin() as conn:
        conn.execute(update(WebhookDelivery).values(attempts=7))
    recorder = Recorder()
    record = redeliver(engine, "d-1", recorder)
    assert recorder.calls == [(REPO, "redeliver", "d-1")]
    assert (record.status, record.attempts, record.last_error) == ("queued", 0, None)
    with pytest.raises(NotFoundError):
        redeliver(engine, "missing", recorder)

    def failing(full_name: str, trigger: str, *, delivery_id: str | None = None) -> None:
        raise BrokerUnavailableError("down")

    assert redeliver(engine, "d-1", failing).status == "pending"


def test_concurrent_sweepers_claim_disjoint_rows(pg_engine: Engine) -> None:
    """FOR UPDATE SKIP LOCKED: while one sweeper holds its batch, the other takes the rest."""
    for n in range(10):
        store_delivery(pg_engine, _delivery(n, repo=f"octo/r{n}"))
    barrier = threading.Barrier(2, timeout=20)
    claimed: dict[str, list[str]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def sweeper(name: str) -> None:
        def enqueue(full_name: str, trigger: str, *, delivery_id: str | None = None) -> None:
            if not claimed[name]:
                barrier.wait()  # both hold their locked batch here
            claimed[name].append(str(delivery_id))

        try:
            sweep_pending(pg_engine, enqueue, _later(), max_attempts=3, limit=5)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sweeper, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(claimed["a"]) == len(claimed["b"]) == 5
    assert set(claimed["a"]).isdisjoint(claimed["b"])
    assert set(claimed["a"]) | set(claimed["b"]) == {f"d-{n}" for n in range(10)}
    assert set(_status(pg_engine).values()) == {("queued", 0)}


def _kill_the_pooled_connection(engine: Engine) -> None:
    """What a PostgreSQL restart does to a pooled connection: its backend is gone."""
    with engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    killer = engine.pool.recreate()  # a separate pool: its connection is not the victim
    raw = killer.connect()
    try:
        cur = raw.cursor()
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert cur.fetchone()[0] is True
    finally:
        raw.close()
        killer.dispose()


def test_a_pooled_connection_killed_by_a_restart_costs_no_delivery(pg_url: str) -> None:
    """The receiver's engine skips the per-request pre-ping; a dead connection is retried once.

    Nor do `/health` and `/metrics` report a healthy database as down on their next call.
    """
    from webhook import receiver_engine
    from webhook.views import database_ok
    from worker.observability.metrics import DatabaseCollector

    def db_up() -> float:
        found = [m for m in DatabaseCollector(engine).collect() if m.name.endswith("db_up")]
        return float(found[0].samples[0].value)

    engine = receiver_engine(pg_url)
    try:
        assert store_delivery(engine, _delivery(1)).stored  # the pool now holds one
        _kill_the_pooled_connection(engine)
        assert store_delivery(engine, _delivery(2)).stored
        assert set(_status(engine)) == {"d-1", "d-2"}
        _kill_the_pooled_connection(engine)
        assert database_ok(engine)
        _kill_the_pooled_connection(engine)
        assert db_up() == 1.0
    finally:
        engine.dispose()
