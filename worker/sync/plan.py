"""The reconcile planner: desired state versus rows, as a pure function.

Level-triggered: the plan depends only on what the tree holds now and what the table holds now,
never on which push arrived, so running it twice, late or out of order gives the same table.
Rows are compared by git blob SHA; only paths whose SHA the table lacks are read and parsed.
A parse depends on the path too (its extension picks Markdown, YAML or JSON): a rename that
changes how the file is read, or its item type, is a move that reads the file again.
Error rows are keyed by `storable.error_path` (a path that cannot be stored gets a stand-in).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from models import ItemType
from worker.errors import UnsafePlanError
from worker.sync.parse import parse_mode
from worker.sync.storable import error_path, path_problem

#: Fewer deletions than this are never refused: a three-item repository may lose two items.
SAFE_DELETE_FLOOR = 10


@dataclass(frozen=True, slots=True)
class Wanted:
    """One item of the desired state: its blob SHA and its type (from its catalog root)."""

    sha: str
    type: ItemType


@dataclass(frozen=True, slots=True)
class RowState:
    """What the planner needs of a `catalog_items` row."""

    id: uuid.UUID
    path: str
    sha: str
    type: ItemType
    deleted: bool = False


@dataclass(frozen=True)
class Move:
    """A path vanished and another appeared with the same blob: the row follows the file.

    `reread`: the new path is read differently (another extension or item type), so it stays
    in `Plan.fetch`; the moved row is updated from the new parse, or deleted if it fails.
    """

    row_id: uuid.UUID
    old_path: str
    new_path: str
    type: ItemType
    reread: bool = False


@dataclass
class Plan:
    """What a reconcile will do. `fetch` is everything that must be read and parsed.

    `clear_errors` and `kept_errors` hold error keys (`storable.error_path`), not paths.
    """

    fetch: dict[str, str] = field(default_factory=dict)
    moves: list[Move] = field(default_factory=list)
    deletes: list[RowState] = field(default_factory=list)
    restores: list[RowState] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    clear_errors: list[str] = field(default_factory=list)
    kept_errors: list[str] = field(default_factory=list)
    withheld_deletes: int = 0

    @property
    def is_noop(self) -> bool:
        """True when applying would change no row and no error."""
        return not (self.fetch or self.moves or self.deletes or self.restores or self.clear_errors)


def plan_reconcile(
    desired: Mapping[str, Wanted],
    rows: list[RowState],
    errors: Mapping[str, str],
    *,
    full: bool = False,
    complete: bool = True,
) -> Plan:
    """Compare the tree with the rows. `errors` maps error keys to the SHA that failed.

    `full` re-reads every item (catches rows edited by hand). An incomplete listing never
    deletes: its deletions are counted in `withheld_deletes` instead.
    """
    plan = Plan()
    by_path = {row.path: row for row in rows}

    error_keys = {path: error_path(path) for path in desired}
    for path, want in sorted(desired.items()):
        row = by_path.get(path)
        key = error_keys[path]
        failed_sha = errors.get(key)
        if full:
            plan.fetch[path] = want.sha
        elif failed_sha == want.sha:
            plan.kept_errors.append(key)  # same broken blob: don't re-read, keep the error
        elif row is None or row.sha != want.sha or row.type != want.type:
            plan.fetch[path] = want.sha
        elif row.deleted:
            plan.restores.append(row)
        else:
            plan.unchanged.append(path)
        if failed_sha is not None and failed_sha != want.sha and path not in plan.fetch:
            plan.clear_errors.append(key)

    wanted_keys = set(error_keys.values())
    plan.clear_errors.extend(sorted(k for k in errors if k not in wanted_keys))

    vanished = [r for r in rows if not r.deleted and r.path not in desired]
    _pair_moves(plan, vanished, desired, by_path)

    if not complete:
        plan.withheld_deletes = len(plan.deletes)
        plan.deletes = []
    return plan


def _pair_moves(
    plan: Plan,
    vanished: list[RowState],
    desired: Mapping[str, Wanted],
    by_path: Mapping[str, RowState],
) -> None:
    """Turn (vanished row, brand-new path with the same blob) pairs into moves; rest deletes.

    A path that cannot be stored is never a move target: it is read, and fails as a file.
    """
    new_by_sha: dict[str, list[str]] = defaultdict(list)
    for path in sorted(plan.fetch):
        if path not in by_path and path_problem(path) is None:
            new_by_sha[desired[path].sha].append(path)
    for row in sorted(vanished, key=lambda r: r.path):
        candidates = new_by_sha.get(row.sha)
        if not candidates:
            plan.deletes.append(row)
            continue
        # Prefer a target read the same way: then the move needs no read at all.
        new_path = next((p for p in candidates if _reads_alike(row, p, desired[p])), candidates[0])
        candidates.remove(new_path)
        reread = not _reads_alike(row, new_path, desired[new_path])
        if not reread:
            del plan.fetch[new_path]
        plan.moves.append(Move(row.id, row.path, new_path, desired[new_path].type, reread))


def _reads_alike(row: RowState, new_path: str, want: Wanted) -> bool:
    """True when the file at `new_path` parses as it did at the row's path (same mode, type)."""
    return parse_mode(row.path) == parse_mode(new_path) and row.type == want.type


def check_safe(plan: Plan, live_rows: int, max_fraction: float, *, force: bool) -> None:
    """Refuse a plan that would soft-delete more than `max_fraction` of the live rows."""
    deletes = len(plan.deletes)
    if force or deletes < SAFE_DELETE_FLOOR or deletes <= max_fraction * live_rows:
        return
    raise UnsafePlanError(
        f"refusing to delete {deletes} of {live_rows} live items "
        f"(more than {max_fraction:.0%}); check the branch and CATALOG_ROOTS, "
        "or run again with --force"
    )
