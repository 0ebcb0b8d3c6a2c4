"""`.catalog-sync.yml` through a real reconcile from the fake GitHub, on SQLite and PostgreSQL.

A monorepo keeps its catalog under `platform/catalog/`; the file is read once per blob SHA; an
invalid one refuses the run (rows untouched, a file error visible in `status`); a change of
roots re-plans the whole tree but reads only blobs the table does not have.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from models import CatalogFileError, Repository, session_factory
from tests.fakes.github import FakeGitHub, FakeRepo
from worker.cli.views import file_errors, live_items, repo_statuses
from worker.github.client import GitHubClient
from worker.github.source import GitHubSource
from worker.repoconfig.parse import CONFIG_PATH
from worker.sync.layout import CatalogRules
from worker.sync.reconcile import Options, ReconcileRequest, Result, reconcile

OPTIONS = Options(rules=CatalogRules(roots={"skills": "skill", "mcps": "mcp", "tools": "tool"}))
REPO = "acme/monorepo"
CONFIG = """\
# where this repository keeps its catalog
roots:
  platform/catalog/skills: skill
  platform/catalog/tools: tool
ignore:
  - "**/drafts"
"""


def item(name: str) -> str:
    return f"---\nname: {name}\n---\nbody\n"


FILES = {
    CONFIG_PATH: CONFIG,
    "platform/catalog/skills/pdf/SKILL.md": item("pdf"),
    "platform/catalog/skills/pdf/guide.md": "an asset",
    "platform/catalog/skills/review.md": item("review"),
    "platform/catalog/skills/drafts/wip.md": "not yet an item",
    "platform/catalog/tools/lint.yaml": "name: lint\n",
    "platform/catalog/mcps/github.json": '{"name": "github"}',
    "skills/top-level.md": item("top-level"),  # CATALOG_ROOTS, overridden here
    "services/api/main.py": "print('hello')\n",
}


def sync(engine: Engine, client: GitHubClient) -> Result:
    return reconcile(engine, REPO, GitHubSource(client, REPO), OPTIONS, ReconcileRequest("test"))


def items(engine: Engine) -> dict[str, str]:
    return {i.git_path: str(i.type) for i in live_items(engine, REPO)}


def push(repo: FakeRepo, files: dict[str, str], message: str) -> None:
    repo.write_many(dict(files))
    repo.commit(message)
    repo.push()


def blob_reads(fake: FakeGitHub) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in fake.requests_matching("/git/blobs/")]


def test_a_monorepo_syncs_through_its_configuration(
    engine: Engine, make_repo: Any, fake_github: FakeGitHub, github_client: GitHubClient
) -> None:
    repo = make_repo(REPO, FILES)
    result = sync(engine, github_client)
    assert result.outcome == "success", result.error
    assert items(engine) == {
        "platform/catalog/skills/pdf/SKILL.md": "skill",
        "platform/catalog/skills/review.md": "skill",
        "platform/catalog/tools/lint.yaml": "tool",
    }
    with session_factory(engine)() as s:
        row = s.execute(select(Repository).where(Repository.full_name == REPO)).scalar_one()
    assert row.config_sha == repo.blob_sha_at(CONFIG_PATH)
    assert row.config == {
        "roots": {"platform/catalog/skills": "skill", "platform/catalog/tools": "tool"},
        "ignore": ["**/drafts"],
    }

    # Another commit, same configuration: only the changed item is read, not the file again.
    fake_github.reset_log()
    push(repo, {"platform/catalog/skills/review.md": item("review v2")}, "edit")
    assert sync(engine, github_client).counts.updated == 1
    assert blob_reads(fake_github) == [repo.blob_sha_at("platform/catalog/skills/review.md")]


def test_an_invalid_configuration_refuses_the_run_until_fixed(
    engine: Engine, make_repo: Any, fake_github: FakeGitHub, github_client: GitHubClient
) -> None:
    repo = make_repo(REPO, FILES)
    sync(engine, github_client)
    before = items(engine)
    push(
        repo,
        {
            CONFIG_PATH: "roots:\n  platform/catalog/skills: widget\n",
            "platform/catalog/skills/new.md": item("new"),
        },
        "break the configuration",
    )
    refused = sync(engine, github_client)
    assert refused.outcome == "refused"
    assert refused.error is not None and refused.error.startswith(
        ".catalog-sync.yml: line 2, column 28: type 'widget'"
    )
    assert items(engine) == before  # rows untouched: not even the new item
    [error] = file_errors(engine)
    assert (error.repository, error.git_path) == (REPO, CONFIG_PATH)
    assert error.blob_sha == repo.blob_sha_at(CONFIG_PATH)
    assert error.message.startswith("line 2, column 28: type 'widget'")
    [status] = repo_statuses(engine)
    assert status.errors == 1 and status.last_outcome == "refused"
    assert status.last_error == refused.error

    # Asked again with the same broken file: refused without reading it again.
    fake_github.reset_log()
    assert sync(engine, github_client).outcome == "refused"
    assert blob_reads(fake_github) == []

    # Fixed: the run goes through and the file error is gone.
    push(repo, {CONFIG_PATH: CONFIG}, "fix the configuration")
    assert sync(engine, github_client).outcome == "success"
    assert "platform/catalog/skills/new.md" in items(engine)
    assert file_errors(engine) == []


def test_a_roots_change_replans_the_tree_reading_only_new_blobs(
    engine: Engine, make_repo: Any, fake_github: FakeGitHub, github_client: GitHubClient
) -> None:
    repo = make_repo(REPO, FILES)
    sync(engine, github_client)
    fake_github.reset_log()
    moved_roots = CONFIG.replace("platform/catalog/tools: tool", "platform/catalog/mcps: mcp")
    push(repo, {CONFIG_PATH: moved_roots}, "catalog the MCP servers, not the tools")
    result = sync(engine, github_client)
    assert (result.counts.added, result.counts.deleted) == (1, 1)
    assert items(engine) == {
        "platform/catalog/skills/pdf/SKILL.md": "skill",
        "platform/catalog/skills/review.md": "skill",
        "platform/catalog/mcps/github.json": "mcp",
    }
    # The new configuration and the one newly wanted item: nothing the table already has.
    assert sorted(blob_reads(fake_github)) == sorted(
        [repo.blob_sha_at(CONFIG_PATH), repo.blob_sha_at("platform/catalog/mcps/github.json")]
    )

    # Without the file the settings' roots apply again.
    repo.delete(CONFIG_PATH)
    repo.commit("no configuration")
    repo.push()
    sync(engine, github_client)
    assert items(engine) == {"skills/top-level.md": "skill"}
    with session_factory(engine)() as s:
        row = s.execute(select(Repository.config_sha, Repository.config)).one()
        assert tuple(row) == (None, None)
        assert s.execute(select(CatalogFileError)).first() is None
