"""The `repositories` row, created on first sight by whoever sees the repository first.

The receiver (a push for a repository never synced) and the reconcile (a first poll) both need
the row; this is the one way to get it. Session-level, so it joins the caller's transaction, and
free of Celery, Flask and settings so that either side imports it cheaply.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Repository
from models.db import insert_ignoring_conflicts


def ensure_repository(session: Session, full_name: str, branch: str | None = None) -> int:
    """The id of `full_name`'s row, created if missing; a given `branch` is recorded on it.

    Race-safe: concurrent creators insert with ON CONFLICT DO NOTHING and read the winner's row.
    Flushed, not committed: the caller's transaction decides.
    """
    insert_ignoring_conflicts(session, Repository, [{"full_name": full_name, "branch": branch}])
    repo = session.execute(select(Repository).where(Repository.full_name == full_name)).scalar_one()
    if branch is not None and repo.branch != branch:
        repo.branch = branch
        session.flush()
    return repo.id
