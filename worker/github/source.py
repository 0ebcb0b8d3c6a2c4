"""A GitHub repository at a branch as a catalog source, frugal with the rate limit.

Cost of a reconcile, in requests: the head is one conditional request (a 304 when nothing
changed, which GitHub does not charge); the listing is one recursive tree (more only when GitHub
truncates it); the content is one blob per changed file, or one tarball (two requests: the API
redirect and the download) when many files are wanted. A tarball that had to list a tree too
big for GitHub's tree API is spooled to disk and read again from there, not downloaded twice
(`tarball`).
"""

from __future__ import annotations

import json
import logging
import sys
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import requests

from worker.errors import NotFoundError, SourceError
from worker.github.client import GitHubClient, repo_path
from worker.github.tarball import Tarballs
from worker.github.truncation import choose_listing
from worker.sync.entries import TreeEntry, blob_sha
from worker.sync.source import Head, Listing, Source

log = logging.getLogger(__name__)

_SHA_MEDIA = "application/vnd.github.sha"
_RAW_MEDIA = "application/vnd.github.raw"
#: Tree requests a walk chosen by `truncation.choose_listing` (from an estimate) may still
#: spend before it gives up and one tarball lists the tree instead.
MAX_WALK_REQUESTS = 40


class GitHubSource(Source):
    """`full_name` at `branch` (None: the default branch) through a `GitHubClient`.

    `requests` counts this source's own HTTP requests (for `sync_runs`), exactly, even when the
    client is shared by several reconciles.
    """

    def __init__(
        self,
        client: GitHubClient,
        full_name: str,
        branch: str | None = None,
        tarball_threshold: int = 50,
    ) -> None:
        self._walk_budget = MAX_WALK_REQUESTS
        self.client = client
        self.full_name = full_name
        self.branch = branch
        self.tarball_threshold = tarball_threshold
        self.requests = 0
        self._base = repo_path(full_name)
        self._tarballs = Tarballs(full_name, self._download_tarball, client.pause)

    def _count(self) -> None:
        self.requests += 1

    def _get(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("what", self.full_name)
        return self.client.request("GET", url, on_request=self._count, **kwargs)

    def _download_tarball(self, sha: str) -> requests.Response:
        return self._get(f"{self._base}/tarball/{sha}", stream=True)

    # ------------------------------------------------------------------ head

    def head(self, etag: str | None = None) -> Head:
        """One conditional request for the branch head's SHA.

        A 304 means the head is the one the stored `etag` was taken at: the source does not know
        that SHA, so it answers `Head(sha=None, etag, not_modified=True)` and the caller uses the
        head SHA it stored with the ETag.
        """
        ref = urllib.parse.quote(self.branch, safe="") if self.branch else "HEAD"
        branch = f"branch {self.branch!r}" if self.branch else "the default branch"
        resp = self._get(
            f"{self._base}/commits/{ref}",
            headers={"Accept": _SHA_MEDIA, **({"If-None-Match": etag} if etag else {})},
            expect=(409, 422),
        )
        if resp.status_code == 304:
            return Head(sha=None, etag=resp.headers.get("ETag", etag), not_modified=True)
        if resp.status_code == 422:
            raise NotFoundError(f"{self.full_name}: no such branch ({branch}; GitHub answered 422)")
        if resp.status_code == 409:
            raise SourceError(f"{self.full_name}: the repository is empty ({branch} has no commit)")
        sha = resp.text.strip()
        if len(sha) != 40:
            raise SourceError(f"{self.full_name}: unexpected answer for the head of {branch}")
        return Head(sha=sha, etag=resp.headers.get("ETag"))

    # ------------------------------------------------------------------ listing

    def listing(self, head: Head) -> Listing:
        """Every blob and submodule at `head.sha`; completes a truncated tree by sub-trees."""
        if head.sha is None:
            raise ValueError("listing() needs a head SHA (after a 304, pass the stored one)")
        tree = self._tree(head.sha, recursive=True)
        if not tree.get("truncated"):
            return Listing(head.sha, _entries(tree["tree"], ""), complete=True)
        choice = choose_listing((item.path, item.type) for item in tree["tree"])
        fields = {"repository": self.full_name, "commit": head.sha, "choice": choice}
        log.info("github.tree_truncated", extra=fields)
        del tree  # up to 100,000 parsed items: not held while the rest is listed
        self._walk_budget = MAX_WALK_REQUESTS
        entries = self._walk(head.sha, "") if choice == "walk" else None
        if entries is None:
            # Too big to walk cheaply (a request per folder adds up to the whole rate limit at
            # 100,000 items): one tarball lists everything, blob SHAs computed as git does.
            log.info("github.tree_listed_from_tarball", extra=fields)
            entries = self._tarballs.listing(head.sha)
        if entries is None:
            # Rare (the tarball broke off): the truncated tree again, rather than holding it
            # in memory all along for this case.
            log.warning("github.listing_incomplete", extra=fields)
            partial = self._tree(head.sha, recursive=True)["tree"]
            return Listing(head.sha, _entries(partial, ""), complete=False)
        return Listing(head.sha, entries, complete=True)

    def _tree(self, sha: str, *, recursive: bool) -> dict[str, Any]:
        """A tree answer; its items as `_Item` tuples (a 100,000-item answer parsed as dicts,
        URLs and all, would take twice the memory)."""
        params = {"recursive": "1"} if recursive else None
        resp = self._get(f"{self._base}/git/trees/{sha}", params=params)
        body: dict[str, Any] = json.loads(resp.content, object_hook=_item)
        return body

    def _walk(self, tree_sha: str, prefix: str) -> list[TreeEntry] | None:
        """List a truncated tree: its top level, then each sub-tree (recursively if it fits).

        None when GitHub cannot list a level, or when the walk would cost more than
        `MAX_WALK_REQUESTS` requests.
        """
        self._walk_budget -= 1
        if self._walk_budget < 0:
            return None
        top = self._tree(tree_sha, recursive=False)
        if top.get("truncated"):
            return None  # even one level is too big: GitHub cannot list it
        entries = _entries(top["tree"], prefix)
        for item in top["tree"]:
            if item.type != "tree":
                continue
            sub_prefix = f"{prefix}{item.path}/"
            self._walk_budget -= 1
            if self._walk_budget < 0:
                return None
            sub = self._tree(item.sha, recursive=True)
            if not sub.get("truncated"):
                entries.extend(_entries(sub["tree"], sub_prefix))
                continue
            deeper = self._walk(item.sha, sub_prefix)
            if deeper is None:
                return None
            entries.extend(deeper)
        return entries

    # ------------------------------------------------------------------ content

    def read(
        self, head: Head, wanted: Mapping[str, str], *, bulk: bool = False
    ) -> Iterator[tuple[str, bytes]]:
        """Yield the wanted files: one tarball when many are wanted, else one blob each.

        Bytes whose blob SHA differs from the wanted one are not yielded (never store content
        under the wrong SHA); nor are paths the tarball lacks or blobs GitHub no longer has.
        """
        if not wanted:
            return
        spooled = self._tarballs.spooled(head.sha, wanted)
        if spooled is not None:
            yield from spooled
        elif bulk or len(wanted) > self.tarball_threshold:
            if head.sha is None:
                raise ValueError("read() of a tarball needs a head SHA")
            yield from self._tarballs.read(head.sha, wanted)
        else:
            yield from self._read_blobs(wanted)

    def close(self) -> None:
        """Drop a spooled tarball no read asked for."""
        self._tarballs.close()

    def _read_blobs(self, wanted: Mapping[str, str]) -> Iterator[tuple[str, bytes]]:
        for path, sha in wanted.items():
            resp = self._get(
                f"{self._base}/git/blobs/{sha}",
                headers={"Accept": _RAW_MEDIA},
                expect=(404, 422),
                what=f"{self.full_name} ({path})",
            )
            fields = {"repository": self.full_name, "path": path, "sha": sha}
            if resp.status_code != 200:
                log.warning("github.blob_gone", extra=fields)
                continue
            if blob_sha(resp.content) != sha:
                log.warning("github.blob_mismatch", extra=fields)
                continue
            yield path, resp.content


class _Item(NamedTuple):
    """One item of a tree answer: what a listing needs of it, nothing more."""

    path: str
    type: str
    sha: str
    mode: str
    size: int | None


def _item(obj: dict[str, Any]) -> Any:
    """`json.loads` hook: tree items become `_Item`s as they are parsed (other objects stay)."""
    if "path" in obj and "sha" in obj:
        kind, mode = sys.intern(obj["type"]), sys.intern(obj["mode"])
        return _Item(obj["path"], kind, obj["sha"], mode, obj.get("size"))
    return obj


def _entries(items: list[_Item], prefix: str) -> list[TreeEntry]:
    """Tree items to entries: blobs (files, executables, symlinks) and submodules."""
    return [
        TreeEntry(path=prefix + item.path, sha=item.sha, mode=item.mode, size=item.size)
        for item in items
        if item.type in ("blob", "commit")
    ]
