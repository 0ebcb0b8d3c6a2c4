"""One reconcile: what it is asked (`ReconcileRequest`), given (`Options`), returns (`Result`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from models import RunOutcome
from worker.sync.apply import Counts
from worker.sync.layout import CatalogRules
from worker.sync.plan import Plan

#: Called with (files read so far, files to read) as a reconcile reads changed files.
Progress = Callable[[int, int], None]

#: The trigger of the re-runs a reconcile makes for pushes that arrived while it ran.
COALESCED = "coalesced"


@dataclass(frozen=True)
class ReconcileRequest:
    """What one reconcile is asked to do, beyond which repository and from which source.

    `trigger` is recorded on the run (`webhook`, `poll`, `manual`, ...); `branch` None means
    the default branch; `full` re-reads every item; `force` applies a plan that deletes more
    than the safety limit; `dry_run` plans and applies in a transaction it rolls back.
    """

    trigger: str
    branch: str | None = None
    full: bool = False
    force: bool = False
    dry_run: bool = False
    progress: Progress | None = None

    def coalesced(self) -> ReconcileRequest:
        """The re-run for pushes that arrived meanwhile: incremental, never a dry run."""
        return replace(self, trigger=COALESCED, full=False, dry_run=False)


@dataclass(frozen=True)
class Options:
    """What a reconcile needs besides the source: rules and safety knobs."""

    rules: CatalogRules
    default_author: str = "catalog-sync"
    max_delete_fraction: float = 0.5
    tarball_threshold: int = 50


@dataclass
class Result:
    """How a reconcile ended; `counts` are also on its `sync_runs` row."""

    full_name: str
    outcome: str
    counts: Counts = field(default_factory=Counts)
    from_sha: str | None = None
    to_sha: str | None = None
    requests: int = 0
    run_id: int | None = None
    error: str | None = None
    withheld_deletes: int = 0
    plan: Plan | None = None
    #: The head answer's ETag, stored so the next poll can be a free 304.
    etag: str | None = None
    #: The error that ended the run, for the task's retry decision (never stored as is).
    exception: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in (RunOutcome.SUCCESS, RunOutcome.NOOP, RunOutcome.SKIPPED)

    def summary(self) -> str:
        if self.outcome in (RunOutcome.FAILED, RunOutcome.REFUSED):
            return f"{self.full_name}: {self.outcome}: {self.error}"
        c = self.counts
        text_ = (
            f"{self.full_name}: {self.outcome}: {c.added} added, {c.updated} updated, "
            f"{c.moved} moved, {c.deleted} deleted, {c.restored} restored, "
            f"{c.errors} errors, {c.unchanged} unchanged"
        )
        if self.withheld_deletes:
            text_ += f" ({self.withheld_deletes} deletions withheld: listing incomplete)"
        if self.error:
            text_ += f" — {self.error}"
        return text_
