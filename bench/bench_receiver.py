"""Receiver: signed push deliveries per second and latency, against a bare Flask endpoint.

What the receiver's guarantees cost (verify the signature, store the delivery in PostgreSQL,
queue a reconcile in Redis, answer 202): the real receiver (`webhook:create_app()`) and
`bench.bare_app` (202, nothing else) run under the production gunicorn command
(`deploy/commands.json`: 2 threaded workers), side by side, measured alternately by
`bench.loadgen` in its own process.
Throughput is a closed loop (4 connections sending back to back); latency under a steady
load is an open loop at 100 requests/s. Everything on 127.0.0.1, a bounded number of requests.
All four processes (2 workers each side is idle while the other is measured, the load
generator, PostgreSQL and Redis) share the machine's 2 cores, as they would on a small host.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import func, select

from bench.common import ROOT, Figure, run_scenario
from bench.context import Context, log
from models import WebhookDelivery, make_engine
from tests.servers import free_port, wait_for_port
from worker.cli.run import commands
from worker.tasknames import QUEUE_NAME

SECRET = "bench-webhook-secret"
REPO = "Codertocat/Hello-World"
PAYLOAD = ROOT / "tests/data/github-payloads/octokit-webhooks/push/with-new-branch.payload.json"
THROUGHPUT_REQUESTS = 1000
RATE = 100.0
RATE_REQUESTS = 500
WARMUP = 100
BREAKDOWN_REQUESTS = 300


def run(ctx: Context) -> list[Figure]:
    scale = 0.2 if ctx.quick else 1.0
    body = ctx.tmp / "push.json"
    body.write_bytes(PAYLOAD.read_bytes())
    db_url = ctx.fresh_db()
    env = {
        "DATABASE_URL": db_url,
        "CELERY_BROKER_URL": ctx.redis_url,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "CATALOG_REPOS": REPO,
        "PROMETHEUS_MULTIPROC_DIR": str(_mkdir(ctx.tmp / "prom")),
    }
    servers = {
        "receiver": Gunicorn("webhook:create_app()", env, ctx.tmp / "receiver.log"),
        "bare": Gunicorn("bench.bare_app:create_app()", {}, ctx.tmp / "bare.log"),
    }
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {"closed": [], "rate": []} for name in servers
    }
    sent = 0
    try:
        for server in servers.values():
            server.start()
        status = _get(servers["receiver"].port, "/health")
        if status != 200:
            raise RuntimeError(f"receiver /health answered {status}")
        for server in servers.values():  # warm both: imports, pools, connections
            load(server.port, body, "closed", int(WARMUP * scale))
        sent += int(WARMUP * scale)
        for n in range(ctx.repeats):
            for name, server in servers.items():
                closed = load(server.port, body, "closed", int(THROUGHPUT_REQUESTS * scale))
                results[name]["closed"].append(closed)
                line = f"{name} run {n + 1}: {closed['per_second']:.0f} req/s"
                line += f" ({closed['statuses']})"
                if name == "receiver" or n == 0:  # the bare endpoint's p99 once, for reference
                    steady = load(server.port, body, "rate", int(RATE_REQUESTS * scale))
                    results[name]["rate"].append(steady)
                    line += (
                        f"; at {RATE:.0f}/s p50 {steady['p50_ms']:.1f} ms, "
                        f"p99 {steady['p99_ms']:.1f} ms ({steady['statuses']})"
                    )
                if name == "receiver":
                    sent += int(THROUGHPUT_REQUESTS * scale) + int(RATE_REQUESTS * scale)
                log(line)
        stored, queued = _check(db_url, ctx.redis_url)
    finally:
        for server in servers.values():
            server.stop()
    for server in servers.values():
        server.check_log()
    breakdown = run_scenario(
        "bench.scenario_receiver",
        str(body),
        SECRET,
        str(int(BREAKDOWN_REQUESTS * scale)),
        env={**env, "DATABASE_URL": ctx.fresh_db()},
    )
    log(f"receiver in one process: {breakdown}")
    return _figures(results, sent, stored, queued, breakdown)


def load(port: int, body: Path, mode: str, requests: int) -> dict[str, Any]:
    args = [str(port), str(body), SECRET, mode, "--requests", str(requests)]
    if mode == "rate":
        args += ["--rate", str(RATE), "--concurrency", "8"]
    else:
        args += ["--concurrency", "4"]
    return run_scenario("bench.loadgen", *args)


def _figures(
    results: dict[str, dict[str, list[dict[str, Any]]]],
    sent: int,
    stored: int,
    queued: int,
    breakdown: dict[str, Any],
) -> list[Figure]:
    ours, bare = results["receiver"], results["bare"]
    codes = {k for r in ours["closed"] + ours["rate"] for k in r["statuses"]}
    check = (
        f"every answer 202; {stored:,} of {sent:,} deliveries stored and {queued:,} "
        "messages in Redis"
    )
    if codes != {"202"} or stored != sent or queued != sent:
        check = f"answers {sorted(codes)}; {stored:,} of {sent:,} stored, {queued:,} queued"
    pairs = zip(ours["closed"], bare["closed"], strict=True)
    ratio = [o["per_second"] / b["per_second"] for o, b in pairs]
    p99 = [r["p99_ms"] for r in ours["rate"]]
    name = "receiver"
    return [
        Figure(
            name,
            "signed pushes/s, receiver",
            [r["per_second"] for r in ours["closed"]],
            "req/s",
            note=f"gunicorn as in production; 4 connections back to back; {check}",
        ),
        Figure(
            name,
            "requests/s, bare Flask 202",
            [r["per_second"] for r in bare["closed"]],
            "req/s",
            note="same gunicorn settings; the load generator shares the 2 cores and may "
            "limit the bare endpoint, which makes the ratio look better than it is",
        ),
        Figure(name, "throughput, receiver ÷ bare", ratio, "x", "≥ 0.5x").check(lambda v: v >= 0.5),
        Figure(name, "p50 at full load, receiver", [r["p50_ms"] for r in ours["closed"]], "ms"),
        Figure(name, "p99 at full load, receiver", [r["p99_ms"] for r in ours["closed"]], "ms"),
        Figure(
            name,
            f"p50 at {RATE:.0f} req/s, receiver",
            [r["p50_ms"] for r in ours["rate"]],
            "ms",
            note="open loop: latency counted from when each request was due",
        ),
        Figure(
            name,
            f"p99 at {RATE:.0f} req/s, receiver",
            p99,
            "ms",
            "< 50 ms",
            note="open loop: latency counted from when each request was due",
        ).check(lambda v: v < 50),
        Figure(
            name,
            f"p99 at {RATE:.0f} req/s, bare Flask 202",
            [r["p99_ms"] for r in bare["rate"]],
            "ms",
            note="open loop: latency counted from when each request was due",
        ),
        Figure(
            name,
            "time per delivery in one process, no HTTP",
            [breakdown["total_ms"]],
            "ms",
            note="Flask test client, one process, the same PostgreSQL and Redis: "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in breakdown["ms"].items())
            + " (store delivery: the inbox's database transaction, without the publish it may "
            "make inside; queue: the Celery publish to Redis; rest: Flask, signature, parsing, "
            "metrics, log line). The floor, the same two writes through the bare drivers: "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in breakdown.get("floor_ms", {}).items()),
        ),
        *_floor_ratio(name, breakdown),
    ]


def _floor_ratio(name: str, breakdown: dict[str, Any]) -> list[Figure]:
    """Issue 14's other receiver target: a delivery within 2x of the bare drivers' two writes."""
    floor = sum(breakdown.get("floor_ms", {}).values())
    if not floor:
        return []
    return [
        Figure(
            name,
            "time per delivery ÷ the bare drivers' two writes",
            [breakdown["total_ms"] / floor],
            "x",
            "≤ 2x (or ≥ 0.5x bare Flask)",
            note="the receiver's target is met when either this or the throughput ratio is",
        ).check(lambda v: v <= 2)
    ]


class Gunicorn:
    """`gunicorn APP` on a free 127.0.0.1 port, with the production command's options."""

    def __init__(self, app: str, env: dict[str, str], log_path: Path) -> None:
        self.app = app
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        with self.log_path.open("wb") as out:
            argv = commands("127.0.0.1", self.port, self.log_path.parent)["webhook"]
            self.proc = subprocess.Popen(
                [*argv[:-1], self.app],
                cwd=self.log_path.parent,
                env={**os.environ, **self.env, "PYTHONPATH": pythonpath},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, timeout=30)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def check_log(self) -> None:
        text = self.log_path.read_text(errors="replace")
        if "webhook.unhandled_error" in text or "Traceback" in text:
            raise RuntimeError(f"{self.app} logged errors:\n{text[-3000:]}")


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _check(db_url: str, redis_url: str) -> tuple[int, int]:
    """Deliveries the receiver stored as queued, and messages waiting in Redis."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            stmt = select(func.count()).select_from(WebhookDelivery)
            stored = int(conn.scalar(stmt.where(WebhookDelivery.status == "queued")) or 0)
    finally:
        engine.dispose()
    client = redis.Redis.from_url(redis_url)
    try:
        queued = int(client.llen(QUEUE_NAME))
    finally:
        client.close()
    return stored, queued


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
