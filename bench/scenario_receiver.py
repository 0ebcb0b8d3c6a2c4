"""Scenario: where a signed delivery's time goes inside the receiver, in one process.

    python -m bench.scenario_receiver BODY_FILE SECRET REQUESTS

Environment: DATABASE_URL, CELERY_BROKER_URL, GITHUB_WEBHOOK_SECRET, CATALOG_REPOS, as for the
receiver. Sends REQUESTS signed pushes through Flask's test client (no HTTP, no gunicorn) with the
inbox's database calls (`store_delivery`, and `mark_queued` if the receiver calls it) and the
broker publish timed, each net of the others it calls; the rest is Flask, the signature,
parsing, metrics and the log line. Also this process's CPU time per delivery (PostgreSQL's
and Redis's own are not in it), and the same requests to `bench.bare_app` through the same
test client: what Flask alone costs here, which no receiver can go below. Prints one JSON line
of milliseconds per delivery.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from flask.testing import FlaskClient
from sqlalchemy import Engine

from bench import floor_app
from bench.bare_app import create_app as bare_app
from bench.common import emit
from webhook import create_app
from worker.inbox import status, store


class Timers:
    """Time spent in each wrapped call, net of the wrapped calls made inside it."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self._inner: list[float] = []

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            self._inner.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                inner = self._inner.pop()
                total = time.perf_counter() - start
                self.spent[name] += total - inner
                if self._inner:
                    self._inner[-1] += total

        return wrapper


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("body", type=Path)
    parser.add_argument("secret")
    parser.add_argument("requests", type=int)
    args = parser.parse_args()
    body = args.body.read_bytes()
    signature = "sha256=" + hmac.new(args.secret.encode(), body, hashlib.sha256).hexdigest()
    app = create_app()
    client = app.test_client()
    timers = Timers()
    spent = timers.spent
    publisher = app.extensions["catalog_sync"].publisher
    publisher.enqueue_reconcile = timers.wrap("queue", publisher.enqueue_reconcile)
    for module, name in ((store, "store_delivery"), (status, "mark_queued")):
        # whichever the receiver calls (it calls them through their modules)
        setattr(module, name, timers.wrap(name.replace("_", " "), getattr(module, name)))

    post = signed_post(client, body, signature)

    def send() -> None:
        status_code = post()
        if status_code != 202:
            raise SystemExit(f"receiver answered {status_code}")

    for _ in range(20):  # warm: pools, connections, caches
        send()
    spent.clear()
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.requests):
        send()
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    per = {k: v / args.requests * 1000 for k, v in spent.items()}
    per["rest"] = total / args.requests * 1000 - sum(per.values())
    emit(
        {
            "total_ms": total / args.requests * 1000,
            "cpu_ms": cpu / args.requests * 1000,
            "ms": per,
            "floor_ms": floors(app.extensions["catalog_sync"].engine, args.requests),
            "bare_flask_ms": bare_flask(
                signed_post(bare_app().test_client(), body, signature), args.requests
            ),
        }
    )


def signed_post(client: FlaskClient, body: bytes, signature: str) -> Callable[[], int]:
    """A function that POSTs one signed push (a new delivery id each time); returns the status."""

    def post() -> int:
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "109948940",
            "X-Hub-Signature-256": signature,
        }
        return client.post("/webhooks/github", data=body, headers=headers).status_code

    return post


def bare_flask(post: Callable[[], int], requests: int) -> float:
    """Milliseconds per request of `bench.bare_app` (202, nothing else) through the test client."""
    for _ in range(20):
        post()
    start = time.perf_counter()
    for _ in range(requests):
        post()
    return (time.perf_counter() - start) / requests * 1000


def floors(engine: Engine, requests: int) -> dict[str, float]:
    """What the two writes cost with no library in between: the driver alone.

    A psycopg2 INSERT + COMMIT of a delivery-sized row and a Redis LPUSH of a message-sized
    value, on the same servers: what no receiver that stores and queues each push can avoid.
    """
    raw = engine.raw_connection()
    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    try:
        cur = raw.cursor()
        started = time.perf_counter()
        for _ in range(requests):
            cur.execute(floor_app.INSERT, (str(uuid.uuid4()), "0" * 40, "1" * 40))
            cur.fetchone()
            raw.commit()
        insert_ms = (time.perf_counter() - started) / requests * 1000
        started = time.perf_counter()
        for _ in range(requests):
            client.lpush(floor_app.KEY, floor_app.MESSAGE)
        push_ms = (time.perf_counter() - started) / requests * 1000
        client.delete(floor_app.KEY)
    finally:
        raw.close()
        client.close()
    return {"psycopg2 insert + commit": insert_ms, "redis lpush": push_ms}


if __name__ == "__main__":
    main()
