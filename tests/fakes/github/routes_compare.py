"""`GET /repos/{owner}/{repo}/compare/{base}...{head}`, as GitHub answers it.

`base` and `head` are branches, tags or SHAs of the repository, or `owner:branch` of a fork.
Like `git log base..head` from the merge base: `status` (ahead, behind, diverged, identical),
the counts, the commits in chronological order (250 at most unless paged; `per_page`/`page`
page them, and then `files` come only with page 1), and up to 300 changed `files`.
"""

from __future__ import annotations

import re

from tests.fakes.github.api import (
    REPO,
    HttpError,
    Request,
    Response,
    json_response,
    route,
    visible_repo,
)
from tests.fakes.github.gitcmd import GitError, git
from tests.fakes.github.repo import FakeRepo
from tests.fakes.github.shapes import commit_json, diff_files

MAX_COMMITS = 250


def _resolve(req: Request, repo: FakeRepo, spec: str) -> str | None:
    """A commit SHA for `spec`; a fork's `owner:branch` is fetched into `repo` first."""
    owner, sep, ref = spec.partition(":")
    if not sep:
        return repo.resolve_ref(spec)
    fork = req.fake.repos.get(f"{owner}/{repo.name}".lower())
    if fork is None or fork.ref(ref) is None:
        return None
    git(repo.bare, "fetch", "-q", str(fork.bare), f"+refs/heads/{ref}:refs/forks/{owner}/{ref}")
    return fork.ref(ref)


def _revs(repo: FakeRepo, spec: str) -> list[str]:
    return git(repo.bare, "rev-list", "--reverse", spec).decode().split()


def compare(req: Request, m: re.Match[str]) -> Response:
    repo = visible_repo(req, m)
    base_spec, sep, head_spec = m["basehead"].partition("...")
    if not sep:
        raise HttpError(404, "Not Found")
    base, head = _resolve(req, repo, base_spec), _resolve(req, repo, head_spec)
    if base is None or head is None:
        raise HttpError(404, "Not Found")
    try:
        merge_base = git(repo.bare, "merge-base", base, head).decode().strip()
    except GitError:
        raise HttpError(404, f"No common ancestor between {base_spec} and {head_spec}.") from None
    ahead = _revs(repo, f"{merge_base}..{head}")
    behind = _revs(repo, f"{merge_base}..{base}")
    status = (
        "identical"
        if not ahead and not behind
        else "ahead"
        if not behind
        else "behind"
        if not ahead
        else "diverged"
    )
    paged = "per_page" in req.query or "page" in req.query
    per_page = min(100, int(req.param("per_page", "30"))) if paged else MAX_COMMITS
    page = max(1, int(req.param("page", "1")))
    shown = ahead[(page - 1) * per_page : page * per_page] if paged else ahead[-MAX_COMMITS:]
    body = {
        "url": f"{repo.api_url}/compare/{m['basehead']}",
        "html_url": f"https://github.com/{repo.full_name}/compare/{m['basehead']}",
        "base_commit": commit_json(repo, base),
        "merge_base_commit": commit_json(repo, merge_base),
        "status": status,
        "ahead_by": len(ahead),
        "behind_by": len(behind),
        "total_commits": len(ahead),
        "commits": [commit_json(repo, sha) for sha in shown],
        "files": diff_files(repo, merge_base, head) if page == 1 else [],
    }
    return json_response(body)


ROUTES = [route("GET", REPO + r"/compare/(?P<basehead>.+)", compare)]
