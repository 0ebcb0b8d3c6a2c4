"""`catalog-sync lint DIR --format text|json|github`: what CI sees, and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from worker.cli import main

BROKEN = "---\nname: broken\ndescription: fine\ntags: x\n  bad: y\n---\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git work tree whose catalog lives in `catalog/`, with one broken file."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    skills = root / "catalog" / "skills"
    skills.mkdir(parents=True)
    (skills / "good.md").write_text("---\nname: good\n---\n")
    (skills / "broken, really.md").write_text(BROKEN)
    (skills / "noname.md").write_text("---\ndescription: 100% anonymous\n---\n")
    return root


def lint(*args: str, cwd: Path) -> tuple[int, str]:
    """`catalog-sync lint ...` run from `cwd` (where a workflow's steps run: the checkout)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        result = CliRunner().invoke(main, ["lint", *args])
    return result.exit_code, result.output


def test_github_format_annotates_each_broken_file_from_the_repository_root(repo: Path) -> None:
    code, output = lint(str(repo / "catalog"), "--format", "github", cwd=repo.parent)
    assert code == 1
    lines = output.splitlines()
    assert lines[0] == (
        "::error file=catalog/skills/broken%2C really.md,line=5,col=6::invalid YAML at line 5, "
        "column 6: mapping values are not allowed in this context"
    )
    assert lines[1].startswith("::error file=catalog/skills/noname.md,line=1::has no `name`")
    assert lines[-1] == "1 items, 2 errors"


def test_json_format_and_its_json_alias_agree(repo: Path) -> None:
    code, output = lint(str(repo / "catalog"), "--format", "json", cwd=repo)
    alias_code, alias = lint(str(repo / "catalog"), "--json", cwd=repo)
    assert (code, alias_code) == (1, 1)
    doc = json.loads(output)
    assert doc == json.loads(alias)
    assert [(e["git_path"], e["line"], e["column"]) for e in doc["errors"]] == [
        ("skills/broken, really.md", 5, 6),
        ("skills/noname.md", 1, None),
    ]
    assert doc["items"] == ["skills/good.md"]


def test_valid_folders_pass_and_folders_without_a_root_fail(repo: Path, tmp_path: Path) -> None:
    for bad in ("broken, really.md", "noname.md"):
        (repo / "catalog" / "skills" / bad).unlink()
    assert lint(str(repo / "catalog"), "--format", "github", cwd=repo) == (0, "1 items, 0 errors\n")
    assert lint(str(repo / "catalog"), cwd=repo) == (0, "1 items, 0 errors\n")
    empty = tmp_path / "empty"
    (empty / "docs").mkdir(parents=True)
    code, output = lint(str(empty), "--format", "github", cwd=tmp_path)
    assert code == 1
    assert output.startswith("::error::none of the catalog root folders")
