"""Load generator for the receiver benchmark: signed push deliveries to 127.0.0.1 only.

    python -m bench.loadgen PORT BODY_FILE SECRET closed --requests N --concurrency C
    python -m bench.loadgen PORT BODY_FILE SECRET rate --requests N --rate R

Runs in its own process (not in the servers'). Every request is a GitHub push delivery with
its own `X-GitHub-Delivery` id and a valid `X-Hub-Signature-256`, on one `http.client`
connection per thread (reconnecting when the server closes it, as the receiver does
after each answer). `closed`: C threads send N requests back to back (throughput). `rate`:
requests are due every 1/R s whatever the answers (an open loop), and each latency is counted
from when the request was due, so a slow answer that delays the next ones is not hidden.
Always a bounded number of requests; prints one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import queue
import threading
import time
import uuid
from pathlib import Path

from bench.common import emit

PATH = "/webhooks/github"


class Sender:
    """One keep-alive connection (re-opened when the server closes it)."""

    def __init__(self, port: int, body: bytes, secret: bytes) -> None:
        self.port = port
        self.body = body
        self.signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        self.conn: http.client.HTTPConnection | None = None

    def send(self) -> int:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/bench",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "109948940",
            "X-Hub-Signature-256": self.signature,
        }
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request("POST", PATH, body=self.body, headers=headers)
                response = self.conn.getresponse()
                response.read()
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
                continue  # the server closed an idle keep-alive connection: reconnect once
            if response.will_close:
                self.close()
            return response.status
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def closed_loop(args: argparse.Namespace, body: bytes) -> dict[str, object]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    remaining = [args.requests]

    def worker() -> None:
        sender = Sender(args.port, body, args.secret.encode())
        while True:
            with lock:
                if remaining[0] == 0:
                    break
                remaining[0] -= 1
            start = time.perf_counter()
            status = sender.send()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
        sender.close()

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "per_second": args.requests / seconds} | summary(
        latencies, statuses
    )


def open_loop(args: argparse.Namespace, body: bytes) -> dict[str, object]:
    due: queue.Queue[float | None] = queue.Queue()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def worker() -> None:
        sender = Sender(args.port, body, args.secret.encode())
        while (when := due.get()) is not None:
            status = sender.send()
            elapsed = time.perf_counter() - when
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
        sender.close()

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    for i in range(args.requests):
        when = start + i / args.rate
        pause = when - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        due.put(when)
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "per_second": args.requests / seconds} | summary(
        latencies, statuses
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(latencies: list[float], statuses: dict[int, int]) -> dict[str, object]:
    return {
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
        "statuses": {str(k): v for k, v in statuses.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("body", type=Path)
    parser.add_argument("secret")
    parser.add_argument("mode", choices=("closed", "rate"))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rate", type=float, default=100.0)
    args = parser.parse_args()
    body = args.body.read_bytes()
    emit(closed_loop(args, body) if args.mode == "closed" else open_loop(args, body))


if __name__ == "__main__":
    main()
