"""Pull requests get a verdict before they are merged (issue 15), on SQLite and PostgreSQL.

A signed `pull_request` delivery goes to the receiver, which stores it and queues the
validation on a real Redis; the queued task runs here with the kwargs the receiver sent, its
verdict is read back from the fake GitHub, and no catalog row moves.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from models import CatalogFileError, CatalogItem, SyncRun, WebhookDelivery, session_factory
from settings import Settings
from tests.fakes.github import FakeGitHub, FakeRepo
from tests.integration.worker_env import WorkerEnv
from webhook import create_app
from worker.celery_app import make_celery
from worker.inbox.publish import Publisher
from worker.tasknames import PULL_REQUEST_TASK, QUEUE_NAME

REPO = "acme/catalog"
SECRET = "pull-request-secret"
BROKEN = "---\nname: broken\ndescription: fine\ntags: x\n  bad: y\n---\nbody\n"


def item(name: str) -> str:
    return f"---\nname: {name}\ndescription: the {name} item\n---\n"


def catalog() -> dict[str, str | bytes]:
    return {
        **{f"skills/s{i}.md": item(f"s{i}") for i in range(4)},
        "skills/pdf/extract.md": item("extract"),
        "tools/lint.yaml": "name: lint\n",
    }


def rows(engine: Engine) -> tuple[dict[str, tuple[str, str]], int, int]:
    """Every catalog row (live or not) with its name and blob, and the run and error counts."""
    with session_factory(engine)() as s:
        items = {i.git_path: (i.name, i.blob_sha) for i in s.execute(select(CatalogItem)).scalars()}
        runs = s.execute(select(func.count()).select_from(SyncRun)).scalar_one()
        errors = s.execute(select(func.count()).select_from(CatalogFileError)).scalar_one()
    return items, runs, errors


def branch(repo: FakeRepo, name: str, files: dict[str, str], delete: tuple[str, ...] = ()) -> str:
    repo.checkout(name, create=name not in (repo.branch,) and repo.ref(name) is None)
    repo.write_many(dict(files))
    for path in delete:
        repo.delete(path)
    repo.commit(f"change on {name}")
    return repo.push(name)


@pytest.fixture
def receiver(db_url: str, engine: Engine, redis_url: str) -> Iterator[FlaskClient]:
    settings = Settings(
        database_url=db_url,
        celery_broker_url=redis_url,
        github_webhook_secret=SECRET,
        catalog_repos=REPO,
    )
    app = create_app(
        settings, engine, publisher=Publisher(make_celery(settings)), configure_logs=False
    )
    with app.test_client() as client:
        yield client


def take_message(redis_url: str) -> tuple[str, dict[str, Any]]:
    """The oldest queued task: its name and kwargs, as a worker would receive them."""
    raw = redis.Redis.from_url(redis_url).rpop(QUEUE_NAME)
    assert raw is not None, "nothing was queued"
    message = json.loads(raw)
    _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    return message["headers"]["task"], kwargs


def deliver(
    client: FlaskClient, fake: FakeGitHub, pr: Any, action: str, guid: str = "", **kw: Any
) -> Any:
    guid = guid or str(uuid.uuid4())
    body, headers = fake.signed_pull_request(pr, action, SECRET, guid, **kw)
    response = client.post("/webhooks/github", data=body, headers=headers)
    return response.status_code, response.get_json(), guid


def test_a_breaking_pull_request_fails_its_check_and_the_fix_passes(
    worker_env: WorkerEnv,
    engine: Engine,
    redis_url: str,
    receiver: FlaskClient,
    make_repo: Any,
    fake_github: FakeGitHub,
) -> None:
    worker_env.configure(app=True, CELERY_BROKER_URL=redis_url)
    repo = make_repo(REPO, catalog())
    worker_env.reconcile()
    synced = rows(engine)

    branch(repo, "edit", {"skills/s1.md": BROKEN, "skills/new.md": item("new")})
    pr = fake_github.open_pull_request(repo, "edit")
    code, answer, guid = deliver(receiver, fake_github, pr, "opened")
    assert (code, answer["status"], answer["delivery_id"]) == (202, "queued", guid)
    task, kwargs = take_message(redis_url)
    assert (task, kwargs) == (
        PULL_REQUEST_TASK,
        {"full_name": REPO, "number": pr.number, "delivery_id": guid},
    )
    again = deliver(receiver, fake_github, pr, "opened", guid)  # GitHub redelivering it
    assert again[:2] == (200, {"status": "duplicate", "delivery_id": guid})
    assert redis.Redis.from_url(redis_url).llen(QUEUE_NAME) == 0

    worker_env.validate(**kwargs)
    (run,) = fake_github.check_runs_for(REPO, pr.head_sha)
    assert (run.conclusion, run.title) == ("failure", "1 problem in 1 catalog file")
    assert [(a["path"], a["start_line"], a["start_column"]) for a in run.annotations] == [
        ("skills/s1.md", 5, 6)
    ]
    assert rows(engine) == synced  # no row written
    with session_factory(engine)() as s:
        stored = s.execute(
            select(WebhookDelivery).where(WebhookDelivery.delivery_id == guid)
        ).scalar_one()
    assert (stored.event, stored.ref, stored.after_sha, stored.status) == (
        "pull_request",
        f"refs/pull/{pr.number}/head",
        run.head_sha,
        "done",
    )
    worker_env.validate(**kwargs)  # the same head again: no second check run
    assert len(fake_github.check_runs_for(REPO, pr.head_sha)) == 1

    broken_head = pr.head_sha
    branch(repo, "edit", {"skills/s1.md": item("s1, fixed")})
    code, answer, guid = deliver(receiver, fake_github, pr, "synchronize", before=broken_head)
    assert (code, answer["status"]) == (202, "queued")
    task, kwargs = take_message(redis_url)
    worker_env.validate(**kwargs)
    (fixed,) = fake_github.check_runs_for(REPO, pr.head_sha)
    assert (fixed.conclusion, fixed.title, fixed.annotations) == (
        "success",
        "2 changed catalog files valid",
        [],
    )
    assert rows(engine) == synced


def test_deliveries_that_start_no_validation_are_ignored(
    engine: Engine, receiver: FlaskClient, make_repo: Any, fake_github: FakeGitHub
) -> None:
    repo = make_repo(REPO, catalog())
    branch(repo, "release", {"skills/x.md": item("x")})
    branch(repo, "topic", {"skills/y.md": item("y")})
    into_release = fake_github.open_pull_request(repo, "topic", base_ref="release")
    closed = fake_github.open_pull_request(repo, "topic")
    fake_github.close_pull_request(closed)
    assert deliver(receiver, fake_github, into_release, "opened")[:2] == (
        202,
        {"status": "ignored", "reason": "unwatched_branch"},
    )
    assert deliver(receiver, fake_github, closed, "closed")[:2] == (
        202,
        {"status": "ignored", "reason": "unhandled_action"},
    )
    with session_factory(engine)() as s:
        assert s.execute(select(func.count()).select_from(WebhookDelivery)).scalar_one() == 0


def test_cross_file_problems_fail_the_check(
    worker_env: WorkerEnv, engine: Engine, make_repo: Any, fake_github: FakeGitHub
) -> None:
    worker_env.configure(app=True)
    repo = make_repo(REPO, catalog())
    worker_env.reconcile()
    synced = rows(engine)
    branch(
        repo,
        "risky",
        {
            "skills/pdf/SKILL.md": item("pdf"),  # swallows the live skills/pdf/extract.md
            "skills/pdf/deep/SKILL.md": item("deep"),  # a manifest inside an item folder
            "skills/again.md": item("S2"),  # the name of the live skills/s2.md
        },
    )
    pr = fake_github.open_pull_request(repo, "risky")
    worker_env.validate(REPO, pr.number)
    (run,) = fake_github.check_runs_for(REPO, pr.head_sha)
    assert run.conclusion == "failure"
    found = {(a["path"], a["start_line"]): a["message"] for a in run.annotations}
    assert set(found) == {
        ("skills/pdf/SKILL.md", 1),
        ("skills/pdf/deep/SKILL.md", 1),
        ("skills/again.md", 2),
    }
    assert "`skills/pdf/extract.md` (the skill 'extract'" in found[("skills/pdf/SKILL.md", 1)]
    assert "inside the item folder `skills/pdf/`" in found[("skills/pdf/deep/SKILL.md", 1)]
    assert "the skill `skills/s2.md`" in found[("skills/again.md", 2)]
    assert rows(engine) == synced


def test_forks_are_read_from_the_head_repository_or_skipped_with_the_reason(
    worker_env: WorkerEnv, make_repo: Any, fake_github: FakeGitHub
) -> None:
    worker_env.configure(app=True)
    repo = make_repo(REPO, catalog())
    worker_env.reconcile()
    public = fake_github.fork(repo, "friend")
    branch(public, "idea", {"mcps/new.json": '{"name": "new", "tags": "a,b"}'})
    readable = fake_github.open_pull_request(repo, "idea", head=public)
    worker_env.validate(REPO, readable.number)
    (ok,) = fake_github.check_runs_for(REPO, readable.head_sha)
    assert (ok.conclusion, ok.title) == ("success", "1 changed catalog file valid")

    hidden = fake_github.fork(repo, "stranger", private_to={"stranger"})
    branch(hidden, "idea", {"skills/s0.md": BROKEN})
    unreadable = fake_github.open_pull_request(repo, "idea", head=hidden)
    worker_env.validate(REPO, unreadable.number)
    (skipped,) = fake_github.check_runs_for(REPO, unreadable.head_sha)
    assert skipped.conclusion == "skipped"
    assert skipped.title is not None
    assert skipped.title.startswith(
        "Not validated: `stranger/catalog` cannot be read with catalog-sync's credentials"
    )


def test_token_auth_gets_a_commit_status_and_closed_pull_requests_get_nothing(
    worker_env: WorkerEnv, make_repo: Any, fake_github: FakeGitHub
) -> None:
    worker_env.configure(app=False)
    repo = make_repo(REPO, catalog())
    branch(repo, "edit", {"tools/lint.yaml": "name: [oops\n"})
    pr = fake_github.open_pull_request(repo, "edit")
    assert worker_env.validate(REPO, pr.number).endswith("(status posted)")
    (status,) = fake_github.statuses_for(REPO, pr.head_sha)
    assert (status.state, status.context, status.description) == (
        "failure",
        "catalog-sync",
        "1 problem in 1 catalog file",
    )
    fake_github.close_pull_request(pr)
    branch(repo, "edit", {"tools/lint.yaml": "name: lint, again\n"})
    assert worker_env.validate(REPO, pr.number).endswith("not validated (closed)")
    assert len(fake_github.statuses_for(REPO)) == 1


def test_a_pull_request_delivery_requeued_as_a_reconcile_is_validated(
    worker_env: WorkerEnv, engine: Engine, redis_url: str, make_repo: Any, fake_github: FakeGitHub
) -> None:
    """The sweeper and `redeliver` queue a reconcile for a stored delivery: for a pull
    request's, the task hands it to the validation instead of syncing the branch."""
    from worker.inbox.store import DeliveryIn, store_delivery

    worker_env.configure(app=True, CELERY_BROKER_URL=redis_url)
    make_repo(REPO, catalog())
    store_delivery(
        engine,
        DeliveryIn("pr-1", "pull_request", REPO, ref="refs/pull/3/head", after_sha="a" * 40),
    )
    assert worker_env.reconcile(delivery_id="pr-1") == f"{REPO}#3: validation queued"
    task, kwargs = take_message(redis_url)
    assert (task, kwargs) == (
        PULL_REQUEST_TASK,
        {"full_name": REPO, "number": 3, "delivery_id": "pr-1"},
    )
    assert rows(engine)[1] == 0  # no sync ran
