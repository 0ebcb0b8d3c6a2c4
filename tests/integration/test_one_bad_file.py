"""One file never stops a repository (issue 13, classes 3 and 4), on SQLite and PostgreSQL.

Whatever is wrong with a file, at parse time or at write time, it becomes that file's error
row, its last good row stays, the rest syncs, and the run ends with a `sync_runs` row; `lint`,
`resync` and `verify` agree on what is valid.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from models import CatalogFileError, Repository, SyncRun, session_factory
from worker.cli.views import live_items
from worker.sync.folder import LocalSource
from worker.sync.layout import CatalogRules
from worker.sync.lint import lint_folder
from worker.sync.parse import ParsedItem
from worker.sync.reconcile import Options, ReconcileRequest, Result, reconcile
from worker.sync.storable import GIT_PATH_CHARS, error_path

RULES = CatalogRules(roots={"skills": "skill", "tools": "tool"})
OPTIONS = Options(rules=RULES)
REPO = "acme/hostile"


def write(root: Path, path: str, data: str | bytes) -> None:
    """Write `path` (a str that may carry surrogate-escaped bytes) under `root`."""
    target = os.path.join(os.fsencode(root), os.fsencode(path))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)


def sync(engine: Engine, root: Path, **kwargs: Any) -> Result:
    request = ReconcileRequest(trigger="test", **kwargs)
    return reconcile(engine, REPO, LocalSource(root), OPTIONS, request)


def state(engine: Engine) -> tuple[dict[str, Any], dict[str, str]]:
    """Live rows by path, and error messages by error key."""
    rows = {i.git_path: i for i in live_items(engine, REPO)}
    with session_factory(engine)() as s:
        errors = dict(s.execute(select(CatalogFileError.git_path, CatalogFileError.message)).all())
    return rows, errors


def runs(engine: Engine) -> list[SyncRun]:
    with session_factory(engine)() as s:
        return list(s.execute(select(SyncRun).order_by(SyncRun.id)).scalars())


def assert_agree(engine: Engine, root: Path) -> None:
    """The table says what lint says; a full resync changes nothing; verify sees no drift."""
    report = lint_folder(root, RULES)
    rows, errors = state(engine)
    assert set(rows) == set(report.items)
    assert set(errors) == {error_path(e.path) for e in report.errors}
    for path, row in rows.items():
        assert row.blob_sha == report.items[path].blob_sha
    verify = sync(engine, root, full=True, dry_run=True, force=True)
    assert verify.ok and verify.counts.details == [], verify.counts.details
    resync = sync(engine, root, full=True)
    assert resync.ok and resync.counts.changed == 0, resync.counts.details


def path_of_length(n: int) -> str:
    """A skill path of exactly `n` characters, in segments a file system accepts."""
    parts, left = [], n - len("skills/") - len(".md")
    while left > 201:
        parts.append("p" * 200)
        left -= 201
    return "skills/" + "/".join([*parts, "p" * left]) + ".md"


LONG_DIR = "/".join(["d" * 200] * 6)
HOSTILE = {
    "skills/big.md": "---\nname: big\nbig: 0x" + "f" * 5000 + "\n---\n",
    "tools/big.json": '{"name": "big", "n": ' + "9" * 5000 + "}",
    f"skills/{LONG_DIR}/long.md": "---\nname: long\n---\n",
    "skills/caf\udce9.md": "---\nname: latin\n---\n",
    "skills/author.md": "---\nname: a\nauthor: " + "a" * 150 + "\n---\n",
    "skills/team.md": "---\nname: t\nteam: " + "t" * 250 + "\n---\n",
    "skills/tags.md": "---\nname: t\ntags: " + ",".join(f"t{i}" for i in range(150)) + "\n---\n",
    "tools/nul.yaml": 'name: x\nbad: "a\\0b"\n',
}
GOOD = {
    "skills/ok.md": "---\nname: ok\nwhen: 2024-01-01\nx: .nan\n---\n",
    "tools/ok.yaml": "name: ok\nn: 0x" + "f" * 100 + "\n",
    path_of_length(GIT_PATH_CHARS): "---\nname: longest\n---\n",
}


def test_each_unstorable_file_is_its_own_error_and_the_rest_syncs(
    engine: Engine, tmp_path: Path
) -> None:
    for path, text in {**GOOD, **HOSTILE}.items():
        write(tmp_path, path, text)
    cold = sync(engine, tmp_path)
    assert cold.outcome == "success", cold.error
    assert (cold.counts.added, cold.counts.errors) == (len(GOOD), len(HOSTILE))
    rows, errors = state(engine)
    assert set(rows) == set(GOOD)
    assert set(errors) == {error_path(p) for p in HOSTILE}
    assert all(len(key) <= GIT_PATH_CHARS for key in errors)
    assert [(r.outcome, r.added, r.errors) for r in runs(engine)] == [
        ("success", len(GOOD), len(HOSTILE))
    ]
    again = sync(engine, tmp_path)  # broken blobs are not read again; their errors stay
    assert again.outcome == "noop" and again.counts.errors == len(HOSTILE)
    assert_agree(engine, tmp_path)


def _poison_parse(monkeypatch: pytest.MonkeyPatch, poison: dict[str, dict[str, Any]]) -> None:
    """Make the parse let `poison`'s metadata through for those paths, as a parser bug would."""
    from worker.sync import reconcile as reconcile_module

    real = reconcile_module.parse_item

    def leaky_parse(path: str, data: bytes, rules: CatalogRules) -> Any:
        parsed = real(path, data, rules)
        if path in poison and isinstance(parsed, ParsedItem):
            meta = poison[path]
            return ParsedItem(str(meta["name"]), None, [], None, None, meta)
        return parsed

    monkeypatch.setattr(reconcile_module, "parse_item", leaky_parse)


