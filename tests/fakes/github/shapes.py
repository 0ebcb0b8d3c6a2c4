"""GitHub's JSON for a repository and a commit, shared by the API and the webhook payloads."""

from __future__ import annotations

import base64
from typing import Any

from tests.fakes.github.gitcmd import git
from tests.fakes.github.repo import FakeRepo

_FILE_STATUS = {
    "A": "added",
    "D": "removed",
    "M": "modified",
    "R": "renamed",
    "C": "copied",
    "T": "changed",
}


def repo_json(repo: FakeRepo) -> dict[str, Any]:
    """A repository as `GET /repos/{owner}/{name}` and the `repository` of an event show it."""
    api = repo.api_url
    return {
        "id": repo.id,
        "node_id": base64.b64encode(f"010:Repository{repo.id}".encode()).decode(),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private_to is not None,
        "owner": {
            "login": repo.owner,
            "id": 1,
            "type": "User",
            "url": f"{repo.fake.url}/users/{repo.owner}",
        },
        "html_url": f"https://github.com/{repo.full_name}",
        "description": None,
        "fork": False,
        "url": api,
        "archive_url": api + "/{archive_format}{/ref}",
        "trees_url": api + "/git/trees{/sha}",
        "blobs_url": api + "/git/blobs{/sha}",
        "commits_url": api + "/commits{/sha}",
        "contents_url": api + "/contents/{+path}",
        "compare_url": api + "/compare/{base}...{head}",
        "hooks_url": api + "/hooks",
        "clone_url": f"https://github.com/{repo.full_name}.git",
        "default_branch": repo.default_branch,
        "visibility": "private" if repo.private_to is not None else "public",
        "archived": False,
        "disabled": False,
        "size": 0,
    }


def commit_json(repo: FakeRepo, sha: str) -> dict[str, Any]:
    """A commit as the REST API's commit endpoints show it (without `files`)."""
    info = repo.commit_info(sha)
    api = repo.api_url
    return {
        "sha": sha,
        "node_id": "C_" + sha[:10],
        "commit": {
            "author": info["author"],
            "committer": info["committer"],
            "message": info["message"],
            "tree": {"sha": info["tree"], "url": f"{api}/git/trees/{info['tree']}"},
            "url": f"{api}/git/commits/{sha}",
            "comment_count": 0,
        },
        "url": f"{api}/commits/{sha}",
        "html_url": f"https://github.com/{repo.full_name}/commit/{sha}",
        "author": None,
        "committer": None,
        "parents": [
            {"sha": p, "url": f"{api}/commits/{p}", "html_url": ""} for p in info["parents"]
        ],
    }


def diff_files(repo: FakeRepo, base: str | None, head: str) -> list[dict[str, Any]]:
    """The `files` of a commit: what changed from `base` (None: from nothing) to `head`."""
    args = ["diff-tree", "-r", "-z", "-M", "--no-commit-id"]
    out = git(repo.bare, *args, *([base, head] if base else ["--root", head]))
    fields = out.decode().split("\0")
    files = []
    i = 0
    while i < len(fields) - 1:
        meta = fields[i].split()
        status = meta[4][0]
        if status in "RC":
            old, new = fields[i + 1], fields[i + 2]
            i += 3
        else:
            old = new = fields[i + 1]
            i += 2
        entry: dict[str, Any] = {
            "sha": meta[3],
            "filename": new,
            "status": _FILE_STATUS.get(status, "modified"),
            "additions": 0,
            "deletions": 0,
            "changes": 0,
            "blob_url": "",
            "raw_url": "",
            "contents_url": f"{repo.api_url}/contents/{new}?ref={head}",
        }
        if status in "RC":
            entry["previous_filename"] = old
        files.append(entry)
    return files[:300]
