"""Git database routes: trees (recursive, truncated past a limit) and blobs (base64 or raw)."""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.fakes.github.api import (
    RAW_MEDIA,
    REPO,
    HttpError,
    Request,
    Response,
    json_response,
    route,
    visible_repo,
)
from tests.fakes.github.gitcmd import git


def get_tree(req: Request, m: re.Match[str]) -> Response:
    """A tree by tree SHA, commit SHA or branch; `truncated` past `fake.max_tree_entries`."""
    repo = visible_repo(req, m)
    ref = m["sha"]
    kind = repo.object_type(ref)
    if kind is None:
        sha = repo.resolve_ref(ref)
        if sha is None:
            raise HttpError(404, "Not Found")
        ref, kind = sha, "commit"
    if kind not in ("tree", "commit"):
        raise HttpError(422, "Invalid tree info")
    tree_sha = git(repo.bare, "rev-parse", f"{ref}^{{tree}}").decode().strip()
    recursive = req.param("recursive", "0") not in ("", "0", "false")
    args = ["ls-tree", "-z", "-l", "--full-tree"] + (["-r", "-t"] if recursive else [])
    out = git(repo.bare, *args, tree_sha)
    entries = [_tree_entry(repo.api_url, r.decode()) for r in out.split(b"\0") if r]
    limit = req.fake.max_tree_entries
    return json_response(
        {
            "sha": tree_sha,
            "url": f"{repo.api_url}/git/trees/{tree_sha}",
            "tree": entries[:limit],
            "truncated": len(entries) > limit,
        }
    )


def _tree_entry(api: str, record: str) -> dict[str, Any]:
    meta, _, path = record.partition("\t")
    mode, otype, osha, size = meta.split()
    entry: dict[str, Any] = {"path": path, "mode": mode, "type": otype, "sha": osha}
    if otype == "blob":
        entry["size"] = int(size)
        entry["url"] = f"{api}/git/blobs/{osha}"
    elif otype == "tree":
        entry["url"] = f"{api}/git/trees/{osha}"
    return entry


def get_blob(req: Request, m: re.Match[str]) -> Response:
    """A blob by its full SHA: base64 JSON, or the bytes themselves with the `raw` media type."""
    repo = visible_repo(req, m)
    sha = m["sha"]
    if len(sha) != 40 or repo.object_type(sha) != "blob":
        raise HttpError(404, "Not Found")
    data = git(repo.bare, "cat-file", "blob", sha)
    if "raw" in req.accept:
        return Response(200, data, {"Content-Type": RAW_MEDIA})
    return json_response(
        {
            "sha": sha,
            "node_id": "B_" + sha[:10],
            "size": len(data),
            "url": f"{repo.api_url}/git/blobs/{sha}",
            "content": base64.encodebytes(data).decode(),
            "encoding": "base64",
        }
    )


ROUTES = [
    route("GET", REPO + r"/git/trees/(?P<sha>.+)", get_tree),
    route("GET", REPO + r"/git/blobs/(?P<sha>[0-9a-f]+)", get_blob),
]
