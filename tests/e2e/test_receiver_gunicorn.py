"""The receiver as it runs in production: gunicorn, 2 workers, real PostgreSQL and Redis.

Shows: signed pushes are queued; with Redis stopped a burst of 200 deliveries all get 202 and
are stored `pending`, and after Redis returns one sweep queues all 200 (0 lost); with
PostgreSQL stopped the receiver answers 503 and recovers without a restart.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, func, select

import worker.inbox.publish
from models import WebhookDelivery, make_engine, utcnow
from models.migrate import upgrade
from settings import Settings
from tests.conftest import DATA
from tests.servers import PostgresServer, RedisServer, create_database, free_port, wait_for_port
from webhook.signature import sign
from worker.celery_app import make_celery
from worker.inbox.publish import Publisher
from worker.inbox.sweep import sweep_pending
from worker.tasknames import QUEUE_NAME

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SECRET = "e2e-secret"
BODY = (
    DATA / "github-payloads" / "octokit-webhooks" / "push" / "with-new-branch.payload.json"
).read_bytes()
BURST = 200


@dataclass
class Receiver:
    port: int
    db_url: str
    broker_url: str
    engine: Engine

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, object], float]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        started = time.perf_counter()
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        conn.close()
        doc = (
            json.loads(data)
            if response.getheader("Content-Type", "").startswith("application/json")
            else {}
        )
        return response.status, doc, elapsed

    def push(self, delivery: str | None = None) -> tuple[int, dict[str, object], float]:
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "109948940",
            "X-Hub-Signature-256": sign(SECRET.encode(), BODY),
            "User-Agent": "GitHub-Hookshot/e2e",
        }
        return self.request("POST", "/webhooks/github", BODY, headers)

    def count(self, status: str | None = None) -> int:
        stmt = select(func.count()).select_from(WebhookDelivery)
        if status is not None:
            stmt = stmt.where(WebhookDelivery.status == status)
        with self.engine.connect() as conn:
            return int(conn.scalar(stmt) or 0)


@pytest.fixture
def receiver(
    pg_server: PostgresServer, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Receiver]:
    create_database(pg_server.url(), "catalog")
    db_url = pg_server.url("catalog")
    upgrade(db_url)
    port = free_port()
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "CELERY_BROKER_URL": redis_server.url(),
        "GITHUB_WEBHOOK_SECRET": f"old-secret,{SECRET}",
        "CATALOG_REPOS": "Codertocat/Hello-World",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "webhook:create_app()",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--timeout",
            "30",
            "--no-control-socket",
        ],
        cwd=tmp_path,
        env={
            **env,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    engine = make_engine(db_url)
    try:
        wait_for_port(port, timeout=30)
        yield Receiver(port, db_url, redis_server.url(), engine)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        engine.dispose()
        log.close()
        text = (tmp_path / "gunicorn.log").read_text(errors="replace")
        assert SECRET not in text
        assert "webhook.unhandled_error" not in text, text[-3000:]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def test_receiver_under_gunicorn(
    receiver: Receiver,
    redis_server: RedisServer,
    pg_server: PostgresServer,
) -> None:
    r = redis.Redis.from_url(receiver.broker_url)
    code, doc, _ = receiver.request("GET", "/health")
    assert (code, doc) == (
        200,
        {"status": "ok", "database": "ok", "broker": "ok", "webhook_secret": "ok"},
    )

    # Signed pushes, broker up: queued, one message each; latency measured sequentially.
    latencies = []
    for _ in range(50):
        code, doc, elapsed = receiver.push()
        assert (code, doc["status"]) == (202, "queued")
        latencies.append(elapsed)
    assert receiver.count("queued") == 50
    assert r.llen(QUEUE_NAME) == 50
    code, doc, _ = receiver.push(delivery=str(doc["delivery_id"]))
    assert (code, doc["status"]) == (200, "duplicate")

    # Broker down: a burst of 200 concurrent deliveries, all answered 202 and stored pending.
    redis_server.stop()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: receiver.push(), range(BURST)))
    burst_s = time.perf_counter() - started
    burst_latencies = [elapsed for _, _, elapsed in answers]
    assert [code for code, _, _ in answers] == [202] * BURST
    assert receiver.count("pending") == BURST
    time.sleep(worker.inbox.publish.HEALTH_CACHE_S + 0.2)  # a worker that saw no failure re-probes
    code, doc, _ = receiver.request("GET", "/health")
    assert (code, doc["broker"], doc["database"]) == (503, "down", "ok")

    # Broker back (empty: no persistence): one sweep queues every stored delivery.
    redis_server.start()
    settings = Settings(celery_broker_url=receiver.broker_url)
    publisher = Publisher(make_celery(settings))
    sweep_started = time.perf_counter()
    result = sweep_pending(
        receiver.engine,
        publisher.enqueue_reconcile,
        utcnow() + timedelta(seconds=10),
        max_attempts=5,
    )
    sweep_s = time.perf_counter() - sweep_started
    assert (result.claimed, result.queued) == (BURST, BURST)
    assert receiver.count("pending") == 0
    assert receiver.count("queued") == 50 + BURST
    in_redis = r.llen(QUEUE_NAME)
    assert in_redis == result.messages == 1  # one repository: one reconcile covers the burst

    # Multi-worker metrics: both gunicorn workers' counters aggregated.
    code, _, _ = receiver.request("GET", "/metrics")
    assert code == 200
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    conn.request("GET", "/metrics")
    metrics_text = conn.getresponse().read().decode()
    conn.close()
    assert (
        'catalog_sync_webhook_deliveries_total{event="push",outcome="queued"} 250.0' in metrics_text
    )
    assert 'catalog_sync_inbox_deliveries{status="queued"} 250.0' in metrics_text

    # Database down: 503 naming the database, then recovery without restarting gunicorn.
    pg_server.stop()
    code, doc, _ = receiver.push()
    assert (code, doc) == (503, {"status": "unavailable", "reason": "database"})
    code, doc, _ = receiver.request("GET", "/health")
    assert (code, doc["database"]) == (503, "down")
    pg_server.start()
    deadline = time.monotonic() + 20
    while True:
        code, doc, _ = receiver.push()
        if code == 202 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (code, doc["status"]) == (202, "queued")
    while True:
        code, doc, _ = receiver.request("GET", "/health")
        if code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert code == 200, doc

    print(
        f"\nreceiver (gunicorn, 2 workers, PostgreSQL + Redis): sequential signed pushes "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {_pct(latencies, 0.99) * 1000:.1f} ms; "
        f"broker-down burst of {BURST} (20 concurrent): {burst_s:.2f} s, "
        f"p50 {statistics.median(burst_latencies) * 1000:.1f} ms, "
        f"p99 {_pct(burst_latencies, 0.99) * 1000:.1f} ms, all 202, {BURST} stored pending; "
        f"sweep after broker return: {result.queued} queued in {sweep_s:.2f} s, "
        f"{in_redis} messages in Redis, lost {BURST - in_redis}"
    )
