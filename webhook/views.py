"""HTTP routes, kept thin: each step is a call into a pure module or `worker.inbox.store`.

Order of checks on `POST /webhooks/github` (cheapest refusal first, and nothing parsed before
the signature is known good): secret configured (503) → size (413) → GitHub headers (400) →
body read within the limit (413) → signature over the raw bytes (401) → body parsed (400) →
event and watch filters (200 pong / 202 ignored) → stored (202 queued / 200 duplicate / 503).
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from models.db import retry_on_dead_connection
from settings import Settings
from webhook import pull_request
from webhook.body import BodyTooLarge, input_stream, read_limited
from webhook.installation import INSTALLATION_EVENTS, installation_event
from webhook.payload import PayloadError, parse_body, push_event
from webhook.routing import ignore_reason, watched_branch
from webhook.signature import SignatureError, verify
from webhook.storable import UNSTORABLE_ERRORS
from worker.discovery.watching import discovered_spec
from worker.inbox import store as inbox
from worker.inbox.publish import Publisher
from worker.observability import metrics

log = logging.getLogger("webhook")
bp = Blueprint("webhook", __name__)

_DELIVERY_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")
_EVENT = re.compile(r"[a-z_]{1,64}")
_KNOWN_EVENTS = {"push", "ping", "pull_request", *INSTALLATION_EVENTS}


@dataclass
class Deps:
    """What the routes need, built once by `create_app`."""

    settings: Settings
    engine: Engine
    publisher: Publisher
    registry: Any


def deps() -> Deps:
    found: Deps = current_app.extensions["catalog_sync"]
    return found


@dataclass
class Answer:
    code: int
    outcome: str
    body: dict[str, Any]

    @property
    def event(self) -> str:
        """The log event: one per outcome (`webhook.queued`, `webhook.unauthorized`, ...)."""
        return "webhook." + self.outcome


def _answer(code: int, outcome: str, **body: Any) -> Answer:
    return Answer(code, outcome, body)


@bp.post("/webhooks/github")
def github_webhook() -> tuple[Response, int]:
    started = time.perf_counter()
    event = request.headers.get("X-GitHub-Event", "")
    delivery_id = request.headers.get("X-GitHub-Delivery", "")
    answer = _receive(deps(), event, delivery_id)
    counted, timed = _metric_children(event if event in _KNOWN_EVENTS else "other", answer.outcome)
    counted.inc()
    timed.observe(time.perf_counter() - started)
    level = logging.INFO if answer.code < 400 else logging.WARNING
    log.log(
        level,
        answer.event,
        extra={
            "delivery_id": delivery_id[:100] if _DELIVERY_ID.fullmatch(delivery_id) else None,
            "github_event": event[:64] if _EVENT.fullmatch(event) else None,
            "status": answer.code,
            "repository": answer.body.get("repository"),
            "reason": answer.body.get("reason"),
            "ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return jsonify(answer.body), answer.code


@functools.cache
def _metric_children(event: str, outcome: str) -> tuple[Any, Any]:
    """The delivery counter's and the latency histogram's children for one (event, outcome).

    Built once per pair (both are bounded sets): `.labels()` validates, takes a lock and
    builds a key on every call.
    """
    return metrics.DELIVERIES.labels(event, outcome), metrics.RECEIVER_LATENCY.labels(outcome)


def _receive(d: Deps, event: str, delivery_id: str) -> Answer:
    secrets = d.settings.webhook_secrets
    if not secrets:
        return _answer(503, "refused", status="unavailable", reason="webhook_secret_unset")
    max_bytes = d.settings.max_webhook_bytes
    if request.content_length is not None and request.content_length > max_bytes:
        return _answer(413, "too_large", status="rejected", reason="body_too_large")
    if not _EVENT.fullmatch(event) or not _DELIVERY_ID.fullmatch(delivery_id):
        return _answer(400, "bad_request", status="rejected", reason="missing_github_headers")
    try:
        body = read_limited(input_stream(request.environ), request.content_length, max_bytes)
    except (BodyTooLarge, RequestEntityTooLarge):
        return _answer(413, "too_large", status="rejected", reason="body_too_large")
    except PayloadError as exc:
        return _answer(400, "bad_request", status="rejected", reason=exc.reason)
    try:
        verify(request.headers.get("X-Hub-Signature-256"), body, secrets)
    except SignatureError as exc:
        return _answer(401, "unauthorized", status="rejected", reason=f"signature_{exc.reason}")
    try:
        data = parse_body(body, request.content_type)
        if event == "ping":
            return _answer(200, "pong", status="pong")
        if event == "pull_request":
            return _pull_request(d, pull_request.pull_request_event(data), delivery_id)
        if event in INSTALLATION_EVENTS:
            installation_event(data)  # well-formed, or a 400
            hook_id = inbox.valid_hook_id(request.headers.get("X-GitHub-Hook-ID"))
            return _store_and_queue(d, inbox.DeliveryIn(delivery_id, event, None, hook_id=hook_id))
        if event != "push":
            return _answer(202, "ignored", status="ignored", reason="unhandled_event")
        push = push_event(data)
    except PayloadError as exc:
        return _answer(400, "bad_request", status="rejected", reason=exc.reason)
    try:
        spec = d.settings.repo_spec(push.repository_full_name) or discovered_spec(
            d.engine, push.repository_full_name
        )
    except SQLAlchemyError:
        return _answer(503, "unavailable", status="unavailable", reason="database")
    reason = ignore_reason(push, d.settings, spec)
    if reason is not None:
        return _answer(202, "ignored", status="ignored", reason=reason)
    assert spec is not None
    delivery = inbox.DeliveryIn(
        delivery_id=delivery_id,
        event=event,
        repository_full_name=spec.full_name,
        ref=push.ref,
        before_sha=push.before,
        after_sha=push.after,
        forced=push.forced,
        hook_id=inbox.valid_hook_id(request.headers.get("X-GitHub-Hook-ID")),
        branch=spec.branch or watched_branch(spec, push),
    )
    return _store_and_queue(d, delivery)


def _pull_request(d: Deps, event: pull_request.PullRequestEvent, delivery_id: str) -> Answer:
    """A watched pull request is stored like a push and queues its validation."""
    reason = pull_request.ignore_reason(event, d.settings)
    if reason is not None:
        return _answer(202, "ignored", status="ignored", reason=reason)
    hook_id = inbox.valid_hook_id(request.headers.get("X-GitHub-Hook-ID"))
    row = pull_request.delivery(event, delivery_id, hook_id, d.settings)
    return _store_and_queue(
        d, row, lambda: pull_request.enqueue_validation(d.publisher, row, event.number)
    )


def _store_and_queue(
    d: Deps, delivery: inbox.DeliveryIn, publish: Callable[[], None] | None = None
) -> Answer:
    """One transaction: store, publish, commit as `queued` (or `pending` if the broker is down)."""
    repo = delivery.repository_full_name

    def default() -> None:
        # No repository: an App installation change, which refreshes discovery.
        d.publisher.enqueue_for_delivery(repo or "", "webhook", delivery_id=delivery.delivery_id)

    try:
        stored = inbox.store_delivery(d.engine, delivery, publish or default)
    except UNSTORABLE_ERRORS:
        # Last resort (the payload checks should have refused it): the store is one
        # transaction, rolled back, so nothing of this delivery was kept.
        log.warning("webhook.unstorable_value", exc_info=True, extra={"repository": repo})
        return _answer(400, "bad_request", status="rejected", reason="unstorable_value")
    except SQLAlchemyError:
        log.warning("webhook.database_unavailable", exc_info=True, extra={"repository": repo})
        return _answer(503, "unavailable", status="unavailable", reason="database")
    if not stored.stored:
        return _answer(200, "duplicate", status="duplicate", delivery_id=delivery.delivery_id)
    # Stored and committed either way; if the broker was down, the sweeper publishes it.
    where = {"repository": repo} if repo else {}
    return _answer(202, "queued", status="queued", delivery_id=delivery.delivery_id, **where)


@bp.get("/health")
def health() -> tuple[Response, int]:
    d = deps()
    database = "ok" if database_ok(d.engine) else "down"
    broker = "ok" if d.publisher.broker_ok() else "down"
    ok = database == "ok" and broker == "ok"
    body = {"status": "ok" if ok else "unavailable", "database": database, "broker": broker}
    # Reported, not failed on: the receiver is up, and refuses deliveries (503) until it is set.
    body["webhook_secret"] = "ok" if d.settings.webhook_secrets else "missing"
    return jsonify(body), 200 if ok else 503


def database_ok(engine: Engine) -> bool:
    """`SELECT 1` through the pool (a connection found dead by a restart is replaced)."""

    def select_one() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        retry_on_dead_connection(select_one)
    except SQLAlchemyError:
        return False
    return True


@bp.get("/metrics")
def metrics_view() -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(metrics.render(deps().registry), content_type=CONTENT_TYPE_LATEST)
