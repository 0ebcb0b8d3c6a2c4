"""A pull request and the files it changes, read from GitHub's REST API.

`GET /repos/{owner}/{repo}/pulls/{number}` says where the pull request stands now (its head
may have moved since the delivery); `GET .../compare/{base}...{head}` lists the files changed
since the merge base. With `per_page` set, GitHub returns every changed file with page 1 (up
to 300), so one page of one commit is all this asks for.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from worker.errors import SourceError
from worker.github.client import GitHubClient, repo_path
from worker.pulls.changes import MAX_COMPARE_FILES, ChangedFile, ChangesError, from_compare

_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class PullRequest:
    """Where a pull request stands: open or not, its head (and the head's repository)."""

    number: int
    state: str
    head_sha: str
    #: `owner/name` of the head's repository (a fork, maybe); None once a fork is deleted.
    head_repository: str | None
    base_ref: str
    default_branch: str | None

    @property
    def open(self) -> bool:
        return self.state == "open"


@dataclass(frozen=True)
class Comparison:
    files: list[ChangedFile]
    merge_base: str
    #: False when GitHub may have cut the list (300 files): diff the trees instead.
    complete: bool


def _sha(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _SHA.fullmatch(value):
        raise SourceError(f"{what}: GitHub sent no commit SHA")
    return value


def get_pull_request(client: GitHubClient, full_name: str, number: int) -> PullRequest:
    body = client.get_json(
        f"{repo_path(full_name)}/pulls/{number}",
        what=f"{full_name}#{number}",
        not_found="no such pull request",
    )
    head, base = body.get("head") or {}, body.get("base") or {}
    head_repo, base_repo = head.get("repo"), base.get("repo") or {}
    return PullRequest(
        number=number,
        state=str(body.get("state")),
        head_sha=_sha(head.get("sha"), f"{full_name}#{number}"),
        head_repository=head_repo.get("full_name") if isinstance(head_repo, dict) else None,
        base_ref=str(base.get("ref") or ""),
        default_branch=base_repo.get("default_branch"),
    )


def compare(client: GitHubClient, full_name: str, base_ref: str, head_sha: str) -> Comparison:
    """The files changed from the merge base of `base_ref` and `head_sha` to `head_sha`."""
    basehead = f"{urllib.parse.quote(base_ref, safe='/')}...{head_sha}"
    body = client.get_json(
        f"{repo_path(full_name)}/compare/{basehead}",
        what=f"{full_name} ({base_ref}...{head_sha[:7]})",
        params={"per_page": 1, "page": 1},
        not_found="no common history, or the head commit is gone",
    )
    files = body.get("files") or []
    try:
        changed = from_compare(files)
    except ChangesError as exc:
        raise SourceError(f"{full_name}: {exc}") from None
    merge_base = _sha((body.get("merge_base_commit") or {}).get("sha"), full_name)
    return Comparison(changed, merge_base, complete=len(changed) < MAX_COMPARE_FILES)