def test_a_value_the_database_refuses_becomes_that_files_error(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last line of defence: a value the parse let through and the database refuses."""
    for name in "abcdef":
        write(tmp_path, f"skills/{name}.md", f"---\nname: {name}\n---\n")
    assert sync(engine, tmp_path).counts.added == 6
    before, _ = state(engine)
    for name in "abcdef":
        write(tmp_path, f"skills/{name}.md", f"---\nname: {name}\nv: 2\n---\n")
    poison = {
        "skills/b.md": {"name": "b\ud800"},  # no database stores a lone surrogate
        "skills/e.md": {"name": "e", "n": 10**5000},  # JSON cannot be written
    }
    _poison_parse(monkeypatch, poison)
    result = sync(engine, tmp_path)
    assert result.outcome == "success", result.error
    assert (result.counts.updated, result.counts.errors) == (4, 2)
    rows, errors = state(engine)
    assert set(errors) == set(poison)
    assert all(m.startswith("could not be stored: ") and "\n" not in m for m in errors.values())
    for path in poison:  # the last good row stays as it was
        assert (rows[path].blob_sha, rows[path].meta) == (before[path].blob_sha, before[path].meta)
    assert all(rows[f"skills/{n}.md"].meta == {"name": n, "v": 2} for n in "acdf")
    assert runs(engine)[-1].errors == 2


def test_a_value_refused_on_a_cold_sync_becomes_that_files_error(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New rows go in by COPY on PostgreSQL: a refused value there is still one file's error."""
    for name in "abcdefgh":
        write(tmp_path, f"skills/{name}.md", f"---\nname: {name}\n---\n")
    poison: dict[str, dict[str, Any]] = {
        "skills/b.md": {"name": "b\ud800"},  # cannot be encoded for the database
        "skills/e.md": {"name": "e", "n": 10**5000},  # JSON cannot be written
    }
    if engine.dialect.name == "postgresql":  # SQLite does not enforce a column's length
        poison["skills/g.md"] = {"name": "g" * 300}  # longer than the column: refused
    _poison_parse(monkeypatch, poison)
    result = sync(engine, tmp_path)
    assert result.outcome == "success", result.error
    assert (result.counts.added, result.counts.errors) == (8 - len(poison), len(poison))
    rows, errors = state(engine)
    assert set(rows) == {f"skills/{n}.md" for n in "abcdefgh"} - set(poison)
    assert set(errors) == set(poison)
    assert all(m.startswith("could not be stored: ") for m in errors.values())


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")


@pytest.mark.parametrize("exc", [_Unprintable(), RuntimeError("first line\n[SQL: INSERT ...]\n")])
def test_an_unexpected_error_still_ends_with_a_failed_run_row(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    from worker.sync import reconcile as reconcile_module

    write(tmp_path, "skills/a.md", "---\nname: a\n---\n")

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise exc

    monkeypatch.setattr(reconcile_module, "apply_plan", explode)
    result = sync(engine, tmp_path)
    assert result.outcome == "failed"
    [run] = runs(engine)
    assert run.outcome == "failed" and run.error == result.error
    assert run.error and "\n" not in run.error and run.error.startswith(type(exc).__name__)
    with session_factory(engine)() as s:
        repo = s.execute(select(Repository)).scalar_one()
        assert (repo.last_error, repo.consecutive_failures) == (run.error, 1)


# --- class 4: a rename that changes how the file is read --------------------------------------


def test_a_rename_that_changes_the_extension_is_read_again(engine: Engine, tmp_path: Path) -> None:
    write(tmp_path, "tools/t.yaml", "name: t\ndescription: YAML only\n")
    write(tmp_path, "tools/both.yaml", '{"name": "both"}')  # JSON is YAML too
    write(tmp_path, "skills/s.md", "---\nname: s\n---\nbody\n")
    assert sync(engine, tmp_path).counts.added == 3
    before, _ = state(engine)
    os.rename(tmp_path / "tools/t.yaml", tmp_path / "tools/t.json")
    os.rename(tmp_path / "tools/both.yaml", tmp_path / "tools/both.json")
    os.rename(tmp_path / "skills/s.md", tmp_path / "skills/s.yaml")
    result = sync(engine, tmp_path)
    assert result.outcome == "success", result.error
    rows, errors = state(engine)
    # YAML bytes under .json, front matter under .yaml: no longer items; their rows go.
    assert set(rows) == {"tools/both.json"}
    assert "invalid JSON" in errors["tools/t.json"]
    assert "more than one YAML document" in errors["skills/s.yaml"]
    # A file that reads the same both ways keeps its row: same id, moved.
    assert rows["tools/both.json"].id == before["tools/both.yaml"].id
    assert (result.counts.moved, result.counts.deleted, result.counts.errors) == (1, 2, 2)
    assert_agree(engine, tmp_path)
    # Renamed back, the row comes back with its content.
    os.rename(tmp_path / "tools/t.json", tmp_path / "tools/t.yaml")
    back = sync(engine, tmp_path)
    assert back.ok and state(engine)[0]["tools/t.yaml"].description == "YAML only"
    assert_agree(engine, tmp_path)


def test_a_move_across_roots_is_read_again_and_keeps_its_row(
    engine: Engine, tmp_path: Path
) -> None:
    write(tmp_path, "skills/x.md", "---\nname: x\n---\n")
    sync(engine, tmp_path)
    before, _ = state(engine)
    (tmp_path / "tools").mkdir()
    os.rename(tmp_path / "skills/x.md", tmp_path / "tools/x.md")
    result = sync(engine, tmp_path)
    assert (result.counts.moved, result.counts.added, result.counts.deleted) == (1, 0, 0)
    after, _ = state(engine)
    assert after["tools/x.md"].id == before["skills/x.md"].id
    assert str(after["tools/x.md"].type) == "tool"
    assert_agree(engine, tmp_path)
