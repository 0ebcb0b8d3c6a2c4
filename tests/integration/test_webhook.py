"""The receiver, every row of the contract's HTTP table, on SQLite and PostgreSQL.

Real recorded GitHub payloads, signed over the exact bytes sent; a real Redis as the broker
(and a port nobody listens on as a broker that is down). Every refused delivery is checked to
have stored nothing, and no answer is ever a 500.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from werkzeug.test import TestResponse

from models import Repository, WebhookDelivery, make_engine
from settings import Settings
from tests.conftest import DATA
from tests.servers import free_port
from webhook import create_app
from webhook.signature import sign
from worker.celery_app import make_celery
from worker.inbox.publish import Publisher
from worker.observability.logs import configure_logging
from worker.tasknames import DISCOVERY_TASK, PULL_REQUEST_TASK, QUEUE_NAME, RECONCILE_TASK

PAYLOADS = DATA / "github-payloads"
SECRET = b"It's a Secret to Everybody"
REPOS = "Codertocat/Hello-World,bkeepers-inc/test@bkeepers-patch-3"
PROBOT = PAYLOADS / "probot" / "push.json"
NEW_BRANCH = PAYLOADS / "octokit-webhooks" / "push" / "with-new-branch.payload.json"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

#: Every recorded payload and what the receiver must answer for it (with REPOS watched).
EXPECTED = {
    "octokit-webhooks/push/1.payload.json": ("push", 202, "ignored"),
    "octokit-webhooks/push/payload.json": ("push", 202, "ignored"),
    "octokit-webhooks/push/with-installation.payload.json": ("push", 202, "ignored"),
    "octokit-webhooks/push/with-organization.payload.json": ("push", 202, "ignored"),
    "octokit-webhooks/push/with-new-branch.payload.json": ("push", 202, "queued"),
    "octokit-webhooks/push/with-no-username-committer.payload.json": ("push", 202, "queued"),
    "octokit-webhooks/ping/payload.json": ("ping", 200, "pong"),
    "octokit-webhooks/ping/with-app_id.payload.json": ("ping", 200, "pong"),
    "octokit-webhooks/ping/with-organization.payload.json": ("ping", 200, "pong"),
    "probot/push.json": ("push", 202, "queued"),
    "octokit-webhooks/pull_request/opened.payload.json": ("pull_request", 202, "queued"),
    "octokit-webhooks/pull_request/synchronize.payload.json": ("pull_request", 202, "queued"),
    "octokit-webhooks/pull_request/reopened.payload.json": ("pull_request", 202, "queued"),
    "octokit-webhooks/pull_request/ready_for_review.with-installation.payload.json": (
        "pull_request",
        202,
        "queued",
    ),
    "octokit-webhooks/pull_request/closed.payload.json": ("pull_request", 202, "ignored"),
    # A GitHub App's installation changed: stored, and a discovery refresh queued.
    "octokit-webhooks/installation/created.payload.json": ("installation", 202, "queued"),
    "octokit-webhooks/installation/deleted.payload.json": ("installation", 202, "queued"),
    "octokit-webhooks/installation/suspend.payload.json": ("installation", 202, "queued"),
    "octokit-webhooks/installation_repositories/added.payload.json": (
        "installation_repositories",
        202,
        "queued",
    ),
    "octokit-webhooks/installation_repositories/removed.payload.json": (
        "installation_repositories",
        202,
        "queued",
    ),
}
#: Why an ignored payload is ignored, where it is not a tag push.
IGNORED_REASON = {"octokit-webhooks/pull_request/closed.payload.json": "unhandled_action"}
#: The task a queued delivery asks for, where it is not a reconcile.
QUEUED_TASK = {
    "pull_request": PULL_REQUEST_TASK,
    "installation": DISCOVERY_TASK,
    "installation_repositories": DISCOVERY_TASK,
}


def test_expected_covers_every_recorded_payload() -> None:
    found = {
        str(p.relative_to(PAYLOADS))
        for p in PAYLOADS.rglob("*.json")
        if "schemas" not in p.parts and p.name != "signature-vector.json"
    }
    assert found == set(EXPECTED)


def _settings(db_url: str, broker_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "celery_broker_url": broker_url,
        "github_webhook_secret": SECRET.decode(),
        "catalog_repos": REPOS,
    }
    values.update(overrides)
    return Settings(**values)


def _app(settings: Settings, engine: Engine) -> Flask:
    app = create_app(
        settings, engine, publisher=Publisher(make_celery(settings)), configure_logs=False
    )
    app.testing = True
    return app


@pytest.fixture
def client(db_url: str, engine: Engine, redis_url: str) -> Iterator[FlaskClient]:
    with _app(_settings(db_url, redis_url), engine).test_client() as c:
        yield c


@pytest.fixture
def queue_length(redis_url: str) -> Callable[[], int]:
    r = redis.Redis.from_url(redis_url)
    return lambda: int(r.llen(QUEUE_NAME))


def rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(WebhookDelivery)) or 0)


def statuses(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(WebhookDelivery.delivery_id, WebhookDelivery.status)).all())


def post(
    client: FlaskClient,
    body: bytes,
    *,
    event: str | None = "push",
    delivery: str | None = None,
    signature: str | None = "auto",
    secret: bytes = SECRET,
    content_type: str = JSON,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> TestResponse:
    sent: dict[str, str] = {"User-Agent": "GitHub-Hookshot/test", "X-GitHub-Hook-ID": "109948940"}
    if event is not None:
        sent["X-GitHub-Event"] = event
    if delivery != "":  # "" means: no such header
        sent["X-GitHub-Delivery"] = delivery or str(uuid.uuid4())
    if signature == "auto":
        sent["X-Hub-Signature-256"] = sign(secret, body)
    elif signature is not None:
        sent["X-Hub-Signature-256"] = signature
    sent.update(headers or {})
    response = client.post(
        "/webhooks/github", data=body, headers=sent, content_type=content_type, **kwargs
    )
    assert response.status_code != 500, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)
    return response


def _form(raw: bytes) -> bytes:
    return urlencode({"payload": raw.decode()}).encode()


@pytest.mark.parametrize("encoding", ["json", "form"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_recorded_payload(
    client: FlaskClient,
    engine: Engine,
    queue_length: Callable[[], int],
    name: str,
    encoding: str,
) -> None:
    event, code, status = EXPECTED[name]
    raw = (PAYLOADS / name).read_bytes()
    body, ctype = (raw, JSON) if encoding == "json" else (_form(raw), FORM)
    delivery = str(uuid.uuid4())
    response = post(client, body, event=event, delivery=delivery, content_type=ctype)
    assert (response.status_code, response.json["status"]) == (code, status), response.json
    if status == "queued":
        assert response.json["delivery_id"] == delivery
        assert statuses(engine) == {delivery: "queued"}
        assert queue_length() == 1
        message = json.loads(
            redis.Redis.from_url(
                client.application.extensions["catalog_sync"].settings.celery_broker_url
            ).lindex(QUEUE_NAME, 0)
        )
        assert message["headers"]["task"] == QUEUED_TASK.get(event, RECONCILE_TASK)
        assert message["content-type"] == "application/json"
    else:
        assert rows(engine) == 0
        assert queue_length() == 0
    if status == "ignored":
        assert response.json["reason"] == IGNORED_REASON.get(name, "tag")


def test_stored_row_carries_the_push(client: FlaskClient, engine: Engine) -> None:
    delivery = str(uuid.uuid4())
    assert post(client, PROBOT.read_bytes(), delivery=delivery).status_code == 202
    with engine.connect() as conn:
        row = conn.execute(select(WebhookDelivery)).one()
        repo = conn.execute(select(Repository)).one()
    assert row.delivery_id == delivery
    assert row.event == "push"
    assert row.repository_full_name == "bkeepers-inc/test"
    assert row.ref == "refs/heads/bkeepers-patch-3"
    assert row.before_sha == "f5cd85485562ec4b0855c77cf44ecbed40c8e689"
    assert row.after_sha == "738a951dba49dfec487000ef85ae80291d7ab32a"
    assert row.forced is False
    assert row.hook_id == 109948940
    assert row.repository_id == repo.id
    assert row.queued_at is not None
    assert (repo.full_name, repo.branch, repo.hook_id) == (
        "bkeepers-inc/test",
        "bkeepers-patch-3",
        109948940,
    )


def test_same_delivery_id_is_a_duplicate(
    client: FlaskClient, engine: Engine, queue_length: Callable[[], int]
) -> None:
    delivery = str(uuid.uuid4())
    body = NEW_BRANCH.read_bytes()
    assert post(client, body, delivery=delivery).status_code == 202
    again = post(client, _form(body), delivery=delivery, content_type=FORM)
    assert (again.status_code, again.json["status"]) == (200, "duplicate")
    assert rows(engine) == 1
    assert queue_length() == 1


def test_headers_are_case_insensitive(client: FlaskClient, engine: Engine) -> None:
    body = NEW_BRANCH.read_bytes()
    response = post(
        client,
        body,
        event=None,
        delivery="",
        signature=None,
        headers={
            "x-github-event": "push",
            "X-GITHUB-DELIVERY": "abc-123",
            "x-hub-signature-256": sign(SECRET, body),
        },
    )
    assert response.status_code == 202, response.json
    assert statuses(engine) == {"abc-123": "queued"}


def _probot(**changes: Any) -> bytes:
    data = json.loads(PROBOT.read_text())
    data.update(changes)
    return json.dumps(data, indent=2).encode()


@pytest.mark.parametrize(
    ("event", "body", "reason"),
    [
        ("issues", b'{"action": "opened"}', "unhandled_event"),
        ("push", _probot(ref="refs/heads/main"), "unwatched_branch"),
        ("push", _probot(ref="refs/tags/v1"), "tag"),
        ("push", _probot(deleted=True, after="0" * 40), "branch_deleted"),
        (
            "push",
            _probot(repository={"full_name": "someone/else", "default_branch": "main"}),
            "unwatched_repository",
        ),
    ],
)
def test_unwatched_pushes_are_ignored(
    client: FlaskClient, engine: Engine, event: str, body: bytes, reason: str
) -> None:
    response = post(client, body, event=event)
    assert (response.status_code, response.json) == (202, {"status": "ignored", "reason": reason})
    assert rows(engine) == 0


def test_default_branch_comes_from_the_payload(db_url: str, engine: Engine, redis_url: str) -> None:
    """`bkeepers-inc/test` with no branch watches its default branch (master), not the push's."""
    app = _app(_settings(db_url, redis_url, catalog_repos="bkeepers-inc/test"), engine)
    with app.test_client() as c:
        assert post(c, PROBOT.read_bytes()).json["reason"] == "unwatched_branch"
        assert post(c, _probot(ref="refs/heads/master")).json["status"] == "queued"


