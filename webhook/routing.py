"""Which verified pushes start work: pure, so every branch of the decision is unit-testable."""

from __future__ import annotations

from settings import RepoSpec, Settings
from webhook.payload import ZERO_SHA, PushEvent


def ignore_reason(push: PushEvent, settings: Settings, spec: RepoSpec | None = None) -> str | None:
    """None when the push is for a watched repository and branch, else why it is ignored.

    `spec`: the watched spec when the caller found it (a discovered repository); else the
    settings' explicit one. A deletion is ignored whatever the ref: deleting the branch must
    never empty the catalog; the poll reports the missing branch instead.
    """
    spec = spec or settings.repo_spec(push.repository_full_name)
    if spec is None:
        return "unwatched_repository"
    if push.is_tag:
        return "tag"
    if push.deleted or push.after == ZERO_SHA:
        return "branch_deleted"
    if push.branch is None:
        return "not_a_branch"
    if push.branch != watched_branch(spec, push):
        return "unwatched_branch"
    return None


def watched_branch(spec: RepoSpec, push: PushEvent) -> str | None:
    """The configured branch, or the repository's default branch as the payload names it."""
    return spec.branch or push.default_branch
