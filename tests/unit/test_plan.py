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
