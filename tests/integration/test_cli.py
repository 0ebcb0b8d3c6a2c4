"""The `catalog-sync` command: exit codes, output, and what it writes (or doesn't)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func, select

from models import CatalogItem, WebhookDelivery, make_engine, transaction
from tests.fakes.github import FakeGitHub
from worker.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"


def count_items(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with transaction(engine) as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(CatalogItem)
                    .where(CatalogItem.deleted_at.is_(None))
                )
                or 0
            )
    finally:
        engine.dispose()


def test_every_command_of_the_contract_has_help() -> None:
    runner = CliRunner()
    for command in (
        [],
        ["resync"],
        ["verify"],
        ["lint"],
        ["status"],
        ["errors"],
        ["deliveries"],
        ["redeliver"],
        ["db", "upgrade"],
        ["run"],
    ):
        result = runner.invoke(main, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.output


def test_lint_examples_is_valid_and_bad_files_are_named(tmp_path: Path) -> None:
    ok = CliRunner().invoke(main, ["lint", str(EXAMPLES)])
    assert ok.exit_code == 0, ok.output
    assert "0 errors" in ok.output
    bad = tmp_path / "bad"
    (bad / "skills").mkdir(parents=True)
    (bad / "skills" / "noname.md").write_text("---\ndescription: no name\n---\n")
    (bad / "skills" / "broken.yaml").write_text("name: [oops\n")
    (bad / "skills" / "good.md").write_text("---\nname: good\n---\n")
    result = CliRunner().invoke(main, ["lint", str(bad), "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert sorted(e["git_path"] for e in doc["errors"]) == [
        "skills/broken.yaml",
        "skills/noname.md",
    ]
    assert doc["items"] == ["skills/good.md"]


def test_resync_verify_status_errors_from_a_folder(cli: Any, db_url: str, tmp_path: Path) -> None:
    tree = tmp_path / "catalog"
    shutil.copytree(EXAMPLES, tree)
    unseen = cli("verify", "--source", str(tree), "--repo", "acme/catalog", "--json")
    assert unseen.exit_code == 1
    assert len(json.loads(unseen.output)["repositories"][0]["drift"]) == 11
    assert json.loads(cli("status", "--json").output) == {"repositories": []}  # wrote nothing
    first = cli("resync", "--source", str(tree), "--repo", "acme/catalog")
    assert first.exit_code == 0, first.output
    assert "acme/catalog: success: 11 added" in first.output
    assert count_items(db_url) == 11
    assert cli("verify", "--source", str(tree), "--repo", "acme/catalog").exit_code == 0

    (tree / "tools" / "lint.yaml").unlink()
    (tree / "skills" / "broken.md").write_text("---\nname: [\n---\n")
    drift = cli("verify", "--source", str(tree), "--repo", "acme/catalog", "--json")
    assert drift.exit_code == 1
    changes = json.loads(drift.output)["repositories"][0]["drift"]
    assert {"change": "deleted", "git_path": "tools/lint.yaml"} in changes
    assert count_items(db_url) == 11  # verify wrote nothing

    second = cli("resync", "--source", str(tree), "--repo", "acme/catalog")
    assert second.exit_code == 0
    assert "1 deleted" in second.output and "1 errors" in second.output
    errors = json.loads(cli("errors", "--json").output)["errors"]
    assert [e["git_path"] for e in errors] == ["skills/broken.md"]
    status = json.loads(cli("status", "--json").output)["repositories"]
    assert [(s["repository"], s["items"], s["errors"]) for s in status] == [("acme/catalog", 10, 1)]
    human = cli("status")
    assert "acme/catalog" in human.output


def test_json_names_a_repository_and_a_path_the_same_way_everywhere(
    cli: Any, tmp_path: Path
) -> None:
    tree = tmp_path / "catalog"
    shutil.copytree(EXAMPLES, tree)
    (tree / "skills" / "broken.md").write_text("---\nname: [\n---\n")
    assert cli("resync", "--source", str(tree), "--repo", "acme/catalog").exit_code == 0
    (tree / "tools" / "lint.yaml").unlink()

    def doc(*args: str) -> Any:
        return json.loads(cli(*args, "--json").output)

    [status] = doc("status")["repositories"]
    [error] = doc("errors")["errors"]
    [verified] = doc("verify", "--source", str(tree), "--repo", "acme/catalog")["repositories"]
    [drift] = verified["drift"]
    [lint_error] = doc("lint", str(tree))["errors"]
    item = doc("items", "acme/catalog")["items"][0]
    assert status["repository"] == error["repository"] == verified["repository"] == "acme/catalog"
    assert item["repository"] == "acme/catalog"
    assert error["git_path"] == lint_error["git_path"] == "skills/broken.md"
    assert drift == {"change": "deleted", "git_path": "tools/lint.yaml"}
    assert "git_path" in item and "path" not in item
    assert verified["head_sha"] == status["head_sha"]


def test_status_marks_a_repository_no_longer_watched_and_items_name_theirs(
    cli: Any, tmp_path: Path
) -> None:
    tree = tmp_path / "catalog"
    shutil.copytree(EXAMPLES, tree)
    for name in ("acme/catalog", "acme/old"):
        assert cli("resync", "--source", str(tree), "--repo", name).exit_code == 0
    status = json.loads(cli("status", "--json", CATALOG_REPOS="acme/catalog").output)
    watched = {r["repository"]: r["watched"] for r in status["repositories"]}
    assert watched == {"acme/catalog": True, "acme/old": False}
    lines = cli("status").output.splitlines()
    assert any("acme/old (not in CATALOG_REPOS)" in line for line in lines)
    assert not any("acme/catalog (not in" in line for line in lines)
    items = cli("items").output.splitlines()
    header = [cell.strip() for cell in items[1].split("┃") if cell.strip()]  # below the border
    assert header[:2] == ["repository", "type"]
    assert sum("acme/old" in line for line in items) == sum(
        "acme/catalog" in line for line in items
    )


def test_verify_exits_2_when_it_cannot_read_the_source(cli: Any, tmp_path: Path) -> None:
    result = cli("verify", "--source", str(tmp_path / "missing"), "--repo", "a/b")
    assert result.exit_code == 2


def test_resync_from_github_survives_502s_and_a_rate_limit(
    cli: Any, db_url: str, fake_github: FakeGitHub, make_repo: Any
) -> None:
    make_repo("acme/catalog", {f"skills/s{i}.md": f"---\nname: s{i}\n---\n" for i in range(5)})
    fake_github.fail_next(3, 502)
    fake_github.exhaust_rate_limit(reset_in=5)  # outlasts the 502 back-offs (at most 3.5 s)
    env = {"GITHUB_API_URL": fake_github.api_url, "GITHUB_TOKEN": fake_github.token}
    result = cli("resync", "acme/catalog", **env)
    assert result.exit_code == 0, result.output
    assert "5 added" in result.output
    assert count_items(db_url) == 5
    statuses = [r.status for r in fake_github.log]
    assert statuses.count(502) == 3 and 403 in statuses


def test_resync_with_a_bad_token_fails_clearly_and_changes_nothing(
    cli: Any, db_url: str, fake_github: FakeGitHub, make_repo: Any
) -> None:
    make_repo("acme/catalog", {"skills/a.md": "---\nname: a\n---\n"})
    env = {"GITHUB_API_URL": fake_github.api_url}
    assert cli("resync", "acme/catalog", GITHUB_TOKEN=fake_github.token, **env).exit_code == 0
    before = count_items(db_url)
    result = cli("resync", "acme/catalog", "--full", GITHUB_TOKEN="ghp_wrongwrongwrong", **env)
    assert result.exit_code == 1
    assert "acme/catalog" in result.output and "bad credentials" in result.output.lower()
    assert "ghp_wrongwrongwrong" not in result.output
    assert count_items(db_url) == before


def test_resync_without_credentials_says_what_to_set(cli: Any) -> None:
    result = cli("resync", "acme/catalog")
    assert result.exit_code == 1
    assert "GITHUB_TOKEN" in result.output


def test_malformed_catalog_repos_names_the_entry(cli: Any) -> None:
    result = cli("status", CATALOG_REPOS="acme/ok, not a repo")
    assert result.exit_code == 2
    assert "'not a repo'" in result.output


def test_deliveries_and_redeliver(cli: Any, db_url: str, redis_url: str) -> None:
    engine = make_engine(db_url)
    with transaction(engine) as s:
        s.add(
            WebhookDelivery(
                delivery_id="d-1",
                event="push",
                status="dead",
                repository_full_name="acme/catalog",
                attempts=10,
            )
        )
    engine.dispose()
    listed = json.loads(cli("deliveries", "--status", "dead", "--json").output)["deliveries"]
    assert [d["delivery_id"] for d in listed] == ["d-1"]
    assert listed[0]["repository"] == "acme/catalog" and "repository_full_name" not in listed[0]
    replay = cli("redeliver", "d-1", CELERY_BROKER_URL=redis_url)
    assert replay.exit_code == 0, replay.output
    after = json.loads(cli("deliveries", "--json").output)["deliveries"]
    assert after[0]["status"] == "queued"
    import redis

    assert redis.Redis.from_url(redis_url).llen("catalog-sync") == 1
    missing = cli("redeliver", "nope")
    assert missing.exit_code == 1


def test_db_upgrade(cli: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    result = cli("db", "upgrade", DATABASE_URL=url)
    assert result.exit_code == 0, result.output
    assert count_items(url) == 0
