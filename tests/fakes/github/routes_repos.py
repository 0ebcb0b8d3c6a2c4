"""Repository routes: the repository itself, a commit (JSON or just its SHA), contents."""

from __future__ import annotations

import base64
import re
import urllib.parse
from typing import Any

from tests.fakes.github.api import (
    RAW_MEDIA,
    REPO,
    SHA_MEDIA,
    HttpError,
    Request,
    Response,
    json_response,
    route,
    visible_repo,
)
from tests.fakes.github.gitcmd import git
from tests.fakes.github.repo import FakeRepo
from tests.fakes.github.shapes import commit_json, diff_files, repo_json

_KINDS = {"blob": "file", "tree": "dir", "commit": "submodule"}


def get_repo(req: Request, m: re.Match[str]) -> Response:
    repo = visible_repo(req, m)
    permissions = {"admin": False, "push": False, "pull": True}
    return json_response({**repo_json(repo), "permissions": permissions})


def get_commit(req: Request, m: re.Match[str]) -> Response:
    """A commit by branch or SHA; with the `sha` media type, just its SHA (what heads poll)."""
    repo = visible_repo(req, m)
    if not git(repo.bare, "for-each-ref", "refs/heads/").strip():
        raise HttpError(409, "Git Repository is empty.")
    sha = repo.resolve_ref(m["ref"])
    if sha is None:
        raise HttpError(422, f"No commit found for SHA: {m['ref']}")
    if SHA_MEDIA in req.accept:
        return Response(200, sha.encode(), {"Content-Type": f"{SHA_MEDIA}; charset=utf-8"})
    body = commit_json(repo, sha)
    body["files"] = diff_files(repo, body["parents"][0]["sha"] if body["parents"] else None, sha)
    return json_response(body)


def get_contents(req: Request, m: re.Match[str]) -> Response:
    """A file (base64, or raw bytes with the `raw` media type) or a folder's listing."""
    repo = visible_repo(req, m)
    ref = req.param("ref", repo.default_branch)
    sha = repo.resolve_ref(ref)
    if sha is None:
        raise HttpError(404, f"No commit found for the ref {ref}")
    path = (m["path"] or "").strip("/")
    records = _ls(repo, sha, path) if path else _ls(repo, sha)
    exact = [r for r in records if r.partition("\t")[2] == path]
    if path and not exact:
        raise HttpError(404, "Not Found")
    if path and exact[0].split()[1] == "blob":
        return _file(req, repo, path, exact[0], ref)
    if path:
        records = _ls(repo, f"{sha}:{path}")
    items = []
    for rec in records:
        meta, _, name = rec.partition("\t")
        _mode, otype, osha, size = meta.split()
        full = f"{path}/{name}" if path else name
        size_ = int(size) if size != "-" else 0
        items.append(_content_entry(repo, full, _KINDS[otype], osha, size_, ref))
    return json_response(items)


def _ls(repo: FakeRepo, treeish: str, *paths: str) -> list[str]:
    """`git ls-tree -l` records (`mode type sha size<TAB>name`) of `treeish`."""
    listing = git(repo.bare, "ls-tree", "-z", "-l", treeish, *(["--", *paths] if paths else []))
    return [r.decode() for r in listing.split(b"\0") if r]


def _file(req: Request, repo: FakeRepo, path: str, record: str, ref: str) -> Response:
    _mode, _, osha, _size = record.partition("\t")[0].split()
    data = git(repo.bare, "cat-file", "blob", osha)
    if "raw" in req.accept:
        return Response(200, data, {"Content-Type": RAW_MEDIA})
    return json_response(
        {
            **_content_entry(repo, path, "file", osha, len(data), ref),
            "content": base64.encodebytes(data).decode(),
            "encoding": "base64",
        }
    )


def _content_entry(
    repo: FakeRepo, path: str, kind: str, sha: str, size: int, ref: str
) -> dict[str, Any]:
    url = f"{repo.api_url}/contents/{urllib.parse.quote(path)}?ref={ref}"
    git_url = f"{repo.api_url}/git/{'trees' if kind == 'dir' else 'blobs'}/{sha}"
    return {
        "type": kind,
        "size": size,
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        "url": url,
        "git_url": git_url,
        "html_url": f"https://github.com/{repo.full_name}/blob/{ref}/{path}",
        "download_url": None,
        "_links": {"self": url, "git": git_url, "html": ""},
    }


ROUTES = [
    route("GET", REPO, get_repo),
    route("GET", REPO + r"/commits/(?P<ref>.+)", get_commit),
    route("GET", REPO + r"/contents(?:/(?P<path>.*))?", get_contents),
]
