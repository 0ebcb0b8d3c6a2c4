"""A synced commit gets its verdict on GitHub (issue 15), on SQLite and PostgreSQL.

The reconcile task runs in this process against the fake GitHub; what it posted is read back
from the fake exactly as sent.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

from models import FeedbackReport, SyncRun, session_factory
from tests.fakes.github import FakeGitHub, FakeRepo
from tests.integration.worker_env import WorkerEnv
from worker.cli.render import status_doc
from worker.cli.views import live_items, repo_statuses
from worker.feedback.report import report_synced_commit
from worker.github.client import GitHubClient
from worker.observability.metrics import make_registry, render
from worker.sync.layout import CatalogRules
from worker.sync.reconcile import Options, ReconcileRequest, reconcile

REPO = "acme/catalog"
#: A YAML error the parser places at line 5, column 6 of the file (the `:` after `bad`).
BROKEN = "---\nname: broken\ndescription: fine\ntags: x\n  bad: y\n---\nbody\n"


def item(name: str) -> str:
    return f"---\nname: {name}\ndescription: the {name} skill\n---\n"


def catalog(n: int) -> dict[str, str | bytes]:
    return {f"skills/s{i:02d}.md": item(f"s{i:02d}") for i in range(n)}


def reports(engine: Engine) -> list[FeedbackReport]:
    with session_factory(engine)() as session:
        return list(session.execute(select(FeedbackReport).order_by(FeedbackReport.id)).scalars())


def metrics(engine: Engine) -> str:
    return render(make_registry(engine)).decode()


def test_one_broken_file_among_many_gets_one_check_run_annotation(
    worker_env: WorkerEnv, engine: Engine, make_repo: Any, fake_github: FakeGitHub
) -> None:
    worker_env.configure(app=True)
    repo: FakeRepo = make_repo(REPO, {**catalog(30), "skills/broken.md": BROKEN})
    worker_env.reconcile()

    assert len(live_items(engine, REPO)) == 30  # the others synced
    (run,) = fake_github.check_runs_for(REPO, repo.head)
    assert (run.name, run.status, run.conclusion) == ("catalog-sync", "completed", "failure")
    (annotation,) = run.annotations
    message = annotation["message"]
    assert annotation == {
        "path": "skills/broken.md",
        "start_line": 5,
        "end_line": 5,
        "start_column": 6,
        "end_column": 6,
        "annotation_level": "failure",
        "message": message,
    }
    assert message.startswith("invalid YAML at line 5, column 6: mapping values are not allowed")
    assert run.title == (
        "1 catalog file not synced: 30 added, 0 updated, 0 moved, 0 deleted, 1 error"
    )
    assert "skills/broken.md" in (run.summary or "")

    # The same commit again (a redelivery, the next poll): no second verdict.
    worker_env.reconcile(trigger="poll")
    assert len(fake_github.check_runs_for(REPO)) == 1
    (status,) = repo_statuses(engine)
    assert status.verdict is not None
    assert (status.verdict.head_sha, str(status.verdict)) == (repo.head, "failure (checks posted)")
    assert status_doc(status)["verdict"]["conclusion"] == "failure"

    # Fixed: the next commit gets a passing check.
    repo.write("skills/broken.md", item("broken"))
    repo.commit("fix")
    repo.push()
    worker_env.reconcile()
    (fixed,) = fake_github.check_runs_for(REPO, repo.head)
    assert (fixed.conclusion, fixed.annotations) == ("success", [])
    assert len(live_items(engine, REPO)) == 31


def test_more_than_fifty_broken_files_are_annotated_in_batches_of_fifty(
    worker_env: WorkerEnv, engine: Engine, make_repo: Any, fake_github: FakeGitHub
) -> None:
    worker_env.configure(app=True)
    broken = {f"tools/t{i:03d}.yaml": f"name: t{i}\n  bad: indent\n" for i in range(120)}
    repo = make_repo(REPO, {**catalog(3), **broken})
    worker_env.reconcile()
    (run,) = fake_github.check_runs_for(REPO, repo.head)
    sent = [
        (method, len(body["output"].get("annotations", [])), body["status"])
        for method, body in run.requests
    ]
    assert sent == [
        ("POST", 50, "in_progress"),
        ("PATCH", 50, "in_progress"),
        ("PATCH", 20, "completed"),
    ]
    assert run.requests[-1][1]["conclusion"] == "failure"
    assert [a["path"] for a in run.annotations] == sorted(broken)
    assert {(a["start_line"], a["start_column"]) for a in run.annotations} == {(2, 6)}
    (report,) = reports(engine)
    assert (report.annotations, report.outcome, report.check_run_id) == (120, "posted", run.id)


def test_a_refused_check_run_leaves_the_reconcile_successful_and_is_counted(
    worker_env: WorkerEnv, engine: Engine, make_repo: Any, fake_github: FakeGitHub
) -> None:
    worker_env.configure(app=True)
    repo = make_repo(REPO, catalog(5))
    fake_github.fail_next(1, 403, path="/check-runs$", method="POST")
    summary = worker_env.reconcile()
    assert summary.startswith(f"{REPO}: success: 5 added")
    assert len(live_items(engine, REPO)) == 5
    with session_factory(engine)() as session:
        assert session.execute(select(SyncRun.outcome)).scalars().all() == ["success"]
    (report,) = reports(engine)
    assert (report.method, report.outcome, report.head_sha) == ("checks", "failed", repo.head)
    assert "403" in (report.error or "")
    assert fake_github.check_runs_for(REPO) == []
    text = metrics(engine)
    assert 'catalog_sync_feedback_total{kind="checks",outcome="failed"} 1.0' in text
    assert 'catalog_sync_feedback_total{kind="checks",outcome="posted"} 0.0' in text
    # Not retried by every poll: the commit has its (failed) verdict.
    worker_env.reconcile(trigger="poll")
    assert fake_github.count("/check-runs", method="POST") == 1
    assert len(reports(engine)) == 1


def test_token_auth_gets_a_commit_status_with_the_summary(
    worker_env: WorkerEnv, engine: Engine, make_repo: Any, fake_github: FakeGitHub
) -> None:
    link = "https://catalog.example.com/{repository}/commits/{sha}"
    worker_env.configure(app=False, CATALOG_FEEDBACK_URL=link)
    repo = make_repo(REPO, {**catalog(4), "skills/broken.md": BROKEN})
    worker_env.reconcile()
    (status,) = fake_github.statuses_for(REPO, repo.head)
    assert (status.state, status.context) == ("failure", "catalog-sync")
    assert status.description == (
        "1 catalog file not synced: 4 added, 0 updated, 0 moved, 0 deleted, 1 error"
    )
    assert status.target_url == f"https://catalog.example.com/{REPO}/commits/{repo.head}"
    assert fake_github.check_runs_for(REPO) == []
    assert 'catalog_sync_feedback_total{kind="status",outcome="posted"} 1.0' in metrics(engine)


def test_feedback_off_posts_nothing_and_status_still_shows_the_verdict(
    worker_env: WorkerEnv, engine: Engine, make_repo: Any, fake_github: FakeGitHub
) -> None:
    worker_env.configure(app=True, GITHUB_FEEDBACK="off")
    make_repo(REPO, catalog(2))
    worker_env.reconcile()
    assert fake_github.check_runs_for(REPO) == [] and fake_github.statuses_for(REPO) == []
    (status,) = repo_statuses(engine)
    assert str(status.verdict) == "success (off)"


@pytest.mark.parametrize("status_code", [502, 404, 422])
def test_a_failing_post_is_bounded_and_never_raises(
    engine: Engine,
    make_repo: Any,
    fake_github: FakeGitHub,
    github_client: GitHubClient,
    monkeypatch: pytest.MonkeyPatch,
    status_code: int,
) -> None:
    from settings import Settings
    from worker.github.source import GitHubSource

    make_repo(REPO, catalog(2))
    options = Options(rules=CatalogRules(roots={"skills": "skill"}))
    result = reconcile(
        engine, REPO, GitHubSource(github_client, REPO), options, ReconcileRequest("test")
    )
    fake_github.fail_next(100, status_code, path="/statuses/")
    settings = Settings(github_token="x", database_url="sqlite://")
    posted = report_synced_commit(engine, settings, lambda: github_client, result)
    assert posted is not None and posted.outcome == "failed"
    attempts = fake_github.count("/statuses/", method="POST")
    assert attempts == (github_client.retry.attempts if status_code >= 500 else 1)
