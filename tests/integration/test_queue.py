"""Publishing: the embedded SQL broker round-trips a message; a down broker fails fast."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import redis

from settings import Settings
from tests.servers import free_port
from worker.celery_app import celery_config, make_celery
from worker.errors import BrokerUnavailableError
from worker.inbox.publish import MAX_COUNTDOWN_S, Publisher
from worker.tasknames import QUEUE_NAME, RECONCILE_TASK


def test_embedded_sql_broker_round_trip(tmp_path: Path) -> None:
    """kombu's SQLAlchemy transport on SQLite, with the installed SQLAlchemy (2.1)."""
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    celery = make_celery(Settings(celery_broker_url=url))
    publisher = Publisher(celery)
    publisher.enqueue_reconcile("octo/catalog", "webhook", delivery_id="d-1", full=True)
    assert publisher.broker_ok()
    with celery.connection_for_read() as conn:
        queue = conn.SimpleQueue(QUEUE_NAME)
        message = queue.get(timeout=5)
        assert message.content_type == "application/json"
        assert message.headers["task"] == RECONCILE_TASK
        args, kwargs, _ = message.payload
        assert args == []
        assert kwargs == {
            "full_name": "octo/catalog",
            "trigger": "webhook",
            "delivery_id": "d-1",
            "full": True,
        }
        message.ack()
        queue.close()


@pytest.mark.timeout(15)  # with kombu's default retries this would block for minutes
def test_down_broker_fails_fast() -> None:
    publisher = Publisher(
        make_celery(Settings(celery_broker_url=f"redis://127.0.0.1:{free_port()}"))
    )
    for _ in range(5):
        with pytest.raises(BrokerUnavailableError):
            publisher.enqueue_reconcile("octo/catalog", "webhook")
    assert not publisher.broker_ok()


def test_publisher_heals_after_a_redis_restart(redis_server: object) -> None:
    """A connection that went stale while Redis restarted (bindings lost) is replaced."""
    server = redis_server
    publisher = Publisher(make_celery(Settings(celery_broker_url=server.url())))  # type: ignore[attr-defined]
    publisher.enqueue_reconcile("octo/catalog", "webhook", countdown=10**9)
    server.stop()  # type: ignore[attr-defined]
    server.start()  # type: ignore[attr-defined]
    publisher.enqueue_reconcile("octo/catalog", "webhook")
    client = redis.Redis.from_url(server.url())  # type: ignore[attr-defined]
    assert client.llen(QUEUE_NAME) == 1


def test_reliability_settings() -> None:
    conf = celery_config(Settings(celery_broker_url="redis://x:6379/0"))
    assert conf["task_time_limit"] < conf["broker_transport_options"]["visibility_timeout"]
    assert conf["task_soft_time_limit"] < conf["task_time_limit"]
    assert conf["broker_transport_options"]["visibility_timeout"] > MAX_COUNTDOWN_S
    assert conf["accept_content"] == ["json"]
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["broker_connection_max_retries"] is None
    assert conf["task_ignore_result"] and conf["result_backend"] is None
    names = {entry["task"] for entry in conf["beat_schedule"].values()}
    assert names == {
        "worker.tasks.poll_repositories_task",
        "worker.tasks.sweep_deliveries_task",
        "worker.tasks.self_repair_task",
        "worker.tasks.verify_all_task",
        "worker.tasks.prune_changes_task",
        "worker.tasks.discover_repositories_task",
        "worker.tasks.retire_repositories_task",
    }
    sql = celery_config(Settings(celery_broker_url="sqla+sqlite:///x.sqlite"))
    assert sql["broker_transport_options"] == {}


