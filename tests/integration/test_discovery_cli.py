"""`catalog-sync repos [--json]` and `catalog-sync forget REPO`, in-process, on both databases."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from models import CatalogItem, Repository, SyncRun, User, transaction, utcnow

UNWATCHED_AT = utcnow() - timedelta(hours=1)


def seed(engine: Engine) -> None:
    """One repository in each state, two live items on the discovered one."""
    with transaction(engine) as s:
        author = User(username="octocat", email="octocat@example.com")
        s.add(author)
        rows = [
            Repository(
                full_name="acme/found",
                watch_source="discovered",
                discovered_via="owner:acme",
                state="watched",
                state_reason="listed for acme/*",
                archived=True,
            ),
            Repository(
                full_name="acme/left",
                watch_source="discovered",
                state="unwatched",
                state_reason="removed from the App installation",
                unwatched_at=UNWATCHED_AT,
            ),
            Repository(
                full_name="acme/old", state="retired", state_reason="x", retired_at=utcnow()
            ),
        ]
        s.add_all(rows)
        s.flush()
        for n in range(2):
            s.add(
                CatalogItem(
                    id=uuid.uuid4(),
                    type="skill",
                    name=f"s{n}",
                    git_path=f"skills/s{n}.md",
                    author_id=author.id,
                    repository_id=rows[0].id,
                    blob_sha="0" * 40,
                )
            )


def live(engine: Engine) -> int:
    with transaction(engine) as s:
        stmt = select(func.count()).select_from(CatalogItem).where(CatalogItem.deleted_at.is_(None))
        return int(s.scalar(stmt) or 0)


def test_repos_lists_every_state_with_why(cli: Any, engine: Engine) -> None:
    seed(engine)
    result = cli(
        "repos", "--json", CATALOG_REPOS="acme/*,acme/explicit@main", RETIRE_AFTER_SECONDS="7200"
    )
    assert result.exit_code == 0, result.output
    doc = {r["repository"]: r for r in json.loads(result.stdout)["repositories"]}
    assert list(doc) == ["acme/explicit", "acme/found", "acme/left", "acme/old"]
    explicit = doc["acme/explicit"]
    assert (explicit["branch"], explicit["state"], explicit["source"], explicit["items"]) == (
        "main",
        "watched",
        "explicit",
        0,
    )
    assert explicit["reason"] == "named in CATALOG_REPOS (not synced yet)"
    found = doc["acme/found"]
    assert (found["state"], found["source"], found["items"], found["archived"]) == (
        "watched",
        "discovered",
        2,
        True,
    )
    assert found["discovered_via"] == "acme/*"
    left = doc["acme/left"]
    assert (left["state"], left["reason"]) == ("unwatched", "removed from the App installation")
    assert left["retire_at"] == (UNWATCHED_AT + timedelta(hours=2)).isoformat()
    assert (doc["acme/old"]["state"], doc["acme/old"]["source"]) == ("retired", "manual")

    human = cli("repos")
    assert human.exit_code == 0
    assert "removed from the App installation" in human.stdout and "acme/found" in human.stdout


def test_forget_retires_now_and_names_unknown_repositories(cli: Any, engine: Engine) -> None:
    seed(engine)
    result = cli("forget", "acme/found")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "acme/found: retired, 2 items soft-deleted"
    assert "comes back" in result.stderr  # it is still watched: the operator is told
    assert live(engine) == 0
    with transaction(engine) as s:
        run = s.scalars(select(SyncRun)).one()
        state = s.scalar(select(Repository.state).where(Repository.full_name == "acme/found"))
    assert (run.trigger, run.deleted, state) == ("retire", 2, "retired")

    unknown = cli("forget", "nobody/there")
    assert unknown.exit_code == 1
    assert unknown.stdout == ""
    assert unknown.stderr.strip() == "error: no repository 'nobody/there' is known"
