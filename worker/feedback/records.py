"""`feedback_reports`: record each verdict, ask whether a commit has one, show the last ones."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from models import FeedbackReport, Repository, session_factory, transaction
from worker.feedback.post import Posted
from worker.feedback.verdict import Verdict
from worker.repositories import ensure_repository

PUSH = "push"
PULL_REQUEST = "pull_request"


def record_report(
    engine: Engine,
    full_name: str,
    event: str,
    sha: str,
    verdict: Verdict,
    posted: Posted,
    pull_number: int | None = None,
) -> None:
    """One row for one verdict, whether it reached GitHub or not."""
    with transaction(engine) as session:
        session.add(
            FeedbackReport(
                repository_id=ensure_repository(session, full_name),
                event=event,
                pull_number=pull_number,
                head_sha=sha,
                method=posted.method,
                conclusion=str(verdict.conclusion),
                title=verdict.title,
                annotations=len(verdict.annotations),
                outcome=posted.outcome,
                error=posted.error,
                check_run_id=posted.check_run_id,
            )
        )


def has_report(
    engine: Engine,
    full_name: str,
    sha: str,
    event: str,
    outcomes: Collection[str] = ("posted", "failed", "off"),
) -> bool:
    """Whether `sha` already has a verdict for `event` with one of `outcomes`."""
    stmt = (
        select(FeedbackReport.id)
        .join(Repository, Repository.id == FeedbackReport.repository_id)
        .where(
            Repository.full_name == full_name,
            FeedbackReport.head_sha == sha,
            FeedbackReport.event == event,
            FeedbackReport.outcome.in_(list(outcomes)),
        )
        .limit(1)
    )
    with session_factory(engine)() as session:
        return session.execute(stmt).first() is not None


@dataclass(frozen=True)
class LastVerdict:
    """The newest verdict on a repository's watched branch, as `status` shows it (its fields
    are its JSON keys)."""

    head_sha: str
    conclusion: str
    title: str
    method: str
    outcome: str
    error: str | None
    at: str

    def __str__(self) -> str:
        sent = self.outcome if self.method == "off" else f"{self.method} {self.outcome}"
        return f"{self.conclusion} ({sent})"


def last_verdicts(session: Session) -> dict[int, LastVerdict]:
    """Repository id -> its newest verdict on a pushed commit."""
    newest = (
        select(func.max(FeedbackReport.id))
        .where(FeedbackReport.event == PUSH)
        .group_by(FeedbackReport.repository_id)
    )
    rows = session.execute(select(FeedbackReport).where(FeedbackReport.id.in_(newest))).scalars()
    return {
        r.repository_id: LastVerdict(
            head_sha=r.head_sha,
            conclusion=r.conclusion,
            title=r.title,
            method=r.method,
            outcome=r.outcome,
            error=r.error,
            at=r.created_at.isoformat(),
        )
        for r in rows
    }
