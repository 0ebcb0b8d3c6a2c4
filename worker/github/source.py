"""A GitHub repository at a branch as a catalog source, frugal with the rate limit.

Cost of a reconcile, in requests: the head is one conditional request (a 304 when nothing
changed, which GitHub does not charge); the listing is one recursive tree (more only when GitHub
truncates it); the content is one blob per changed file, or one tarball (two requests: the API
redirect and the download) when many files are wanted. A tarball that had to list a tree too
big for GitHub's tree API is spooled to disk and read again from there, not downloaded twice.
"""

from __future__ import annotations

import logging
import tarfile
import tempfile
import urllib.parse
import zlib
from collections.abc import Iterator, Mapping
from typing import IO, Any, cast

import requests
import urllib3

from worker.errors import NotFoundError, SourceError, TransientSourceError
from worker.github.client import GitHubClient, repo_path
from worker.sync.entries import MODE_EXEC, MODE_FILE, MODE_SYMLINK, TreeEntry, blob_sha
from worker.sync.source import Head, Listing, Source

log = logging.getLogger(__name__)

_SHA_MEDIA = "application/vnd.github.sha"
_RAW_MEDIA = "application/vnd.github.raw"
_TAR_ERRORS = (
    tarfile.TarError,
    EOFError,
    zlib.error,
    OSError,
    requests.RequestException,
    urllib3.exceptions.HTTPError,  # a connection cut mid-body (`ProtocolError`) is raised raw
)
_TARBALL_ATTEMPTS = 3
#: Tree requests a truncated tree's walk may spend before one tarball lists it instead.
MAX_WALK_REQUESTS = 100


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
        #: The tarball a listing downloaded, kept on disk for the read that follows.
        self._spool: tuple[str, IO[bytes]] | None = None

    def _count(self) -> None:
        self.requests += 1

    def _get(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("what", self.full_name)
        return self.client.request("GET", url, on_request=self._count, **kwargs)

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
        log.info("%s: tree at %s truncated by GitHub; walking sub-trees", self.full_name, head.sha)
        self._walk_budget = MAX_WALK_REQUESTS
        entries = self._walk(head.sha, "")
        if entries is None:
            # Too big to walk cheaply (a request per folder adds up to the whole rate limit at
            # 100,000 items): one tarball lists everything, blob SHAs computed as git does.
            log.info("%s: listing %s from its tarball instead", self.full_name, head.sha)
            entries = self._tarball_listing(head.sha)
        if entries is None:
            log.warning("%s: tree at %s cannot be listed completely", self.full_name, head.sha)
            return Listing(head.sha, _entries(tree["tree"], ""), complete=False)
        return Listing(head.sha, entries, complete=True)

    def _tree(self, sha: str, *, recursive: bool) -> dict[str, Any]:
        params = {"recursive": "1"} if recursive else None
        resp = self._get(f"{self._base}/git/trees/{sha}", params=params)
        body: dict[str, Any] = resp.json()
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
            if item["type"] != "tree":
                continue
            sub_prefix = f"{prefix}{item['path']}/"
            self._walk_budget -= 1
            if self._walk_budget < 0:
                return None
            sub = self._tree(item["sha"], recursive=True)
            if not sub.get("truncated"):
                entries.extend(_entries(sub["tree"], sub_prefix))
                continue
            deeper = self._walk(item["sha"], sub_prefix)
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
        spooled = self._take_spool(head.sha)
        if spooled is not None:
            with spooled:
                yield from _members(spooled, wanted, set(), self.full_name)
            return
        if bulk or len(wanted) > self.tarball_threshold:
            if head.sha is None:
                raise ValueError("read() of a tarball needs a head SHA")
            yield from self._read_tarball(head.sha, wanted)
        else:
            yield from self._read_blobs(wanted)

    def _take_spool(self, sha: str | None) -> IO[bytes] | None:
        """The listing's tarball of `sha`, rewound, if this source still has it (once)."""
        if self._spool is None or self._spool[0] != sha:
            self.close()
            return None
        handle = self._spool[1]
        self._spool = None
        handle.seek(0)
        return handle

    def close(self) -> None:
        """Drop a spooled tarball no read asked for."""
        spool, self._spool = self._spool, None
        if spool is not None:
            spool[1].close()

    def _read_blobs(self, wanted: Mapping[str, str]) -> Iterator[tuple[str, bytes]]:
        for path, sha in wanted.items():
            resp = self._get(
                f"{self._base}/git/blobs/{sha}",
                headers={"Accept": _RAW_MEDIA},
                expect=(404, 422),
                what=f"{self.full_name} ({path})",
            )
            if resp.status_code != 200:
                log.warning("%s: blob %s of %s is gone", self.full_name, sha, path)
                continue
            if blob_sha(resp.content) != sha:
                log.warning("%s: blob for %s does not match its SHA; skipped", self.full_name, path)
                continue
            yield path, resp.content

    def _read_tarball(self, sha: str, wanted: Mapping[str, str]) -> Iterator[tuple[str, bytes]]:
        """Stream the commit's tarball (bounded memory); retry a broken stream where it left off."""
        done: set[str] = set()
        for attempt in range(_TARBALL_ATTEMPTS):
            try:
                for path, data in self._tarball_members(sha, wanted, done):
                    done.add(path)
                    yield path, data
                return
            except _TAR_ERRORS as exc:
                if attempt + 1 == _TARBALL_ATTEMPTS:
                    raise TransientSourceError(
                        f"{self.full_name}: tarball of {sha[:7]} broke off "
                        f"({type(exc).__name__}) {_TARBALL_ATTEMPTS} times"
                    ) from None
                log.info("%s: tarball stream broke (%s); retrying", self.full_name, exc)
                self.client._sleep(self.client.retry.backoff(attempt))

    def _tarball_members(
        self, sha: str, wanted: Mapping[str, str], done: set[str]
    ) -> Iterator[tuple[str, bytes]]:
        resp = self._get(f"{self._base}/tarball/{sha}", stream=True)
        try:
            resp.raw.decode_content = True  # undo a transfer Content-Encoding, if any
            yield from _members(resp.raw, wanted, done, self.full_name)
        finally:
            resp.close()

    def _tarball_listing(self, sha: str) -> list[TreeEntry] | None:
        """Every file of the commit's tarball as a tree entry (None if the stream breaks).

        The compressed stream is also written to an unnamed temporary file as it is read, so
        the read that follows unpacks it from disk instead of downloading it again (memory
        stays bounded either way). The spool is a saving, never a condition: if the disk
        refuses it, the listing goes on and the read downloads the tarball again.
        """
        self.close()
        entries: list[TreeEntry] = []
        resp = self._get(f"{self._base}/tarball/{sha}", stream=True)
        # Outlives this call on purpose: closed by the read, `close()`, or the next listing.
        spool = tempfile.TemporaryFile(prefix="catalog-sync-tarball-")  # noqa: SIM115
        tee = _Tee(resp.raw, spool)
        try:
            resp.raw.decode_content = True
            with tarfile.open(fileobj=cast(IO[bytes], tee), mode="r|gz") as archive:
                for member in archive:
                    entry = _tar_entry(archive, member)
                    if entry is not None:
                        entries.append(entry)
            tee.drain()  # whatever tarfile left unread (padding)
            if tee.failed is None:
                self._spool = (sha, spool)
            else:
                log.warning("%s: tarball not kept on disk (%s)", self.full_name, tee.failed)
        except _TAR_ERRORS as exc:
            log.warning("%s: tarball listing broke off (%s)", self.full_name, exc)
            return None
        finally:
            resp.close()
            if self._spool is None:
                spool.close()  # broken off, failed, or not kept: never a half spool
        return entries


class _Tee:
    """A readable stream that copies what is read from `source` into `sink`.

    A sink that fails (a full disk) is given up, and reading goes on: `failed` says why.
    """

    def __init__(self, source: Any, sink: IO[bytes]) -> None:
        self.source = source
        self.sink = sink
        self.failed: OSError | None = None

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.source.read(size)
        if self.failed is None:
            try:
                self.sink.write(data)
            except OSError as exc:
                self.failed = exc
        return data

    def drain(self) -> None:
        while self.read(64 * 1024):
            pass


def _members(
    stream: Any, wanted: Mapping[str, str], done: set[str], full_name: str
) -> Iterator[tuple[str, bytes]]:
    """The wanted files of a gzipped tarball stream whose bytes are the wanted blobs."""
    with tarfile.open(fileobj=stream, mode="r|gz") as archive:
        for member in archive:
            path = _strip_prefix(member.name)
            if not member.isfile() or path not in wanted or path in done:
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            data = handle.read()
            if blob_sha(data) != wanted[path]:
                log.warning(
                    "%s: %s in tarball is not blob %s; skipped", full_name, path, wanted[path][:7]
                )
                continue
            yield path, data


def _tar_entry(archive: tarfile.TarFile, member: tarfile.TarInfo) -> TreeEntry | None:
    """A tar member as git would list it: blob SHA of the bytes (or of a link's target)."""
    path = _strip_prefix(member.name)
    if not path:
        return None
    if member.issym():
        target = member.linkname.encode()
        return TreeEntry(path, blob_sha(target), MODE_SYMLINK, len(target))
    if not member.isfile():
        return None
    handle = archive.extractfile(member)
    if handle is None:
        return None
    data = handle.read()
    mode = MODE_EXEC if member.mode & 0o100 else MODE_FILE
    return TreeEntry(path, blob_sha(data), mode, len(data))


def _strip_prefix(name: str) -> str:
    """`owner-repo-sha7/skills/a.md` -> `skills/a.md` (GitHub's tarball top-level folder)."""
    return name.split("/", 1)[1] if "/" in name else ""


def _entries(items: list[dict[str, Any]], prefix: str) -> list[TreeEntry]:
    """Tree items to entries: blobs (files, executables, symlinks) and submodules."""
    return [
        TreeEntry(
            path=prefix + item["path"], sha=item["sha"], mode=item["mode"], size=item.get("size")
        )
        for item in items
        if item["type"] in ("blob", "commit")
    ]
