"""The receiver's side of discovery: installation deliveries, and pushes to discovered repos."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from models import Repository, WebhookDelivery, transaction
from tests.integration.test_webhook import (  # noqa: F401 - fixtures and helpers
    PAYLOADS,
    PROBOT,
    client,
    post,
    queue_length,
    rows,
)
from worker.tasknames import DISCOVERY_TASK, QUEUE_NAME

ADDED = PAYLOADS / "octokit-webhooks" / "installation_repositories" / "added.payload.json"


def test_an_installation_delivery_is_stored_once_and_queues_discovery(
    client: FlaskClient,  # noqa: F811
    engine: Engine,
    queue_length: Callable[[], int],  # noqa: F811
) -> None:
    delivery = str(uuid.uuid4())
    body = ADDED.read_bytes()
    first = post(client, body, event="installation_repositories", delivery=delivery)
    assert (first.status_code, first.json) == (202, {"status": "queued", "delivery_id": delivery})
    again = post(client, body, event="installation_repositories", delivery=delivery)
    assert (again.status_code, again.json["status"]) == (200, "duplicate")
    with engine.connect() as conn:
        row = conn.execute(select(WebhookDelivery)).one()
    assert (row.event, row.repository_full_name, row.repository_id, row.status) == (
        "installation_repositories",
        None,
        None,
        "queued",
    )
    assert queue_length() == 1
    broker = client.application.extensions["catalog_sync"].settings.celery_broker_url
    message = json.loads(redis.Redis.from_url(broker).lindex(QUEUE_NAME, 0))
    assert message["headers"]["task"] == DISCOVERY_TASK


@pytest.mark.parametrize(
    "change",
    [{"installation": None}, {"installation": {"id": "7"}}, {"action": 3}],
)
def test_a_malformed_installation_delivery_is_refused(
    client: FlaskClient,  # noqa: F811
    engine: Engine,
    change: dict[str, Any],
) -> None:
    data = {**json.loads(ADDED.read_text()), **change}
    response = post(client, json.dumps(data).encode(), event="installation_repositories")
    assert response.status_code == 400
    assert rows(engine) == 0


def _discovered(engine: Engine, name: str, state: str) -> None:
    with transaction(engine) as s:
        s.add(Repository(full_name=name, watch_source="discovered", state=state))


def _push_to(name: str) -> bytes:
    data = json.loads(PROBOT.read_text())
    data["repository"] = {
        **data["repository"],
        "full_name": name,
        "default_branch": "bkeepers-patch-3",
    }
    return json.dumps(data).encode()


def test_pushes_to_a_watched_discovered_repository_are_queued(
    client: FlaskClient,  # noqa: F811
    engine: Engine,
) -> None:
    _discovered(engine, "acme/found", "watched")
    _discovered(engine, "acme/left", "unwatched")
    queued = post(client, _push_to("acme/found"))
    assert (queued.status_code, queued.json["status"]) == (202, "queued")
    assert queued.json["repository"] == "acme/found"
    ignored = post(client, _push_to("acme/left"))
    assert (ignored.status_code, ignored.json) == (
        202,
        {"status": "ignored", "reason": "unwatched_repository"},
    )
    assert rows(engine) == 1
