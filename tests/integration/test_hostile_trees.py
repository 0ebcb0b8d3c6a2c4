"""Property (issue 13): whatever a catalog tree holds, a reconcile completes and tells the truth.

Trees get hostile names (bytes that are not UTF-8, control characters, paths longer than the
`git_path` column, names differing only in case) and hostile values (huge integers, deep
nesting, dates, NaN, refused fields), then renames across extensions. After every reconcile,
on SQLite and on PostgreSQL: the run has its `sync_runs` row; every file `lint` calls valid has
its row with its blob; every invalid one has exactly one error row; a full `resync` changes
nothing and `verify` reports no drift.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from models import CatalogFileError, Repository, SyncRun, session_factory
from worker.cli.views import live_items
from worker.sync.folder import LocalSource
from worker.sync.layout import CatalogRules
from worker.sync.lint import lint_folder
from worker.sync.reconcile import Options, ReconcileRequest, Result, reconcile
from worker.sync.storable import error_path

RULES = CatalogRules(roots={"skills": "skill", "tools": "tool"})
OPTIONS = Options(rules=RULES)
_numbers = itertools.count()

_plain = st.text(st.characters(codec="utf-8", exclude_characters="/.\0"), min_size=1, max_size=8)
_names = st.one_of(
    _plain,
    st.sampled_from(["Item", "item", "ITEM"]),  # case collisions
    st.binary(min_size=1, max_size=6)  # not UTF-8 (mostly): kept as surrogate escapes
    .filter(lambda b: b"/" not in b and b"\0" not in b and not b.startswith(b"."))
    .map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.sampled_from(["a\nb", "tab\there", "bell\x07", "del\x7f", "c1\x85"]),  # control chars
)
_depths = st.sampled_from([0, 0, 1, 6])  # 6 folders of 200 characters: past `git_path`
_extensions = st.sampled_from([".md", ".yaml", ".json", ".MD", ".yml"])

#: What a file says, as YAML (and as JSON where JSON can say it).
_BODIES = {
    "ok": ("name: {n}\ntags: a, b, a\n", '{{"name": "{n}", "tags": ["a", "b"]}}'),
    "date": ("name: {n}\nwhen: 2024-02-29\nat: 2024-01-01T10:00:00Z\n", None),
    "nan": ("name: {n}\nx: .nan\ny: -.inf\n", '{{"name": "{n}", "x": NaN}}'),
    "bigint": (
        "name: {n}\nbig: 0x" + "f" * 5000 + "\n",
        '{{"name": "{n}", "n": ' + "9" * 5000 + "}}",
    ),
    "fineint": ("name: {n}\nbig: 0x" + "f" * 3000 + "\n", None),
    "deep": (
        "name: {n}\nx: " + "[" * 70 + "]" * 70 + "\n",
        '{{"name": "{n}", "x": ' + "[" * 70 + "]" * 70 + "}}",
    ),
    "nested": ("name: {n}\nx: " + "[" * 60 + "1" + "]" * 60 + "\n", None),
    "author": ("name: {n}\nauthor: " + "a" * 120 + "\n", None),
    "tags": ("name: {n}\ntags: " + ",".join(f"t{i}" for i in range(101)) + "\n", None),
    "broken": ("name: [{n}\n", "{{"),
}
_kinds = st.sampled_from(sorted(_BODIES))


def _content(path: str, kind: str, number: int) -> bytes:
    yaml_text, json_text = _BODIES[kind]
    name = f"item{number}"
    if path.lower().endswith(".json"):
        return (json_text or yaml_text).format(n=name).encode()
    text = yaml_text.format(n=name)
    return (f"---\n{text}---\nbody\n" if path.lower().endswith(".md") else text).encode()


_files = st.lists(
    st.tuples(st.sampled_from(["skills", "tools"]), _depths, _names, _extensions, _kinds),
    min_size=1,
    max_size=8,
)
_renames = st.lists(st.tuples(st.integers(0, 7), _extensions), max_size=4)


def _write(root: Path, path: str, data: bytes) -> bool:
    target = os.path.join(os.fsencode(root), os.fsencode(path))
    if os.path.exists(target):
        return False
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as fh:
        fh.write(data)
    return True


def _rename(root: Path, path: str, extension: str) -> None:
    stem = path.rsplit(".", 1)[0]
    old = os.path.join(os.fsencode(root), os.fsencode(path))
    new = os.path.join(os.fsencode(root), os.fsencode(stem + extension))
    if os.path.exists(old) and not os.path.exists(new):
        os.rename(old, new)


def _run(engine: Engine, repo: str, root: Path, **kwargs: object) -> Result:
    request = ReconcileRequest(trigger="test", force=True, **kwargs)  # type: ignore[arg-type]
    return reconcile(engine, repo, LocalSource(root), OPTIONS, request)


def _check(engine: Engine, repo: str, root: Path, runs_before: int) -> int:
    """Run, then hold the table against lint; returns the number of `sync_runs` rows now."""
    result = _run(engine, repo, root)
    assert result.outcome in ("success", "noop"), result.error
    with session_factory(engine)() as s:
        repo_id = s.execute(select(Repository.id).where(Repository.full_name == repo)).scalar_one()
        runs = s.scalar(select(func.count()).where(SyncRun.repository_id == repo_id))
        errors = list(
            s.execute(
                select(CatalogFileError.git_path).where(CatalogFileError.repository_id == repo_id)
            ).scalars()
        )
    assert runs == runs_before + 1
    report = lint_folder(root, RULES)
    rows = {i.git_path: i.blob_sha for i in live_items(engine, repo)}
    assert rows == {path: item.blob_sha for path, item in report.items.items()}
    assert sorted(errors) == sorted(error_path(e.path) for e in report.errors)
    verify = _run(engine, repo, root, full=True, dry_run=True)
    assert verify.ok and verify.counts.details == [], verify.counts.details
    resync = _run(engine, repo, root, full=True)
    assert resync.ok and resync.counts.changed == 0, resync.counts.details
    return runs + 1


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=_files, renames=_renames)
def test_any_tree_reconciles_completely_and_agrees_with_lint(
    engine: Engine,
    tmp_path: Path,
    files: list[tuple[str, int, str, str, str]],
    renames: list[tuple[int, str]],
) -> None:
    number = next(_numbers)
    repo = f"acme/hostile{number}"
    root = tmp_path / f"tree{number}"
    written: list[str] = []
    for index, (top, depth, name, extension, kind) in enumerate(files):
        folders = [f"{index}" + "d" * 199 for _ in range(depth)]
        path = "/".join([top, *folders, name + extension])
        if _write(root, path, _content(path, kind, index)):
            written.append(path)
    runs = _check(engine, repo, root, 0)
    for index, extension in renames:
        if written:
            _rename(root, written[index % len(written)], extension)
    _check(engine, repo, root, runs)
    shutil.rmtree(root)
