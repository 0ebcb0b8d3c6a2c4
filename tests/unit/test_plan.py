"""The planner is pure: desired state and rows in, a plan out."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.errors import UnsafePlanError
from worker.sync.plan import RowState, Wanted, check_safe, plan_reconcile

A, B, C = "a" * 40, "b" * 40, "c" * 40


def row(path: str, sha: str, *, deleted: bool = False, type_: str = "skill") -> RowState:
    return RowState(id=uuid.uuid4(), path=path, sha=sha, type=type_, deleted=deleted)


def want(sha: str, type_: str = "skill") -> Wanted:
    return Wanted(sha=sha, type=type_)


def test_new_paths_are_fetched_and_equal_ones_left_alone() -> None:
    plan = plan_reconcile(
        {"skills/a.md": want(A), "skills/b.md": want(B)}, [row("skills/a.md", A)], {}
    )
    assert plan.fetch == {"skills/b.md": B}
    assert plan.unchanged == ["skills/a.md"]
    assert not plan.deletes and not plan.moves


def test_changed_blob_is_fetched() -> None:
    plan = plan_reconcile({"skills/a.md": want(B)}, [row("skills/a.md", A)], {})
    assert plan.fetch == {"skills/a.md": B}


def test_rename_with_same_blob_is_a_move_keeping_the_row() -> None:
    old = row("skills/pdf/SKILL.md", A)
    plan = plan_reconcile({"skills/pdf2/SKILL.md": want(A)}, [old], {})
    assert plan.fetch == {}
    assert [(m.row_id, m.old_path, m.new_path) for m in plan.moves] == [
        (old.id, "skills/pdf/SKILL.md", "skills/pdf2/SKILL.md")
    ]
    assert plan.deletes == []


def test_move_across_roots_takes_the_new_type() -> None:
    plan = plan_reconcile({"tools/x.md": want(A, "tool")}, [row("skills/x.md", A)], {})
    assert plan.moves[0].type == "tool"


def test_vanished_path_is_soft_deleted() -> None:
    gone = row("skills/a.md", A)
    plan = plan_reconcile({}, [gone], {})
    assert plan.deletes == [gone]


def test_already_deleted_rows_are_not_deleted_again() -> None:
    plan = plan_reconcile({}, [row("skills/a.md", A, deleted=True)], {})
    assert plan.is_noop


def test_reappearing_path_with_same_blob_is_restored_without_reading() -> None:
    dead = row("skills/a.md", A, deleted=True)
    plan = plan_reconcile({"skills/a.md": want(A)}, [dead], {})
    assert plan.restores == [dead]
    assert plan.fetch == {}


def test_reappearing_path_with_new_blob_is_fetched() -> None:
    plan = plan_reconcile({"skills/a.md": want(B)}, [row("skills/a.md", A, deleted=True)], {})
    assert plan.fetch == {"skills/a.md": B}


def test_new_path_onto_a_deleted_row_path_is_not_a_move_target() -> None:
    """A path that still has a (soft-deleted) row restores that row; no unique conflict."""
    dead = row("skills/b.md", A, deleted=True)
    live = row("skills/a.md", A)
    plan = plan_reconcile({"skills/b.md": want(A)}, [live, dead], {})
    assert plan.restores == [dead]
    assert plan.deletes == [live]
    assert plan.moves == []


def test_broken_file_with_same_blob_is_not_reread() -> None:
    plan = plan_reconcile({"skills/a.md": want(A)}, [], {"skills/a.md": A})
    assert plan.fetch == {}
    assert plan.kept_errors == ["skills/a.md"]


def test_broken_file_that_changed_is_reread() -> None:
    plan = plan_reconcile({"skills/a.md": want(B)}, [], {"skills/a.md": A})
    assert plan.fetch == {"skills/a.md": B}


def test_error_of_a_removed_file_is_cleared() -> None:
    plan = plan_reconcile({}, [], {"skills/a.md": A})
    assert plan.clear_errors == ["skills/a.md"]


def test_full_rereads_everything() -> None:
    plan = plan_reconcile({"skills/a.md": want(A)}, [row("skills/a.md", A)], {}, full=True)
    assert plan.fetch == {"skills/a.md": A}


def test_incomplete_listing_never_deletes() -> None:
    plan = plan_reconcile({}, [row("skills/a.md", A), row("skills/b.md", B)], {}, complete=False)
    assert plan.deletes == []
    assert plan.withheld_deletes == 2


def test_safe_delete_refuses_mass_deletion_unless_forced() -> None:
    rows = [row(f"skills/{i}.md", f"{i:040d}") for i in range(30)]
    plan = plan_reconcile({}, rows, {})
    with pytest.raises(UnsafePlanError, match="refusing to delete 30 of 30"):
        check_safe(plan, 30, 0.5, force=False)
    check_safe(plan, 30, 0.5, force=True)


def test_small_deletions_are_always_allowed() -> None:
    plan = plan_reconcile({}, [row("skills/a.md", A), row("skills/b.md", B)], {})
    check_safe(plan, 2, 0.5, force=False)


paths = st.sampled_from([f"skills/{c}.md" for c in "abcdefgh"])
shas = st.sampled_from([A, B, C])


@given(
    desired=st.dictionaries(paths, shas),
    existing=st.dictionaries(paths, st.tuples(shas, st.booleans())),
)
def test_every_path_is_accounted_for_exactly_once(
    desired: dict[str, str], existing: dict[str, tuple[str, bool]]
) -> None:
    rows = [row(p, s, deleted=d) for p, (s, d) in existing.items()]
    plan = plan_reconcile({p: want(s) for p, s in desired.items()}, rows, {})
    targets = (
        list(plan.fetch)
        + plan.unchanged
        + [r.path for r in plan.restores]
        + [m.new_path for m in plan.moves]
    )
    assert sorted(targets) == sorted(desired)
    moved_from = {m.old_path for m in plan.moves}
    deleted = {r.path for r in plan.deletes}
    live_vanished = {p for p, (_, d) in existing.items() if not d and p not in desired}
    assert moved_from | deleted == live_vanished
    assert not moved_from & deleted


# --- a rename that changes how the file is read (issue 13, class 4) ----------------------------

_EXTENSIONS = [".md", ".markdown", ".yaml", ".yml", ".json", ".MD", ".JSON"]
_TYPES = ["skill", "tool"]


@given(
    old_ext=st.sampled_from(_EXTENSIONS),
    new_ext=st.sampled_from(_EXTENSIONS),
    old_type=st.sampled_from(_TYPES),
    new_type=st.sampled_from(_TYPES),
)
def test_a_rename_is_reread_exactly_when_the_parse_mode_or_type_changes(
    old_ext: str, new_ext: str, old_type: str, new_type: str
) -> None:
    from worker.sync.parse import parse_mode

    old = row(f"skills/t{old_ext}", A, type_=old_type)
    new_path = f"tools/u{new_ext}"
    plan = plan_reconcile({new_path: want(A, new_type)}, [old], {})
    [move] = plan.moves
    assert (move.row_id, move.old_path, move.new_path) == (old.id, old.path, new_path)
    same = parse_mode(old.path) == parse_mode(new_path) and old_type == new_type
    assert move.reread is not same
    assert (new_path in plan.fetch) is not same
    assert plan.deletes == []


def test_a_rename_prefers_the_target_read_alike() -> None:
    """Two new paths with the vanished row's blob: the one needing no read is the move."""
    old = row("tools/t.yaml", A, type_="tool")
    plan = plan_reconcile(
        {"tools/t.json": want(A, "tool"), "tools/u.yml": want(A, "tool")}, [old], {}
    )
    assert [(m.new_path, m.reread) for m in plan.moves] == [("tools/u.yml", False)]
    assert plan.fetch == {"tools/t.json": A}


