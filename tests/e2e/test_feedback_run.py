"""Issue 15's "done when", on the embedded defaults: `catalog-sync run` as a GitHub App.

A fresh working directory (SQLite, the embedded broker), App credentials on the fake GitHub,
its webhook pointed at the command. A push with one broken file among many gets one check run
annotating that file's line and column while the others sync; a pull request that breaks a
file gets a failing check and changes no row; the same pull request fixed gets a passing one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.procs import BINDIR, REPO, SECRET, http_request, item_text, new_port, wait_until
from tests.fakes.github import CheckRun, FakeGitHub, rsa_key_pair

pytestmark = pytest.mark.e2e

#: Parsed as a YAML error at line 5, column 6 (the `:` after `bad`).
BROKEN = "---\nname: broken\ndescription: fine\ntags: x\n  bad: y\n---\nbody\n"


@pytest.fixture
def running(fake_github: FakeGitHub, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """`catalog-sync run` in a fresh folder, as a GitHub App; (port, its SQLite file)."""
    private, public = rsa_key_pair()
    fake_github.register_app(31337, public, installation_id=55)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CATALOG_", "GITHUB_", "PROMETHEUS_"))
        and k not in ("DATABASE_URL", "CELERY_BROKER_URL", "PYTHONPATH")
    }
    env.update(
        GITHUB_API_URL=fake_github.api_url,
        GITHUB_APP_ID="31337",
        GITHUB_APP_PRIVATE_KEY=private,
        GITHUB_APP_INSTALLATION_ID="55",
        GITHUB_WEBHOOK_SECRET=SECRET,
        CATALOG_REPOS=REPO,
        PYTHONUNBUFFERED="1",
    )
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    port = new_port()
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        [str(BINDIR / "catalog-sync"), "run", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: http_request(port, "GET", "/health")[0] == 200, 90, 0.2, "/health")
        yield port, workdir / "catalog-sync.sqlite"
    except BaseException:
        print((tmp_path / "run.log").read_text(errors="replace")[-6000:], flush=True)
        raise
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def rows(db: Path) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        found = conn.execute(
            "SELECT git_path, blob_sha FROM catalog_items WHERE deleted_at IS NULL"
        ).fetchall()
    return dict(found)


def check_run(fake: FakeGitHub, sha: str, what: str) -> CheckRun:
    def completed() -> CheckRun | None:
        runs = [r for r in fake.check_runs_for(REPO, sha) if r.status == "completed"]
        return runs[0] if runs else None

    return wait_until(completed, 60, 0.1, what)


def test_push_and_pull_request_verdicts_on_the_embedded_defaults(
    fake_github: FakeGitHub, running: tuple[int, Path]
) -> None:
    port, db = running
    repo = fake_github.create_repo(REPO)
    fake_github.add_hook(REPO, f"http://127.0.0.1:{port}/webhooks/github", SECRET)
    good = {f"skills/s{i:02d}.md": item_text(f"s{i:02d}", "a good one") for i in range(20)}
    repo.write_many({**good, "skills/broken.md": BROKEN})
    repo.commit("catalog")
    head = repo.push()

    pushed = check_run(fake_github, head, "the check run on the pushed commit")
    assert pushed.conclusion == "failure"
    assert [(a["path"], a["start_line"], a["start_column"]) for a in pushed.annotations] == [
        ("skills/broken.md", 5, 6)
    ]
    synced = wait_until(lambda: len(r := rows(db)) == 20 and r, 30, 0.1, "the 20 good rows")
    assert set(synced) == set(good)

    repo.checkout("edit", create=True)
    repo.write("skills/s03.md", BROKEN)
    repo.commit("break s03")
    repo.push("edit")
    pr = fake_github.open_pull_request(repo, "edit")
    failing = check_run(fake_github, pr.head_sha, "the check run on the pull request")
    assert failing.conclusion == "failure"
    assert [(a["path"], a["start_line"]) for a in failing.annotations] == [("skills/s03.md", 5)]

    repo.write("skills/s03.md", item_text("s03", "fixed in the pull request"))
    repo.commit("fix s03")
    repo.push("edit")  # the fake sends `synchronize`
    passing = check_run(fake_github, pr.head_sha, "the check run on the fixed head")
    assert (passing.conclusion, passing.annotations) == ("success", [])
    assert rows(db) == synced  # the pull request wrote no row