def test_the_sweeper_keeps_the_embedded_broker_from_growing(tmp_path: Path) -> None:
    """kombu's SQL transport keeps every delivered message; `purge_delivered` removes them."""
    import sqlite3

    from worker.embedded_broker import purge_delivered

    path = tmp_path / "broker.sqlite"
    url = f"sqla+sqlite:///{path}"
    assert purge_delivered(url, older_than_s=0) == 0  # no table yet: nothing to do
    publisher = Publisher(make_celery(Settings(celery_broker_url=url)))
    for n in range(3):
        publisher.enqueue_reconcile("octo/catalog", "webhook", delivery_id=f"d-{n}")
    with make_celery(Settings(celery_broker_url=url)).connection_for_read() as conn:
        queue = conn.SimpleQueue(QUEUE_NAME)
        for _ in range(2):
            queue.get(timeout=5).ack()
        queue.close()

    def rows() -> list[tuple[int]]:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT visible FROM kombu_message ORDER BY id").fetchall()

    assert rows() == [(0,), (0,), (1,)]
    assert purge_delivered(url) == 0  # delivered moments ago: kept for now
    assert purge_delivered(url, older_than_s=0, batch=1) == 2  # one row per transaction
    assert rows() == [(1,)]  # the one still waiting is untouched
    assert purge_delivered("redis://127.0.0.1:6379/0", older_than_s=0) == 0


def test_publishes_reuse_one_redis_connection_and_arrive_in_order(redis_url: str) -> None:
    """One producer and one redis client per thread: N publishes, N messages, no new socket."""
    publisher = Publisher(make_celery(Settings(celery_broker_url=redis_url)))
    client = redis.Redis.from_url(redis_url)
    publisher.enqueue_reconcile("octo/catalog", "webhook", delivery_id="d-0")
    connected = len(client.client_list())
    for i in range(1, 50):
        publisher.enqueue_reconcile("octo/catalog", "webhook", delivery_id=f"d-{i}")
    assert client.llen(QUEUE_NAME) == 50
    assert len(client.client_list()) == connected
    with make_celery(Settings(celery_broker_url=redis_url)).connection_for_read() as conn:
        queue = conn.SimpleQueue(QUEUE_NAME)
        ids = []
        for _ in range(50):
            message = queue.get(timeout=5)
            ids.append(message.payload[1]["delivery_id"])
            message.ack()
        queue.close()
    assert sorted(ids) == sorted(f"d-{i}" for i in range(50))


def test_publish_sends_the_message_send_task_sends(redis_url: str) -> None:
    """The publisher skips `send_task`'s per-call routing, not its message: same headers,
    properties and body as `send_task` to the same queue, and the queue is bound as before."""
    celery = make_celery(Settings(celery_broker_url=redis_url))
    client = redis.Redis.from_url(redis_url)
    kwargs = {"full_name": "octo/catalog", "trigger": "webhook", "delivery_id": "d-1", "full": True}
    Publisher(celery).enqueue_reconcile("octo/catalog", "webhook", delivery_id="d-1", full=True)
    with celery.connection_for_write() as conn:
        celery.send_task(
            RECONCILE_TASK,
            kwargs=kwargs,
            queue=QUEUE_NAME,
            connection=conn,
            argsrepr="()",
            kwargsrepr=repr(kwargs),
        )
    ours, theirs = (json.loads(raw) for raw in client.lrange(QUEUE_NAME, 0, -1)[::-1])
    assert client.smembers(f"_kombu.binding.{QUEUE_NAME}")  # declared, as send_task would
    assert base64.b64decode(ours["body"]) == base64.b64decode(theirs["body"])
    per_message = {"id", "root_id", "correlation_id", "delivery_tag", "reply_to"}
    for part in ("headers", "properties"):
        assert ours[part].keys() == theirs[part].keys()
        for key in ours[part].keys() - per_message:
            assert ours[part][key] == theirs[part][key], (part, key)
    assert {k: v for k, v in ours.items() if k not in ("headers", "properties")} == {
        k: v for k, v in theirs.items() if k not in ("headers", "properties")
    }


def test_publish_with_countdown_carries_an_eta(redis_url: str) -> None:
    celery = make_celery(Settings(celery_broker_url=redis_url))
    Publisher(celery).enqueue_reconcile("octo/catalog", "rate_limited", countdown=60)
    raw = redis.Redis.from_url(redis_url).lrange(QUEUE_NAME, 0, 0)[0]
    assert json.loads(raw)["headers"]["eta"]