@given(
    desired=st.dictionaries(
        st.sampled_from(
            [f"{r}/{c}{e}" for r in ("skills", "tools") for c in "ab" for e in _EXTENSIONS]
        ),
        shas,
    ),
    existing=st.dictionaries(
        st.sampled_from([f"skills/{c}{e}" for c in "abc" for e in _EXTENSIONS]),
        st.tuples(shas, st.booleans()),
    ),
)
def test_every_path_is_accounted_for_once_with_rereads(
    desired: dict[str, str], existing: dict[str, tuple[str, bool]]
) -> None:
    rows = [row(p, s, deleted=d) for p, (s, d) in existing.items()]
    wanted = {p: want(s, p.split("/")[0][:-1]) for p, s in desired.items()}
    plan = plan_reconcile(wanted, rows, {})
    pure = [m.new_path for m in plan.moves if not m.reread]
    targets = list(plan.fetch) + plan.unchanged + [r.path for r in plan.restores] + pure
    assert sorted(targets) == sorted(desired)
    assert {m.new_path for m in plan.moves if m.reread} <= set(plan.fetch)


# --- paths that cannot be stored (issue 13, class 3) -------------------------------------------


def test_an_unstorable_path_is_read_never_a_move_target_and_its_error_is_keyed() -> None:
    from worker.sync.storable import GIT_PATH_CHARS, error_path

    long_path = "skills/" + "d" * GIT_PATH_CHARS + ".md"
    old = row("skills/a.md", A)
    plan = plan_reconcile({long_path: want(A)}, [old], {})
    assert plan.fetch == {long_path: A} and plan.moves == [] and plan.deletes == [old]
    key = error_path(long_path)
    assert key != long_path and len(key) <= GIT_PATH_CHARS
    kept = plan_reconcile({long_path: want(A)}, [], {key: A})
    assert kept.fetch == {} and kept.kept_errors == [key]
    changed = plan_reconcile({long_path: want(B)}, [], {key: A})
    assert changed.fetch == {long_path: B}
    gone = plan_reconcile({}, [], {key: A})
    assert gone.clear_errors == [key]


def test_an_error_with_no_sha_is_always_retried() -> None:
    """Old "could not be read" rows are loaded with an empty SHA: never kept, always read."""
    plan = plan_reconcile({"skills/a.md": want(A)}, [], {"skills/a.md": ""})
    assert plan.fetch == {"skills/a.md": A} and plan.kept_errors == []
