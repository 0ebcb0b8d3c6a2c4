"""Folder walking (the local source's listing) and `lint_folder`, on real temporary folders."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from worker.errors import SourceError
from worker.sync.entries import MODE_EXEC, MODE_FILE, MODE_SYMLINK, blob_sha
from worker.sync.folder import read_file, walk_folder
from worker.sync.layout import CatalogRules
from worker.sync.lint import lint_folder

RULES = CatalogRules(roots={"skills": "skill", "mcps": "mcp", "tools": "tool"})


def write(root: Path, path: str, data: str | bytes) -> None:
    full = root / path
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_bytes(data.encode() if isinstance(data, str) else data)


def test_walk_lists_files_with_git_shas_and_modes(tmp_path: Path) -> None:
    write(tmp_path, "skills/a.md", "hello")
    write(tmp_path, "tools/run.sh", "#!/bin/sh\n")
    (tmp_path / "tools/run.sh").chmod(0o755)
    write(tmp_path, "top.txt", "x")
    write(tmp_path, ".git/HEAD", "ref: refs/heads/main\n")
    os.symlink("a.md", tmp_path / "skills/link.md")
    os.symlink("../skills", tmp_path / "tools/dirlink")
    entries = {e.path: e for e in walk_folder(tmp_path)}
    assert set(entries) == {
        "skills/a.md",
        "tools/run.sh",
        "top.txt",
        "skills/link.md",
        "tools/dirlink",
    }
    assert entries["skills/a.md"].sha == blob_sha(b"hello")
    assert entries["skills/a.md"].mode == MODE_FILE
    assert entries["skills/a.md"].size == 5
    assert entries["tools/run.sh"].mode == MODE_EXEC
    assert entries["skills/link.md"].mode == MODE_SYMLINK
    assert entries["skills/link.md"].sha == blob_sha(b"a.md")
    assert entries["tools/dirlink"].mode == MODE_SYMLINK  # never followed


def test_walk_skips_nested_repositories(tmp_path: Path) -> None:
    write(tmp_path, "skills/vendored/.git", "gitdir: ../../.git/modules/vendored\n")
    write(tmp_path, "skills/vendored/SKILL.md", "---\nname: v\n---\n")
    write(tmp_path, "skills/clone/.git/HEAD", "ref: refs/heads/main\n")
    write(tmp_path, "skills/clone/x.md", "---\nname: c\n---\n")
    write(tmp_path, "skills/ok.md", "---\nname: ok\n---\n")
    assert [e.path for e in walk_folder(tmp_path)] == ["skills/ok.md"]


def test_walk_with_roots_prunes(tmp_path: Path) -> None:
    write(tmp_path, "skills/a.md", "a")
    write(tmp_path, "skills/.drafts/b.md", "b")
    write(tmp_path, "node_modules/x.md", "x")
    write(tmp_path, "mcps", "a file, not a folder")
    assert [e.path for e in walk_folder(tmp_path, roots=["skills", "mcps", "tools"])] == [
        "skills/a.md"
    ]


def test_walk_is_sorted(tmp_path: Path) -> None:
    for name in ("b/z.md", "a.md", "b/a.md", "c.md"):
        write(tmp_path, name, name)
    paths = [e.path for e in walk_folder(tmp_path)]
    assert paths == sorted(paths)


def test_large_file_hash_is_streamed_and_exact(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    write(tmp_path, "skills/big.bin", data)
    (entry,) = walk_folder(tmp_path)
    assert entry.sha == blob_sha(data)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_walk_agrees_with_git(tmp_path: Path) -> None:
    write(tmp_path, "skills/a.md", "---\nname: a\n---\n")
    write(tmp_path, "skills/b/SKILL.md", "---\nname: b\r\n---\n")
    write(tmp_path, "tools/run.sh", "#!/bin/sh\n")
    (tmp_path / "tools/run.sh").chmod(0o755)
    os.symlink("../skills/a.md", tmp_path / "tools/link.md")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=env)
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True, env=env)
    staged = subprocess.run(
        ["git", "-C", str(tmp_path), "ls-files", "-s"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    expected = {}
    for line in staged.splitlines():
        meta, path = line.split("\t")
        mode, sha, _stage = meta.split()
        expected[path] = (mode, sha)
    assert {e.path: (e.mode, e.sha) for e in walk_folder(tmp_path)} == expected


def test_walk_lists_ten_thousand_files(tmp_path: Path) -> None:
    """Its speed is measured by `make bench` (db apply), not asserted here."""
    for i in range(100):
        folder = tmp_path / "skills" / f"s{i}"
        folder.mkdir(parents=True)
        for j in range(100):
            (folder / f"f{j}.md").write_bytes(b"---\nname: x\n---\n%d" % j)
    entries = walk_folder(tmp_path)
    assert len(entries) == 10_000
    assert entries == sorted(entries, key=lambda e: e.path)


def test_read_file(tmp_path: Path) -> None:
    write(tmp_path, "skills/a.md", "hello")
    assert read_file(tmp_path, "skills/a.md") == b"hello"
    for bad in ("/etc/passwd", "../x", "skills/../skills/a.md", "", "skills//a.md", "./a"):
        with pytest.raises(ValueError):
            read_file(tmp_path, bad)
    os.symlink(tmp_path / "skills", tmp_path / "linked")
    with pytest.raises(ValueError):
        read_file(tmp_path, "linked/a.md")
    with pytest.raises(FileNotFoundError):
        read_file(tmp_path, "skills/missing.md")


def test_lint_reports_items_and_every_bad_path(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "# not an item")
    write(tmp_path, "skills/good/SKILL.md", "---\nname: Good\ntags: a, b\n---\nbody")
    write(tmp_path, "skills/good/asset.md", "no front matter here, but an asset")
    write(tmp_path, "skills/nofm.md", "# no front matter")
    write(tmp_path, "tools/list.yaml", "- a\n- b\n")
    write(tmp_path, "tools/ok.yml", "name: OK\n")
    write(tmp_path, "mcps/bad.json", '{"name": "x",}')
    write(tmp_path, "mcps/binary.json", b"\xff\xfe")
    os.symlink("ok.yml", tmp_path / "tools/alias.yml")
    report = lint_folder(tmp_path, RULES)
    assert sorted(report.items) == ["skills/good/SKILL.md", "tools/ok.yml"]
    assert report.items["skills/good/SKILL.md"].type == "skill"
    assert report.items["skills/good/SKILL.md"].item.tags == ["a", "b"]
    assert report.items["tools/ok.yml"].blob_sha == blob_sha(b"name: OK\n")
    assert [e.path for e in report.errors] == [
        "mcps/bad.json",
        "mcps/binary.json",
        "skills/nofm.md",
        "tools/list.yaml",
    ]
    assert "no front matter" in report.errors[2].message
    assert "invalid JSON at line 1" in report.errors[0].message
    assert "not valid UTF-8" in report.errors[1].message
    assert not report.ok


def test_lint_respects_size_limit(tmp_path: Path) -> None:
    write(tmp_path, "tools/big.yaml", "name: x\n" + "# pad\n" * 100)
    report = lint_folder(tmp_path, CatalogRules(roots=RULES.roots, max_file_bytes=100))
    assert [e.path for e in report.errors] == ["tools/big.yaml"]
    assert "MAX_FILE_BYTES" in report.errors[0].message


def test_lint_warns_when_no_root_exists(tmp_path: Path) -> None:
    write(tmp_path, "docs/a.md", "---\nname: x\n---\n")
    report = lint_folder(tmp_path, RULES)
    assert report.ok
    assert report.items == {}
    assert "none of the catalog root folders" in report.warnings[0]


def test_lint_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        lint_folder(tmp_path / "nope", RULES)
