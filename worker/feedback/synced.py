"""The verdict on a synced commit of the watched branch: pure, from a reconcile's result.

It reads only what every reconcile result carries (its outcome, counts, error and commit), so
it does not depend on how the sync engine is laid out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from worker.feedback.verdict import (
    Conclusion,
    Verdict,
    annotation_for,
    plural,
    summary_with_problems,
)

#: Reconcile outcomes that end with a verdict on the commit. A failed run (GitHub or the
#: database unreachable) is retried and says nothing about the files; a skipped one is
#: covered by the run that held the lock.
REPORTED_OUTCOMES = frozenset({"success", "noop", "refused"})


class CountsLike(Protocol):
    @property
    def added(self) -> int: ...
    @property
    def updated(self) -> int: ...
    @property
    def moved(self) -> int: ...
    @property
    def deleted(self) -> int: ...
    @property
    def restored(self) -> int: ...
    @property
    def errors(self) -> int: ...


class ResultLike(Protocol):
    """What the verdict reads of `worker.sync`'s reconcile result."""

    @property
    def full_name(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def to_sha(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def counts(self) -> CountsLike: ...


def wants_verdict(result: ResultLike) -> bool:
    """Whether the run ended in a state worth a verdict on its head commit."""
    return str(result.outcome) in REPORTED_OUTCOMES and bool(result.to_sha)


def counts_line(counts: CountsLike, errors: int) -> str:
    line = (
        f"{counts.added} added, {counts.updated} updated, {counts.moved} moved, "
        f"{counts.deleted} deleted"
    )
    if counts.restored:
        line += f", {counts.restored} restored"
    return f"{line}, {plural(errors, 'error')}"


def synced_verdict(result: ResultLike, file_errors: Sequence[tuple[str, str]]) -> Verdict:
    """The verdict on `result.to_sha`; `file_errors` are (path, message) at that commit.

    Broken files fail the check, one annotation each where the parser says the problem is;
    the other files synced. A refused run (it would delete too much) fails without annotations.
    """
    sha = (result.to_sha or "")[:7]
    if str(result.outcome) == "refused":
        return Verdict(
            Conclusion.FAILURE,
            "Catalog not synced: the change was refused",
            f"catalog-sync did not apply `{sha}`: {result.error or 'refused'}.\n\n"
            "The catalog keeps its previous state until an operator runs "
            "`catalog-sync resync --force` or the branch is fixed.",
        )
    annotations = tuple(annotation_for(path, message) for path, message in sorted(file_errors))
    line = counts_line(result.counts, len(annotations))
    if not annotations:
        return Verdict(
            Conclusion.SUCCESS,
            f"Catalog synced: {line}",
            f"Synced `{sha}` into the catalog: {line}.",
        )
    return Verdict(
        Conclusion.FAILURE,
        f"{plural(len(annotations), 'catalog file')} not synced: {line}",
        summary_with_problems(
            f"Synced `{sha}` into the catalog: {line}. These files were not synced; "
            "the catalog keeps their last good version until they are fixed:",
            annotations,
        ),
        annotations,
    )
