"""The reconcile engine on a local folder, on SQLite and on real PostgreSQL."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from models import CatalogFileError, CatalogItem, SyncRun, Team, User, transaction
from worker.cli.views import live_items
from worker.sync.folder import LocalSource
from worker.sync.layout import CatalogRules
from worker.sync.reconcile import Options, ReconcileRequest, reconcile

RULES = CatalogRules(roots={"skills": "skill", "mcps": "mcp", "tools": "tool"})
OPTIONS = Options(rules=RULES)
REPO = "acme/catalog"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"


def skill(name: str, **extra: object) -> str:
    fields = {"name": name, "description": f"{name} skill", **extra}
    front = "\n".join(f"{k}: {json.dumps(v)}" for k, v in fields.items())
    return f"---\n{front}\n---\n\n# {name}\n"


def write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def sync(engine: Engine, root: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    return reconcile(
        engine, REPO, LocalSource(root), OPTIONS, ReconcileRequest(trigger="test", **kwargs)
    )  # type: ignore[arg-type]


def rows(engine: Engine) -> dict[str, CatalogItem]:
    return {i.git_path: i for i in live_items(engine, REPO)}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    write(root, "skills/pdf/SKILL.md", skill("pdf", tags=["docs", "pdf"], author="ada"))
    write(root, "skills/pdf/scripts/extract.md", "not an item: an asset")
    write(root, "skills/summarize.md", skill("summarize", team="platform"))
    write(root, "mcps/github.json", json.dumps({"name": "github", "tags": "git, api"}))
    write(root, "tools/lint.yaml", "name: lint\ndescription: Lints things\n")
    write(root, "README.md", "# not an item\n")
    return root


def test_cold_sync_creates_one_row_per_item(engine: Engine, tree: Path) -> None:
    result = sync(engine, tree)
    assert result.outcome == "success", result.error
    assert result.counts.added == 4
    got = rows(engine)
    assert set(got) == {
        "skills/pdf/SKILL.md",
        "skills/summarize.md",
        "mcps/github.json",
        "tools/lint.yaml",
    }
    pdf = got["skills/pdf/SKILL.md"]
    assert (str(pdf.type), pdf.name, pdf.tags) == ("skill", "pdf", ["docs", "pdf"])
    assert str(got["mcps/github.json"].type) == "mcp"
    assert got["mcps/github.json"].tags == ["git", "api"]
    assert pdf.meta["name"] == "pdf"
    with transaction(engine) as s:
        ada = s.execute(select(User).where(User.username == "ada")).scalar_one()
        assert ada.email == "ada@users.noreply.github.com"
        assert pdf.author_id == ada.id
        default = s.execute(select(User).where(User.username == "catalog-sync")).scalar_one()
        assert got["tools/lint.yaml"].author_id == default.id
        team = s.execute(select(Team).where(Team.name == "platform")).scalar_one()
        assert got["skills/summarize.md"].team_id == team.id
        run = s.execute(select(SyncRun)).scalar_one()
        assert (run.outcome, run.added, run.trigger) == ("success", 4, "test")


def test_second_reconcile_is_a_no_op(engine: Engine, tree: Path) -> None:
    sync(engine, tree)
    before = {p: (r.id, r.updated_at) for p, r in rows(engine).items()}
    again = sync(engine, tree)
    assert again.outcome == "noop"
    assert again.counts.changed == 0
    assert {p: (r.id, r.updated_at) for p, r in rows(engine).items()} == before


def test_only_changed_files_are_read(engine: Engine, tree: Path) -> None:
    sync(engine, tree)
    write(tree, "skills/summarize.md", skill("summarize", team="platform", version=2))

    class Counting(LocalSource):
        read_paths: list[str] = []

        def read(self, head, wanted, *, bulk=False):  # type: ignore[no-untyped-def]
            self.read_paths.extend(wanted)
            return super().read(head, wanted, bulk=bulk)

    source = Counting(tree)
    result = reconcile(engine, REPO, source, OPTIONS, ReconcileRequest(trigger="test"))
    assert source.read_paths == ["skills/summarize.md"]
    assert result.counts.updated == 1
    assert rows(engine)["skills/summarize.md"].meta["version"] == 2


def test_rename_keeps_id_created_at_and_usage_count(engine: Engine, tree: Path) -> None:
    sync(engine, tree)
    with transaction(engine) as s:
        s.execute(update(CatalogItem).where(CatalogItem.name == "pdf").values(usage_count=7))
    before = rows(engine)["skills/pdf/SKILL.md"]
    shutil.move(tree / "skills/pdf", tree / "skills/pdf-tools")
    result = sync(engine, tree)
    assert result.counts.moved == 1 and result.counts.deleted == 0
    after = rows(engine)["skills/pdf-tools/SKILL.md"]
    assert (after.id, after.created_at, after.usage_count) == (before.id, before.created_at, 7)
    assert "skills/pdf/SKILL.md" not in rows(engine)


def test_delete_is_soft_and_restore_brings_the_row_back(engine: Engine, tree: Path) -> None:
    sync(engine, tree)
    original = rows(engine)["tools/lint.yaml"]
    content = (tree / "tools/lint.yaml").read_text()
    (tree / "tools/lint.yaml").unlink()
    assert sync(engine, tree).counts.deleted == 1
    with transaction(engine) as s:
        gone = s.get(CatalogItem, original.id)
        assert gone is not None and gone.deleted_at is not None
    write(tree, "tools/lint.yaml", content)
    assert sync(engine, tree).counts.restored == 1
    assert rows(engine)["tools/lint.yaml"].id == original.id


def test_broken_file_keeps_its_last_good_row_and_is_reported(engine: Engine, tree: Path) -> None:
    sync(engine, tree)
    good = rows(engine)["skills/summarize.md"]
    write(tree, "skills/summarize.md", "---\nname: [unclosed\n---\n")
    write(tree, "skills/new.md", skill("new"))
    result = sync(engine, tree)
    assert result.outcome == "success"
    assert result.counts.added == 1 and result.counts.errors == 1
    kept = rows(engine)["skills/summarize.md"]
    assert (kept.name, kept.blob_sha, kept.updated_at) == (
        good.name,
        good.blob_sha,
        good.updated_at,
    )
    with transaction(engine) as s:
        err = s.execute(select(CatalogFileError)).scalar_one()
        assert err.git_path == "skills/summarize.md"
        assert "invalid YAML at line" in err.message
    # An unchanged broken file is not re-read, and its error stays.
    assert sync(engine, tree).counts.errors == 1
    write(tree, "skills/summarize.md", skill("summarize", description="fixed"))
    fixed = sync(engine, tree)
    assert fixed.counts.updated == 1 and fixed.counts.errors == 0
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(CatalogFileError)) == 0


def test_error_of_a_deleted_file_is_cleared(engine: Engine, tree: Path) -> None:
    write(tree, "skills/bad.md", "no front matter")
    sync(engine, tree)
    (tree / "skills/bad.md").unlink()
    sync(engine, tree)
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(CatalogFileError)) == 0


def test_mass_delete_is_refused_unless_forced(engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / "big"
    for i in range(20):
        write(root, f"skills/s{i}.md", skill(f"s{i}"))
    sync(engine, root)
    shutil.rmtree(root / "skills")
    (root / "skills").mkdir()
    refused = sync(engine, root)
    assert refused.outcome == "refused"
    assert "refusing to delete 20 of 20" in (refused.error or "")
    assert len(rows(engine)) == 20
    forced = sync(engine, root, force=True)
    assert forced.counts.deleted == 20 and rows(engine) == {}


def test_full_resync_repairs_rows_edited_by_hand(engine: Engine, tree: Path) -> None:
    sync(engine, tree)
    with transaction(engine) as s:
        s.execute(update(CatalogItem).where(CatalogItem.name == "pdf").values(name="tampered"))
    assert sync(engine, tree).outcome == "noop"  # blob SHAs alone can't see it
    full = sync(engine, tree, full=True)
    assert full.counts.updated == 1
    assert rows(engine)["skills/pdf/SKILL.md"].name == "pdf"


def test_dry_run_reports_drift_and_writes_nothing(engine: Engine, tree: Path) -> None:
    sync(engine, tree)
    write(tree, "skills/extra.md", skill("extra"))
    (tree / "tools/lint.yaml").unlink()
    result = sync(engine, tree, full=True, dry_run=True)
    assert sorted(result.counts.details) == [
        ("added", "skills/extra.md"),
        ("deleted", "tools/lint.yaml"),
    ]
    assert "skills/extra.md" not in rows(engine)
    assert "tools/lint.yaml" in rows(engine)


def test_examples_catalog_syncs_without_errors(engine: Engine) -> None:
    result = sync(engine, EXAMPLES)
    assert result.outcome == "success", result.error
    assert result.counts.errors == 0
    assert result.counts.added >= 8


def test_git_work_tree_records_the_commit(engine: Engine, tree: Path) -> None:
    git = ["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    result = sync(engine, tree)
    assert result.to_sha == head
    assert {r.commit_sha for r in rows(engine).values()} == {head}
    # The local blob SHAs are git's own.
    ls = subprocess.run([*git, "ls-files", "-s"], capture_output=True, text=True).stdout
    git_shas = {line.split("\t")[1]: line.split()[1] for line in ls.splitlines()}
    assert {p: r.blob_sha for p, r in rows(engine).items()} == {
        p: git_shas[p] for p in rows(engine)
    }


def test_batches_give_the_same_table(
    engine: Engine, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parsed files are written a batch at a time (bounded memory); the result is the same."""
    from worker.sync import reconcile as reconcile_module

    monkeypatch.setattr(reconcile_module, "BATCH_SIZE", 1)
    write(tree, "skills/bad.md", "---\nname: [\n---\n")
    batches = []
    real = reconcile_module.read_and_parse

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        for batch in real(*args, **kwargs):
            batches.append(len(batch.parsed) + len(batch.failed))
            yield batch

    monkeypatch.setattr(reconcile_module, "read_and_parse", spy)
    result = sync(engine, tree)
    assert batches == [1, 1, 1, 1, 1, 0]
    assert (result.counts.added, result.counts.errors) == (4, 1)
    assert set(rows(engine)) == {
        "skills/pdf/SKILL.md",
        "skills/summarize.md",
        "mcps/github.json",
        "tools/lint.yaml",
    }
