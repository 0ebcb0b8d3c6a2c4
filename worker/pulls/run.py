"""What the pull-request task does: validate the pull request as it is now, once per head.

The delivery only says which pull request moved; its state is read from GitHub when the task
runs, so a late or repeated delivery validates the current head (or nothing, once the pull
request is closed or retargeted), and a head that already has its verdict is not checked
again. GitHub being unreachable raises (the task retries, a bounded number of times); a
refused post of the verdict is recorded and counted, never raised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from worker.errors import ConfigError
from worker.feedback.post import Posted, Target, details_url, post_verdict
from worker.feedback.records import PULL_REQUEST, has_report, record_report
from worker.feedback.verdict import Verdict
from worker.pulls.github import get_pull_request
from worker.pulls.validate import validate_head
from worker.sync.layout import CatalogRules

if TYPE_CHECKING:
    from settings import Settings
    from worker.github.client import GitHubClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PullOutcome:
    """`reported` with the verdict and how posting went, or why nothing was reported."""

    full_name: str
    number: int
    reported: bool
    reason: str | None = None
    verdict: Verdict | None = None
    posted: Posted | None = None

    def summary(self) -> str:
        if self.verdict is None or self.posted is None:
            return f"{self.full_name}#{self.number}: not validated ({self.reason})"
        return (
            f"{self.full_name}#{self.number}: {self.verdict.conclusion}: {self.verdict.title} "
            f"({self.posted.method} {self.posted.outcome})"
        )


def check_pull_request(
    engine: Engine, settings: Settings, client: GitHubClient, full_name: str, number: int
) -> PullOutcome:
    """Validate `full_name#number` at its current head and report the verdict on GitHub."""
    spec = settings.repo_spec(full_name)
    if spec is None:
        return PullOutcome(full_name, number, False, "unwatched_repository")
    if not (settings.github_token or settings.uses_github_app):
        raise ConfigError("no GitHub credentials: set GITHUB_TOKEN or the GITHUB_APP_* settings")
    pr = get_pull_request(client, spec.full_name, number)
    if not pr.open:
        return PullOutcome(spec.full_name, number, False, "closed")
    if pr.base_ref != (spec.branch or pr.default_branch):
        return PullOutcome(spec.full_name, number, False, "unwatched_branch")
    if has_report(engine, spec.full_name, pr.head_sha, PULL_REQUEST, ("posted", "off")):
        return PullOutcome(spec.full_name, number, False, "already_reported")
    verdict = validate_head(
        engine,
        client,
        CatalogRules.from_settings(settings),
        spec.full_name,
        pr,
        settings.tarball_threshold,
    )
    url = details_url(settings.catalog_feedback_url, spec.full_name, pr.head_sha)
    target = Target(spec.full_name, pr.head_sha, url)
    posted = post_verdict(client, settings.feedback_mode, target, verdict)
    record_report(engine, spec.full_name, PULL_REQUEST, pr.head_sha, verdict, posted, number)
    log.info(
        "pull_request.validated",
        extra={
            "repository": spec.full_name,
            "pull_request": number,
            "sha": pr.head_sha,
            "conclusion": str(verdict.conclusion),
            "problems": len(verdict.annotations),
            "feedback": posted.outcome,
        },
    )
    return PullOutcome(spec.full_name, number, True, verdict=verdict, posted=posted)
