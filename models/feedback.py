"""`feedback_reports`: every verdict catalog-sync reported (or tried to report) on GitHub.

One row per verdict: the last one per repository is what `catalog-sync status` shows, the
rows of one commit tell a repeated reconcile that the commit already has its verdict, and the
counts by method and outcome are the feedback figures of `/metrics` (read from the database,
so the receiver reports what the workers posted).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.types import UTCDateTime, utcnow


class FeedbackReport(Base):
    """One verdict on one commit: for a push to the watched branch, or for a pull request."""

    __tablename__ = "feedback_reports"
    __table_args__ = (
        Index("ix_feedback_reports_repository_id_head_sha", "repository_id", "head_sha"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False
    )
    #: `push` (a synced commit of the watched branch) or `pull_request`.
    event: Mapped[str] = mapped_column(String(20), nullable=False)
    pull_number: Mapped[int | None] = mapped_column(Integer)
    head_sha: Mapped[str] = mapped_column(String(40), nullable=False)
    #: How it was reported: `checks`, `status` or `off` (`GITHUB_FEEDBACK`).
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    #: The check run conclusion: `success`, `failure` or `skipped`.
    conclusion: Mapped[str] = mapped_column(String(20), nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    annotations: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: `posted`, `failed` (GitHub refused or was unreachable) or `off` (not sent).
    outcome: Mapped[str] = mapped_column(String(10), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    check_run_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
