"""Issue 16's "done when", on the production processes: a GitHub App and no `CATALOG_REPOS`.

Adding a repository to the App's installation (an `installation_repositories` delivery through
the real receiver, then the worker's discovery and reconcile) puts its items in the table within
seconds; taking it out marks it unwatched at once and retires its items after the grace period.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.procs import (
    BINDIR,
    ROOT,
    SECRET,
    Db,
    Stack,
    item_text,
    new_port,
    stack_env,
    wait_until,
)
from tests.fakes.github import FakeGitHub, rsa_key_pair
from tests.servers import PostgresServer, RedisServer, create_database

INSTALLATION_ID = 9090
FILES = {
    "skills/review/SKILL.md": item_text("review", "reviews code"),
    "tools/lint.yaml": "name: lint\n",
}


def _repos(env: dict[str, str]) -> dict[str, dict[str, object]]:
    proc = subprocess.run(
        [str(BINDIR / "catalog-sync"), "repos", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {r["repository"]: r for r in json.loads(proc.stdout)["repositories"]}


def test_installing_and_removing_a_repository(
    pg_server: PostgresServer,
    redis_server: RedisServer,
    fake_github: FakeGitHub,
    tmp_path: Path,
    figures: Callable[[str, str], None],
) -> None:
    private, public = rsa_key_pair()
    fake_github.register_app(4242, public, installation_id=INSTALLATION_ID)
    for name in ("acme/platform", "acme/new-catalog"):
        repo = fake_github.create_repo(name)
        repo.write_many(dict(FILES))
        repo.commit("catalog")
        repo.push()
    fake_github.select_installed(["acme/platform"])
    create_database(pg_server.url(), "catalog")
    db_url = pg_server.url("catalog")
    env = stack_env(
        db_url,
        redis_server.url(),
        fake_github.api_url,
        fake_github.token,
        CATALOG_REPOS="",
        GITHUB_APP_ID="4242",
        GITHUB_APP_PRIVATE_KEY=private,
        GITHUB_APP_INSTALLATION_ID=str(INSTALLATION_ID),
        RETIRE_AFTER_SECONDS="3",
    )
    stack = Stack(tmp=tmp_path, env=env, port=new_port(), db_url=db_url)
    db = Db(db_url)
    try:
        stack.migrate()
        stack.start("webhook")
        worker = stack.start("worker")
        stack.start("beat")
        stack.wait_healthy()
        stack.wait_worker_ready(worker)
        fake_github.add_hook(None, stack.webhook_url, SECRET)

        started = time.monotonic()
        added = fake_github.install_repositories(["acme/new-catalog"])
        assert added is not None
        wait_until(lambda: len(db.live_tree("acme/new-catalog")) == 2, 30, what="items synced")
        took = time.monotonic() - started
        assert added.status_code == 202, added.response_body
        assert db.delivery_status(added.guid) == "done"
        assert len(db.live_tree("acme/platform")) == 2  # the whole installation was discovered
        figures(
            "installed", f"items of a newly installed repository in the table after {took:.1f} s"
        )

        fake_github.uninstall_repositories(["acme/new-catalog"])
        wait_until(
            lambda: _repos(env)["acme/new-catalog"]["state"] != "watched", 30, what="unwatched"
        )
        left = _repos(env)["acme/new-catalog"]
        assert left["reason"] == "removed from the App installation"
        wait_until(lambda: db.live_tree("acme/new-catalog") == {}, 30, what="items retired")
        retired = _repos(env)["acme/new-catalog"]
        assert (retired["state"], retired["source"], retired["items"]) == (
            "retired",
            "discovered",
            0,
        )
        runs = db.runs("acme/new-catalog")
        assert [(r["trigger"], r["deleted"]) for r in runs if r["trigger"] == "retire"] == [
            ("retire", 2)
        ]
        assert len(db.live_tree("acme/platform")) == 2
    finally:
        stack.stop_all()
        db.close()
    assert not stack.leftovers()
