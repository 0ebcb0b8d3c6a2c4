"""What a reconcile is given (`Options`) and what it returns (`Result`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from models import RunOutcome
from worker.sync.apply import Counts
from worker.sync.catalog import CatalogRules
from worker.sync.plan import Plan


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