def test_unset_secret_refuses_everything(db_url: str, engine: Engine, redis_url: str) -> None:
    for secret in ("", " , "):
        app = _app(_settings(db_url, redis_url, github_webhook_secret=secret), engine)
        with app.test_client() as c:
            body = NEW_BRANCH.read_bytes()
            response = post(c, body, secret=b"")
            assert response.status_code == 503
            assert post(c, body, event="ping").status_code == 503
            health = c.get("/health")
            assert (health.status_code, health.json["webhook_secret"]) == (200, "missing")
    assert rows(engine) == 0


@pytest.mark.parametrize(
    "drop",
    [
        {"event": None},
        {"delivery": ""},
        {"event": "push push"},
        {"event": "PUSH\u00e9"},
        {"delivery": "x" * 101},
        {"delivery": "../etc;rm"},
    ],
)
def test_missing_or_bad_github_headers_are_400(
    client: FlaskClient, engine: Engine, drop: dict[str, Any]
) -> None:
    response = post(client, NEW_BRANCH.read_bytes(), **drop)
    assert response.status_code == 400
    assert rows(engine) == 0


def _hostile() -> dict[str, tuple[bytes, dict[str, Any], int]]:
    raw = NEW_BRANCH.read_bytes()
    reserialised = json.dumps(json.loads(raw)).encode()
    truncated = raw[: len(raw) // 2]
    latin1 = '{"ref": "é"}'.encode("latin-1")
    return {
        "no signature": (raw, {"signature": None}, 401),
        "sha1 only": (raw, {"signature": "sha1=" + "0" * 40}, 401),
        "sha1 and sha256 of another body": (
            raw,
            {"signature": sign(SECRET, b"other"), "headers": {"X-Hub-Signature": "sha1=00"}},
            401,
        ),
        "non-ascii signature": (raw, {"signature": "sha256=" + "é" * 64}, 401),
        "wrong secret": (raw, {"secret": b"guess"}, 401),
        "empty secret": (raw, {"secret": b""}, 401),
        "re-serialised json": (reserialised, {"signature": sign(SECRET, raw)}, 401),
        "truncated json, original signature": (truncated, {"signature": sign(SECRET, raw)}, 401),
        "truncated json, signed": (truncated, {}, 400),
        "not utf-8, signed": (latin1, {}, 400),
        "json array, signed": (b"[]", {}, 400),
        "empty body, signed": (b"", {}, 400),
        "form without payload, signed": (b"x=1", {"content_type": FORM}, 400),
        "form with broken json, signed": (b"payload=%7B", {"content_type": FORM}, 400),
        "push missing fields, signed": (b'{"ref": "refs/heads/master"}', {}, 400),
    }


HOSTILE = _hostile()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_is_refused_and_nothing_is_stored(
    client: FlaskClient, engine: Engine, queue_length: Callable[[], int], case: str
) -> None:
    body, options, code = HOSTILE[case]
    response = post(client, body, **options)
    assert response.status_code == code, response.json
    assert rows(engine) == 0
    assert queue_length() == 0


def test_oversize_bodies_are_413(db_url: str, engine: Engine, redis_url: str) -> None:
    app = _app(_settings(db_url, redis_url, max_webhook_bytes=1024), engine)
    big = NEW_BRANCH.read_bytes()
    assert len(big) > 1024
    with app.test_client() as c:
        assert post(c, big).status_code == 413
        # A lying Content-Length cannot smuggle more: refused before the body is read.
        small = b"{}"
        response = c.post(
            "/webhooks/github",
            input_stream=io.BytesIO(big),
            headers={
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": "chunked-1",
                "X-Hub-Signature-256": sign(SECRET, big),
                "Content-Type": JSON,
            },
            environ_overrides={"wsgi.input_terminated": True},
        )
        assert response.status_code == 413, response.json
        assert post(c, small, event="ping").status_code == 200
    assert rows(engine) == 0


def _padded(size: int) -> bytes:
    """A valid push of exactly `size` bytes (JSON allows trailing whitespace)."""
    raw = NEW_BRANCH.read_bytes().rstrip()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


@pytest.mark.parametrize("framing", ["content-length", "server-ended-length", "chunked"])
def test_the_body_limit_is_inclusive(
    db_url: str, engine: Engine, redis_url: str, framing: str
) -> None:
    """N-1 and N bytes are accepted, N+1 is 413, however the server frames the body: gunicorn
    ends every body itself (`wsgi.input_terminated`), a chunked body has no length."""
    limit = 10_000
    app = _app(_settings(db_url, redis_url, max_webhook_bytes=limit), engine)
    with app.test_client() as c:
        for size, code in ((limit - 1, 202), (limit, 202), (limit + 1, 413)):
            body = _padded(size)
            headers = {
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": f"{framing}-{size}",
                "X-Hub-Signature-256": sign(SECRET, body),
                "Content-Type": JSON,
            }
            if framing == "content-length":
                response = c.post("/webhooks/github", data=body, headers=headers)
            else:
                response = c.post(
                    "/webhooks/github",
                    input_stream=io.BytesIO(body),
                    headers=headers,
                    environ_overrides={"wsgi.input_terminated": True},
                    content_length=None if framing == "chunked" else len(body),
                )
            assert response.status_code == code, (size, response.json)
    assert rows(engine) == 2


def test_database_down_is_503(db_url: str, redis_url: str, tmp_path: Path) -> None:
    if db_url.startswith("sqlite"):
        down = f"sqlite:///{tmp_path / 'no-such-dir' / 'x.sqlite'}"
    else:
        down = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/x"
    engine = make_engine(down)
    with _app(_settings(down, redis_url), engine).test_client() as c:
        response = post(c, NEW_BRANCH.read_bytes())
        assert (response.status_code, response.json) == (
            503,
            {"status": "unavailable", "reason": "database"},
        )
        health = c.get("/health")
        assert health.status_code == 503
        assert health.json == {
            "status": "unavailable",
            "database": "down",
            "broker": "ok",
            "webhook_secret": "ok",
        }
        assert c.get("/metrics").status_code == 200
    engine.dispose()


def test_broker_down_still_202_and_row_stays_pending(db_url: str, engine: Engine) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    with _app(_settings(db_url, down), engine).test_client() as c:
        deliveries = [str(uuid.uuid4()) for _ in range(5)]
        for delivery in deliveries:
            response = post(c, NEW_BRANCH.read_bytes(), delivery=delivery)
            assert (response.status_code, response.json["status"]) == (202, "queued")
        assert statuses(engine) == dict.fromkeys(deliveries, "pending")
        health = c.get("/health")
        assert health.status_code == 503
        assert health.json == {
            "status": "unavailable",
            "database": "ok",
            "broker": "down",
            "webhook_secret": "ok",
        }


def test_health_ok(client: FlaskClient) -> None:
    response = client.get("/health")
    assert (response.status_code, response.json) == (
        200,
        {"status": "ok", "database": "ok", "broker": "ok", "webhook_secret": "ok"},
    )


def test_metrics_expose_receiver_and_inbox_figures(client: FlaskClient) -> None:
    post(client, NEW_BRANCH.read_bytes())
    post(client, b"{}", signature=None)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'catalog_sync_webhook_deliveries_total{event="push",outcome="queued"}' in text
    assert 'catalog_sync_webhook_deliveries_total{event="push",outcome="unauthorized"}' in text
    assert "catalog_sync_webhook_request_seconds_bucket" in text
    assert 'catalog_sync_inbox_deliveries{status="queued"} 1.0' in text
    assert 'catalog_sync_inbox_deliveries{status="dead"} 0.0' in text
    assert "catalog_sync_inbox_oldest_pending_age_seconds 0.0" in text
    assert 'catalog_sync_sync_lag_seconds{repository="Codertocat/Hello-World"} 0.0' in text
    assert "catalog_sync_metrics_db_up 1.0" in text


def test_unknown_routes_and_methods_answer_json(client: FlaskClient) -> None:
    assert client.get("/nope").status_code == 404
    response = client.get("/webhooks/github")
    assert response.status_code == 405
    assert response.is_json


def test_logs_are_json_and_carry_no_secret(client: FlaskClient) -> None:
    stream = io.StringIO()
    handler = configure_logging(secrets=[SECRET.decode()], stream=stream)
    try:
        body = NEW_BRANCH.read_bytes()
        signature = sign(SECRET, body)
        post(client, body, delivery="log-1")
        post(client, body, delivery="log-2", signature="sha256=" + "0" * 64)
        post(client, body, delivery="log-3", secret=b"")
    finally:
        import logging

        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    events = {(line["event"], line.get("delivery_id")) for line in lines}
    assert ("webhook.queued", "log-1") in events
    assert ("webhook.unauthorized", "log-2") in events
    queued = next(line for line in lines if line.get("delivery_id") == "log-1")
    assert queued["repository"] == "Codertocat/Hello-World"
    assert {"ts", "level", "event"} <= set(queued)
    text = stream.getvalue()
    assert signature.removeprefix("sha256=") not in text
    assert SECRET.decode() not in text


@pytest.mark.timeout(60)  # without the lock timeout the request would wait forever
def test_a_delivery_blocked_on_a_lock_answers_503_in_bounded_time(
    pg_url: str, redis_url: str
) -> None:
    """The receiver's own engine carries lock/statement timeouts: it never hangs GitHub."""
    from webhook import receiver_engine

    raw = PROBOT.read_bytes()
    settings = _settings(pg_url, redis_url)
    engine = receiver_engine(pg_url)
    holder = receiver_engine(pg_url).connect()
    try:
        holder.execute(
            WebhookDelivery.__table__.insert().values(
                delivery_id="held",
                event="push",
                status="pending",
                forced=False,
                attempts=0,
                received_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        )  # uncommitted: the same delivery id must wait on this transaction
        with _app(settings, engine).test_client() as c:
            answer = post(c, raw, delivery="held")
        assert answer.status_code == 503
        assert answer.get_json()["reason"] == "database"
    finally:
        holder.rollback()
        holder.close()
    engine.dispose()
