"""Publishing reconciles from the web receiver and the sweeper: fail fast, never block.

The worker's connection retries the broker forever; a web request cannot. The receiver has
already committed the delivery to the inbox, so a failed publish only leaves the row `pending`
for the sweeper. Publishes therefore use their own connection per thread, with short socket
timeouts, no kombu retries (`max_retries=0`, `retry=False`) and no redis-py retries.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from celery import Celery
from celery.utils import uuid
from kombu import Connection
from kombu.exceptions import KombuError

from worker.celery_app import broker_transport_options, is_sql_broker
from worker.errors import BrokerUnavailableError
from worker.tasknames import DISCOVERY_TASK, QUEUE_NAME, RECONCILE_TASK, VISIBILITY_TIMEOUT_S

#: Redis re-delivers a message whose countdown outlives the visibility timeout; stay below it.
MAX_COUNTDOWN_S = VISIBILITY_TIMEOUT_S / 2
CONNECT_TIMEOUT_S = 0.5
SOCKET_TIMEOUT_S = 1.0
#: /health caches the broker probe: "ok" briefly, "down" even more briefly (recovery shows fast).
HEALTH_CACHE_S = 2.0
HEALTH_DOWN_CACHE_S = 0.5
#: After a failed publish, fail at once for this long: a black-holed broker (no RST) would
#: otherwise cost every request the connect timeout.
BREAKER_S = 1.0
#: How long a publisher trusts the exchange's bindings it read (queues are bound once, at
#: the first publish or worker start, and never unbound while the service runs).
BINDINGS_CACHE_S = 30.0


def _fast_transport_options(url: str) -> dict[str, Any]:
    options = broker_transport_options(url)
    options["max_retries"] = 0
    if is_sql_broker(url):
        options.update({"connect_args": {"timeout": SOCKET_TIMEOUT_S}})
        return options
    options.update(
        {
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
            "socket_timeout": SOCKET_TIMEOUT_S,
            "retry_on_timeout": False,
        }
    )
    return options


class Publisher:
    """Sends reconcile messages for one Celery app over per-thread fail-fast connections."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery
        self._local = threading.local()
        self._health_lock = threading.Lock()
        self._health: tuple[float, bool] = (0.0, False)
        self._down_until = 0.0

    def prepare(self) -> None:
        """Import the transport now (no network), not during the first webhook."""
        self._new_connection().transport  # noqa: B018 - resolving it imports the transport

    def _new_connection(self) -> Connection:
        url = str(self.celery.conf.broker_url)
        return self.celery.connection_for_write(
            transport_options=_fast_transport_options(url),
            connect_timeout=CONNECT_TIMEOUT_S,
        )

    def _connection(self) -> tuple[Connection, bool]:
        """The thread's connection and whether it is new (a reused one may be stale)."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, False
        conn = self._new_connection()
        self._local.conn = conn
        return conn, True

    def _producer(self, conn: Connection, fresh: bool) -> Any:
        """The thread's producer on `conn`: built once per connection, not once per publish.

        The queue is declared (bound to its exchange) here, once per producer, as `send_task`
        would on its first publish; later publishes skip the per-message declare check.
        """
        producer = getattr(self._local, "producer", None)
        if producer is None or fresh:
            channel = conn.default_channel
            reuse_redis_client(channel)
            producer = self.celery.amqp.Producer(channel, auto_declare=False)
            producer.maybe_declare(self.celery.amqp.queues[QUEUE_NAME])
            self._local.producer = producer
        return producer

    def _drop(self) -> None:
        conn: Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        self._local.producer = None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken socket may fail to close
                conn.close()

    def _errors(self, conn: Connection) -> tuple[type[BaseException], ...]:
        return (*conn.connection_errors, *conn.channel_errors, KombuError, OSError)

    def enqueue_reconcile(
        self,
        full_name: str,
        trigger: str,
        *,
        delivery_id: str | None = None,
        full: bool = False,
        countdown: float | None = None,
    ) -> None:
        """Queue one reconcile; raises `BrokerUnavailableError` quickly when the broker is down."""
        kwargs: dict[str, Any] = {
            "full_name": full_name,
            "trigger": trigger,
            "delivery_id": delivery_id,
            "full": full,
        }
        self.send(RECONCILE_TASK, kwargs, countdown=countdown)

    def send(self, task: str, kwargs: dict[str, Any], *, countdown: float | None = None) -> None:
        """Queue the task named `task`; `BrokerUnavailableError` quickly when the broker is down."""
        if countdown is not None:
            countdown = max(0.0, min(float(countdown), MAX_COUNTDOWN_S))
        self._send(task, kwargs, countdown)

    def enqueue_discovery(self, trigger: str, *, delivery_id: str | None = None) -> None:
        """Queue a discovery refresh (an App installation changed); fails fast like a reconcile."""
        self._send(DISCOVERY_TASK, {"trigger": trigger, "delivery_id": delivery_id}, None)

    def enqueue_for_delivery(
        self, full_name: str, trigger: str, *, delivery_id: str | None = None
    ) -> None:
        """What a stored delivery asks for: its repository's reconcile or, for a delivery about
        the App installation (no repository), a discovery refresh."""
        if full_name:
            self.enqueue_reconcile(full_name, trigger, delivery_id=delivery_id)
        else:
            self.enqueue_discovery(trigger, delivery_id=delivery_id)

    def _send(self, task: str, kwargs: dict[str, Any], countdown: float | None) -> None:
        if time.monotonic() < self._down_until:
            raise BrokerUnavailableError("broker unavailable (failed moments ago)")
        for _attempt in range(2):
            conn, fresh = self._connection()
            try:
                self._publish(self._producer(conn, fresh), task, kwargs, countdown)
                self._health = (time.monotonic(), True)
                return
            except self._errors(conn) as exc:
                self._drop()
                if fresh:
                    self._down_until = time.monotonic() + BREAKER_S
                    self._health = (time.monotonic(), False)  # /health tells at once
                    raise BrokerUnavailableError(
                        f"broker unavailable: {type(exc).__name__}"
                    ) from exc
        raise BrokerUnavailableError("broker unavailable")  # pragma: no cover

    def _publish(
        self, producer: Any, task: str, kwargs: dict[str, Any], countdown: float | None
    ) -> None:
        """Celery's own message, sent by Celery's own `send_task_message`: what `send_task`
        does, less what it repeats per call for a route that never changes.

        `send_task` costs about twice the message itself on the receiver's hot path: it looks
        up the task's options and route, reads the configuration, re-checks that the queue is
        declared and builds a result object nobody reads. The queue is fixed (`QUEUE_NAME`,
        declared once per producer) and there is no result backend; the message (headers,
        properties, body) is the one `send_task` would send.
        """
        amqp = self.celery.amqp
        parent = self.celery.current_worker_task  # a sweep inside a task: keep the lineage
        # What the worker logs for the task; given, it spares a `saferepr` walk per push.
        # `send_task` puts them in the headers and (as extra options) in the properties.
        reprs = {"argsrepr": "()", "kwargsrepr": repr(kwargs)}
        message = amqp.create_task_message(
            uuid(),
            task,
            (),
            kwargs,
            countdown,
            reply_to=self.celery.thread_oid,
            root_id=(parent.request.root_id or parent.request.id) if parent else None,
            parent_id=parent.request.id if parent else None,
            ignore_result=None,  # as `send_task` sends it: the app's setting decides
            **reprs,
        )
        queue = amqp.queues[QUEUE_NAME]
        amqp.send_task_message(
            producer, task, message, queue=queue, declare=[], retry=False, **reprs
        )

    def broker_ok(self) -> bool:
        """Whether the broker answers; cached briefly so /health stays cheap under polling."""
        cached = self._cached_health()
        if cached is not None:
            return cached
        with self._health_lock:
            cached = self._cached_health()
            if cached is not None:
                return cached
            ok = self._probe()
            self._health = (time.monotonic(), ok)
            return ok

    def _cached_health(self) -> bool | None:
        checked_at, ok = self._health
        ttl = HEALTH_CACHE_S if ok else HEALTH_DOWN_CACHE_S
        return ok if time.monotonic() - checked_at < ttl else None

    def _probe(self) -> bool:
        conn = self._new_connection()
        try:
            conn.ensure_connection(max_retries=0, timeout=CONNECT_TIMEOUT_S)
            channel = conn.default_channel
            client = getattr(channel, "client", None)
            if client is not None and hasattr(client, "ping"):
                client.ping()
            else:
                channel._size(QUEUE_NAME)
            return True
        except Exception:  # noqa: BLE001 - any failure means "down" for /health
            return False
        finally:
            with contextlib.suppress(Exception):  # closing a dead connection may fail
                conn.close()


def reuse_redis_client(channel: Any) -> None:
    """Spare kombu's Redis channel two costs it pays on every publish (of one channel only).

    kombu builds a new redis-py client per command (`conn_or_acquire`, about 0.2 ms of
    Python each time) and reads the exchange's bindings from Redis before each publish (one
    more round trip). The channel's own client is reused instead (same connection pool), and
    a non-empty bindings table is trusted for `BINDINGS_CACHE_S`. Other transports (the SQL
    broker) are left alone.
    """
    if not (hasattr(channel, "conn_or_acquire") and hasattr(channel, "_create_client")):
        return
    client = channel._create_client()

    @contextlib.contextmanager
    def conn_or_acquire(given: Any = None) -> Iterator[Any]:
        yield given or client

    get_table = channel.get_table
    tables: dict[str, tuple[float, Any]] = {}

    def cached_table(exchange: str) -> Any:
        now = time.monotonic()
        hit = tables.get(exchange)
        if hit is not None and now - hit[0] < BINDINGS_CACHE_S:
            return hit[1]
        table = get_table(exchange)
        if table:  # an empty table is never trusted: a binding may be on its way
            tables[exchange] = (now, table)
        return table

    channel.conn_or_acquire = conn_or_acquire
    channel.get_table = cached_table
