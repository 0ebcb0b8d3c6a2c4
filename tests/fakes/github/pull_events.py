"""A pull request's JSON, as `GET .../pulls/{number}` and the `pull_request` event show it.

Shaped after octokit/webhooks' recorded `pull_request` payloads (tests/data/github-payloads):
`head` and `base` carry `label`, `ref`, `sha`, `user` and `repo`; `head.repo` is the fork for a
pull request from a fork, and null once that fork is deleted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.fakes.github.gitcmd import iso
from tests.fakes.github.shapes import repo_json

if TYPE_CHECKING:
    from tests.fakes.github.repo import FakeRepo


@dataclass
class PullRequest:
    """An open (or closed) pull request of `head_repo:head_ref` into `base_repo:base_ref`."""

    id: int
    number: int
    base_repo: FakeRepo
    base_ref: str
    head_repo: FakeRepo | None
    head_ref: str
    head_sha: str
    title: str
    draft: bool = False
    state: str = "open"
    created_at: float = 0.0

    @property
    def is_fork(self) -> bool:
        return self.head_repo is not None and self.head_repo is not self.base_repo


def _user(login: str) -> dict[str, Any]:
    return {"login": login, "id": 1, "node_id": "U_1", "type": "User", "site_admin": False}


def _side(repo: FakeRepo | None, owner: str, ref: str, sha: str, fork: bool) -> dict[str, Any]:
    repo_doc = None if repo is None else {**repo_json(repo), "fork": fork}
    return {
        "label": f"{owner}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": _user(owner),
        "repo": repo_doc,
    }


def pull_request_json(pr: PullRequest, login: str) -> dict[str, Any]:
    """The pull request object (REST and webhook share it)."""
    base = pr.base_repo
    api = f"{base.api_url}/pulls/{pr.number}"
    web = f"https://github.com/{base.full_name}/pull/{pr.number}"
    head_owner = pr.head_repo.owner if pr.head_repo is not None else "ghost"
    base_sha = base.ref(pr.base_ref) or ""
    return {
        "url": api,
        "id": pr.id,
        "node_id": f"PR_{pr.id}",
        "html_url": web,
        "diff_url": web + ".diff",
        "patch_url": web + ".patch",
        "number": pr.number,
        "state": pr.state,
        "locked": False,
        "title": pr.title,
        "user": _user(login),
        "body": None,
        "created_at": iso(pr.created_at),
        "updated_at": iso(time.time()),
        "closed_at": None if pr.state == "open" else iso(time.time()),
        "merged_at": None,
        "merge_commit_sha": None,
        "draft": pr.draft,
        "commits_url": api + "/commits",
        "statuses_url": f"{base.api_url}/statuses/{pr.head_sha}",
        "head": _side(pr.head_repo, head_owner, pr.head_ref, pr.head_sha, pr.is_fork),
        "base": _side(base, base.owner, pr.base_ref, base_sha, False),
        "author_association": "OWNER",
        "merged": False,
        "mergeable": None,
        "comments": 0,
        "commits": 1,
        "additions": 0,
        "deletions": 0,
        "changed_files": 0,
    }


def pull_request_payload(
    pr: PullRequest, action: str, login: str, before: str | None = None
) -> dict[str, Any]:
    """The `pull_request` event for `action` (`synchronize` also carries `before`/`after`)."""
    payload: dict[str, Any] = {
        "action": action,
        "number": pr.number,
        "pull_request": pull_request_json(pr, login),
        "repository": repo_json(pr.base_repo),
        "sender": _user(login),
    }
    if action == "synchronize":
        payload["before"] = before
        payload["after"] = pr.head_sha
    return payload
