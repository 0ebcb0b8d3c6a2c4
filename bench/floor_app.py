"""The receiver benchmark's floor: a bare Flask endpoint that makes the receiver's two writes
through the bare drivers, and nothing else.

    gunicorn 'bench.floor_app:create_app()'      # DATABASE_URL, CELERY_BROKER_URL

Per request: a psycopg2 INSERT of a delivery-sized row, a Redis LPUSH of a message-sized value
and the COMMIT, on one connection of each per thread; no signature, no parsing, no SQLAlchemy,
no Celery. What no receiver that stores and queues each push before answering can go below:
its throughput over `bench.bare_app`'s is the ceiling of the receiver's.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import psycopg2
import redis
from flask import Flask, Response, jsonify, request

#: The same statement `bench.scenario_receiver` times for its per-delivery floor.
INSERT = (
    "INSERT INTO webhook_deliveries (delivery_id, event, repository_full_name,"
    " ref, before_sha, after_sha, forced, status, attempts, received_at, updated_at)"
    " VALUES (%s, 'push', 'bench/floor', 'refs/heads/main', %s, %s, false, 'queued',"
    " 0, now(), now()) ON CONFLICT (delivery_id) DO NOTHING RETURNING id"
)
MESSAGE = b"x" * 1500
#: Not the receiver's queue: nothing consumes these.
KEY = "bench-floor"


def create_app() -> Flask:
    app = Flask(__name__, static_folder=None)
    dsn = os.environ["DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://")
    pool = redis.ConnectionPool.from_url(os.environ["CELERY_BROKER_URL"])
    local = threading.local()

    def connections() -> tuple[Any, redis.Redis]:
        if not hasattr(local, "db"):
            local.db = psycopg2.connect(dsn)
            local.redis = redis.Redis(connection_pool=pool)
        return local.db, local.redis

    @app.post("/webhooks/github")
    def github_webhook() -> tuple[Response, int]:
        request.get_data()
        db, client = connections()
        with db.cursor() as cur:
            cur.execute(INSERT, (request.headers.get("X-GitHub-Delivery"), "0" * 40, "1" * 40))
            cur.fetchone()
        client.lpush(KEY, MESSAGE)
        db.commit()
        return jsonify(status="queued"), 202

    return app
