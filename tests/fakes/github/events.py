"""The `push` event's payload, built from the bare repository as GitHub builds it."""

from __future__ import annotations

import time
from typing import Any

from tests.fakes.github.gitcmd import ZERO_SHA, git
from tests.fakes.github.repo import FakeRepo
from tests.fakes.github.shapes import repo_json

#: GitHub lists at most this many commits in a push payload.
MAX_PUSH_COMMITS = 2048


def push_payload(repo: FakeRepo, ref: str, before: str, after: str, login: str) -> dict[str, Any]:
    """`ref` moved from `before` to `after` (ZERO_SHA: created or deleted), pushed by `login`."""
    deleted = after == ZERO_SHA
    created = before == ZERO_SHA
    forced = not created and not deleted and not repo.is_ancestor(before, after)
    commits = [] if deleted else _push_commits(repo, before, after)
    owner = {"name": repo.owner, "email": None, "login": repo.owner, "id": 1, "type": "User"}
    web = f"https://github.com/{repo.full_name}"
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "created": created,
        "deleted": deleted,
        "forced": forced,
        "base_ref": None,
        "compare": f"{web}/compare/{before[:12]}...{after[:12]}",
        "commits": commits,
        "head_commit": commits[-1] if commits else None,
        "repository": {
            **repo_json(repo),
            "owner": owner,
            "created_at": 1557933565,
            "pushed_at": int(time.time()),
            "master_branch": repo.default_branch,
        },
        "pusher": {"name": login, "email": f"{login}@users.noreply.github.com"},
        "sender": {"login": login, "id": 2, "type": "User"},
    }


def _push_commits(repo: FakeRepo, before: str, after: str) -> list[dict[str, Any]]:
    spec = after if before == ZERO_SHA else f"{before}..{after}"
    revs = git(repo.bare, "rev-list", "--reverse", f"--max-count={MAX_PUSH_COMMITS}", spec)
    shas = revs.decode().split()
    if not shas and before != ZERO_SHA:  # a force-push backwards: GitHub lists the head
        shas = [after]
    return [_push_commit(repo, sha) for sha in shas[-MAX_PUSH_COMMITS:]]


def _push_commit(repo: FakeRepo, sha: str) -> dict[str, Any]:
    info = repo.commit_info(sha)
    args = ["diff-tree", "-r", "--root", "--no-renames", "--name-status", "--no-commit-id", sha]
    files: dict[str, list[str]] = {"A": [], "D": [], "M": []}
    for line in git(repo.bare, *args).decode().splitlines():
        status, _, path = line.partition("\t")
        files.setdefault(status[:1], []).append(path)
    person = {
        "name": info["author"]["name"],
        "email": info["author"]["email"],
        "username": repo.owner,
    }
    return {
        "id": sha,
        "tree_id": info["tree"],
        "distinct": True,
        "message": info["message"],
        "timestamp": info["author"]["date"],
        "url": f"https://github.com/{repo.full_name}/commit/{sha}",
        "author": person,
        "committer": person,
        "added": files["A"],
        "removed": files["D"],
        "modified": files["M"] + files.get("T", []),
    }
