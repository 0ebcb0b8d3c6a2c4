"""The receiver as production starts it (`deploy/commands.json`), at its limits (issue 13).

- The body limit is inclusive through a real HTTP server: `MAX_WEBHOOK_BYTES` - 1 and exactly
  `MAX_WEBHOOK_BYTES` are stored (202), one byte more is 413, with `Content-Length` and with
  chunked transfer encoding.
- Slow clients do not starve it: while more clients than half its threads send a byte a
  second (some their headers, some their body, reconnecting when cut off), real signed
  deliveries are answered 202 in well under GitHub's 10 s, and each slow connection is cut off
  at the read deadline.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.procs import SECRET, Db, Stack, new_port, stack_env
from tests.integration.test_webhook import NEW_BRANCH
from webhook.gunicorn_worker import READ_DEADLINE_S
from webhook.signature import sign

pytestmark = pytest.mark.e2e

LIMIT = 10_000
WATCHED = "Codertocat/Hello-World"
PATH = "/webhooks/github"


@dataclass
class Receiver:
    stack: Stack
    db: Db

    @property
    def port(self) -> int:
        return self.stack.port

    def log(self) -> str:
        return self.stack.get("webhook").output()


@pytest.fixture
def receiver(pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[Receiver]:
    env = stack_env(
        pg_url,
        redis_url,
        "http://127.0.0.1:9",  # the receiver never calls GitHub
        "unused-token",
        CATALOG_REPOS=WATCHED,
        MAX_WEBHOOK_BYTES=str(LIMIT),
    )
    stack = Stack(tmp=tmp_path, env=env, port=new_port(), db_url=pg_url)
    db = Db(pg_url)
    try:
        stack.start("webhook")
        stack.wait_healthy()
        yield Receiver(stack, db)
    finally:
        stack.stop_all()
        db.close()
        print("\n" + stack.tails(30), flush=True)  # shown when the test failed
        assert not stack.leftovers()
        output = "\n".join(p.output() for p in stack.procs)
        assert "webhook.unhandled_error" not in output
        assert SECRET not in output


def _padded(size: int) -> bytes:
    """A valid push of exactly `size` bytes (JSON allows trailing whitespace)."""
    raw = NEW_BRANCH.read_bytes().rstrip()
    return raw + b" " * (size - len(raw))


def _headers(body: bytes, delivery: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(SECRET.encode(), body),
    }


def _post(port: int, body: bytes, delivery: str, *, chunked: bool = False) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        if chunked:  # several chunks, no Content-Length
            pieces = [body[i : i + 1500] for i in range(0, len(body), 1500)]
            conn.request("POST", PATH, body=iter(pieces), headers=_headers(body, delivery))
        else:
            conn.request("POST", PATH, body=body, headers=_headers(body, delivery))
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_the_body_limit_is_inclusive_over_http(receiver: Receiver, chunked: bool) -> None:
    for size, code in ((LIMIT - 1, 202), (LIMIT, 202), (LIMIT + 1, 413)):
        delivery = f"limit-{size}-{uuid.uuid4()}"
        assert _post(receiver.port, _padded(size), delivery, chunked=chunked) == code, size
        stored = receiver.db.delivery_status(delivery)
        assert (stored is not None) is (code == 202), (size, stored)


# --- slow clients ----------------------------------------------------------------------------


def _slots(argv: list[str]) -> int:
    """Threads in all workers of the production command."""
    return int(argv[argv.index("--workers") + 1]) * int(argv[argv.index("--threads") + 1])


@dataclass
class SlowClients:
    """Clients sending one byte a second, each reconnecting as soon as it is cut off."""

    port: int
    count: int
    cut_after: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n in range(self.count):
            thread = threading.Thread(target=self._run, args=(n,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)

    def _run(self, n: int) -> None:
        while not self._stop.is_set():
            self._trickle(n)

    def _trickle(self, n: int) -> None:
        head = f"POST {PATH} HTTP/1.1\r\nHost: x\r\n".encode()
        if n % 2:  # complete headers promising a body, then the body a byte a second
            head += b"X-GitHub-Event: push\r\nX-GitHub-Delivery: slow-%d\r\n" % n
            head += b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
            first, rest = head, b" " * 5000
        else:  # headers that never end, a byte a second
            first, rest = head[:1], head[1:] + b"X-Pad: " + b"a" * 5000
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        except OSError:
            time.sleep(0.2)
            return
        started = time.monotonic()
        try:
            sock.sendall(first)
            for i in range(len(rest)):
                if self._stop.wait(1.0) or _closed(sock):
                    break
                sock.sendall(rest[i : i + 1])
        except OSError:
            pass  # cut off by the server
        finally:
            if not self._stop.is_set():
                self.cut_after.append(time.monotonic() - started)
            sock.close()


def _closed(sock: socket.socket) -> bool:
    """Whether the server closed or answered the connection (it is readable if so)."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return False
    except OSError:
        pass
    finally:
        sock.setblocking(True)
    return True


def test_slow_clients_do_not_starve_real_deliveries(receiver: Receiver) -> None:
    argv = receiver.stack.argv("webhook")
    slow = SlowClients(receiver.port, _slots(argv) // 2 + 1)
    slow.start()
    try:
        time.sleep(2.0)  # every slow client connected and holding a thread
        answered: list[tuple[int, float]] = []
        deadline = time.monotonic() + READ_DEADLINE_S + 4  # across the first cut-offs
        while time.monotonic() < deadline:
            delivery = f"real-{uuid.uuid4()}"
            started = time.monotonic()
            code = _post(receiver.port, NEW_BRANCH.read_bytes(), delivery)
            answered.append((code, time.monotonic() - started))
            assert receiver.db.delivery_status(delivery) is not None
            time.sleep(0.5)
    finally:
        slow.stop()
    assert len(answered) >= 5
    assert [code for code, _ in answered] == [202] * len(answered)
    worst = max(seconds for _, seconds in answered)
    assert worst < 5.0, f"a delivery waited {worst:.1f} s behind slow clients"
    # Each slow connection was cut off at the read deadline (plus the reaper's tick and the
    # client noticing on its next byte), none lasted for the whole trickle.
    assert slow.cut_after, "no slow client was cut off"
    assert max(slow.cut_after) < READ_DEADLINE_S + 3.0, slow.cut_after
    assert "webhook.read_deadline_exceeded" in receiver.log()
    print(
        f"\n{slow.count} slow clients, {len(answered)} deliveries: worst {worst * 1000:.0f} ms; "
        f"slow connections cut after {min(slow.cut_after):.1f}-{max(slow.cut_after):.1f} s"
    )
