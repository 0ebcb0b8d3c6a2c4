"""Convergence: whatever happened to the tree, one reconcile makes the table equal to it."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from models import CatalogItem, Repository, session_factory
from worker.cli.views import live_items
from worker.sync.folder import LocalSource, walk_folder
from worker.sync.layout import CatalogRules, classify
from worker.sync.parse import FileError, parse_item
from worker.sync.reconcile import Options, ReconcileRequest, reconcile

RULES = CatalogRules(roots={"skills": "skill", "tools": "tool"})
OPTIONS = Options(rules=RULES)
_repo_numbers = itertools.count()
_content_numbers = itertools.count()

NAMES = [f"skills/s{i}.md" for i in range(6)] + ["skills/f/SKILL.md", "tools/t.yaml"]

ops = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.sampled_from(NAMES)),
        st.tuples(st.just("break"), st.sampled_from(NAMES)),
        st.tuples(st.just("delete"), st.sampled_from(NAMES)),
        st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
        st.tuples(st.just("revert"), st.integers(min_value=0, max_value=5)),
        st.tuples(st.just("reconcile")),
    ),
    max_size=25,
)


class WorkTree:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True)
        self.git("init", "-q")
        self.commits: list[str] = []

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.root), "-c", "user.name=t", "-c", "user.email=t@e", *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def commit(self) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", "step")
        self.commits.append(self.git("rev-parse", "HEAD"))

    def content(self, path: str) -> str:
        n = next(_content_numbers)
        if path.endswith(".yaml"):
            return f"name: item{n}\n"
        return f"---\nname: item{n}\n---\nbody {n}\n"

    def apply(self, op: tuple) -> None:  # type: ignore[type-arg]
        kind = op[0]
        target = self.root / op[1] if kind != "revert" and len(op) > 1 else None
        if kind == "write" and target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.content(op[1]))
        elif kind == "break" and target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f"---\nname: [broken {next(_content_numbers)}\n---\n")
        elif kind == "delete" and target is not None and target.exists():
            target.unlink()
        elif kind == "rename" and target is not None and target.exists():
            dest = self.root / op[2]
            if not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                target.rename(dest)
        elif kind == "revert" and self.commits:
            sha = self.commits[op[1] % len(self.commits)]
            self.git("read-tree", "--reset", "-u", sha)  # the work tree as it was at `sha`
        self.commit()


def _snapshot(engine: Engine, repo: str) -> dict[str, tuple[object, str, str]]:
    return {r.git_path: (r.id, r.blob_sha, r.name) for r in live_items(engine, repo)}


def _all_paths(engine: Engine, repo: str) -> set[str]:
    """Paths with a row, live or soft-deleted."""
    stmt = (
        select(CatalogItem.git_path)
        .join(Repository, Repository.id == CatalogItem.repository_id)
        .where(Repository.full_name == repo)
    )
    with session_factory(engine)() as session:
        return set(session.execute(stmt).scalars())


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=ops)
def test_table_converges_to_the_tree(engine: Engine, tmp_path: Path, steps: list) -> None:  # type: ignore[type-arg]
    repo = f"acme/r{next(_repo_numbers)}"
    tree = WorkTree(tmp_path / repo.replace("/", "-"))
    previous: dict[str, tuple[object, str, str]] = {}
    had_rows: set[str] = set()

    def run() -> None:
        result = reconcile(
            engine,
            repo,
            LocalSource(tree.root),
            OPTIONS,
            ReconcileRequest(trigger="test", force=True),
        )
        assert result.outcome in ("success", "noop"), result.error

    for op in steps:
        tree.apply(op)
        if op[0] == "reconcile":
            run()
            previous = _snapshot(engine, repo)
            had_rows = _all_paths(engine, repo)
    run()
    entries = walk_folder(tree.root)
    desired = classify(entries, RULES)
    shas = {e.path: e.sha for e in entries}
    now = _snapshot(engine, repo)
    good = {
        p
        for p in desired
        if not isinstance(parse_item(p, (tree.root / p).read_bytes(), RULES), FileError)
    }
    # Every good file has a row with its blob; a broken one keeps whatever row it had.
    assert good <= set(now)
    assert set(now) <= set(desired)
    for path in good:
        assert now[path][1] == shas[path]
    # A file moved (to a path that never had a row) with the same content keeps its row id.
    old_by_sha = {sha: (path, ident) for path, (ident, sha, _) in previous.items()}
    for path, (ident, sha, _) in now.items():
        moved = sha in old_by_sha and old_by_sha[sha][0] not in desired
        if moved and path not in had_rows:
            assert ident == old_by_sha[sha][1], f"{path} lost its id on a move"
    # A second reconcile is a no-op.
    again = reconcile(
        engine, repo, LocalSource(tree.root), OPTIONS, ReconcileRequest(trigger="test", force=True)
    )
    assert again.counts.changed == 0
    assert _snapshot(engine, repo) == now
