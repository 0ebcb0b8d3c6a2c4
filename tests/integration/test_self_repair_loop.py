"""Self-repair end to end: a delivery GitHub failed to make is redelivered and stored."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select
from werkzeug.serving import make_server

from models import Repository, WebhookDelivery, session_factory
from settings import Settings
from tests.fakes.github import FakeGitHub
from webhook import create_app
from worker import composition

SECRET = "s3cret-for-self-repair"


@pytest.fixture
def receiver_url(pg_engine: Engine, redis_url: str) -> Iterator[str]:
    settings = Settings(
        database_url=str(pg_engine.url.render_as_string(hide_password=False)),
        celery_broker_url=redis_url,
        github_webhook_secret=SECRET,  # type: ignore[arg-type]
        catalog_repos="acme/catalog",  # type: ignore[arg-type]
    )
    app = create_app(settings, pg_engine, configure_logs=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/webhooks/github"
    server.shutdown()


def test_failed_delivery_is_redelivered_by_the_self_repair_task(
    pg_engine: Engine,
    redis_url: str,
    receiver_url: str,
    fake_github: FakeGitHub,
    make_repo: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = make_repo("acme/catalog", {"skills/a.md": "---\nname: a\n---\n"}, push=False)
    hook = repo.add_hook(receiver_url, SECRET)
    repo.push()  # delivered: the receiver learns the hook id
    fake_github.wait_for_deliveries(1)
    fake_github.fail_deliveries(1)  # the next one fails (say, our receiver was down)
    repo.write("skills/b.md", "---\nname: b\n---\n")
    repo.commit("b")
    repo.push()
    fake_github.wait_for_deliveries(2)
    failed = fake_github.deliveries_for(hook.hook_id)[-1]
    assert failed.status_code != 202

    with session_factory(pg_engine)() as s:
        assert s.scalar(select(Repository.hook_id)) == hook.hook_id
        stored = set(s.scalars(select(WebhookDelivery.delivery_id)))
    assert failed.guid not in stored

    env = {
        "DATABASE_URL": pg_engine.url.render_as_string(hide_password=False),
        "CELERY_BROKER_URL": redis_url,
        "GITHUB_API_URL": fake_github.api_url,
        "GITHUB_TOKEN": fake_github.token,
        "CATALOG_REPOS": "acme/catalog",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    composition.reset()
    from worker.tasks import self_repair_task

    try:
        redelivered = self_repair_task.apply().get()
    finally:
        composition.reset()
    assert redelivered == 1
    fake_github.wait_for_deliveries(3)
    with session_factory(pg_engine)() as s:
        stored = set(s.scalars(select(WebhookDelivery.delivery_id)))
    assert failed.guid in stored  # GitHub keeps the GUID on a redelivery
