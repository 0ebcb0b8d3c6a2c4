"""After a reconcile: report the verdict on the synced commit, once per commit, never failing.

The reconcile has committed by the time this runs; whatever happens here (GitHub refusing,
unreachable, a bug) is logged, recorded and counted, and the reconcile's outcome stands.
A commit gets one verdict, whichever run synced it first: a redelivered push, the poll that
finds the same head or a nightly re-check posts nothing more, and a refused post is not
retried by every poll that follows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select

from models import CatalogFileError, Repository, session_factory
from worker.feedback.post import Posted, Target, details_url, post_verdict
from worker.feedback.records import PUSH, has_report, record_report
from worker.feedback.synced import ResultLike, synced_verdict, wants_verdict

if TYPE_CHECKING:
    from settings import Settings
    from worker.github.client import GitHubClient

log = logging.getLogger(__name__)


def report_synced_commit(
    engine: Engine,
    settings: Settings,
    client: Callable[[], GitHubClient],
    result: ResultLike,
) -> Posted | None:
    """The verdict on `result.to_sha`, sent as `GITHUB_FEEDBACK` says; None when none is due."""
    try:
        sha = result.to_sha
        if not wants_verdict(result) or sha is None:
            return None
        if has_report(engine, result.full_name, sha, PUSH):
            return None
        verdict = synced_verdict(result, file_errors(engine, result.full_name))
        method = settings.feedback_mode
        target = Target(
            result.full_name, sha, details_url(settings.catalog_feedback_url, result.full_name, sha)
        )
        posted = post_verdict(client(), method, target, verdict)
        record_report(engine, result.full_name, PUSH, sha, verdict, posted)
        return posted
    except Exception:  # feedback must never fail the reconcile that called it
        log.exception("feedback.error", extra={"repository": result.full_name})
        return None


def file_errors(engine: Engine, full_name: str) -> list[tuple[str, str]]:
    """(path, message) of every file of the repository that is not synced because it is broken."""
    stmt = (
        select(CatalogFileError.git_path, CatalogFileError.message)
        .join(Repository, Repository.id == CatalogFileError.repository_id)
        .where(Repository.full_name == full_name)
        .order_by(CatalogFileError.git_path)
    )
    with session_factory(engine)() as session:
        return [(path, message) for path, message in session.execute(stmt)]
