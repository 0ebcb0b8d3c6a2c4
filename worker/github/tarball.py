"""A commit's tarball: read as a stream with bounded memory, and as a listing git would give.

GitHub's tarball of a commit is the one download that holds every file. Reads stream it and
keep only the wanted members whose bytes hash to the wanted blob SHA; a stream cut off halfway
is fetched again and read on from where it broke. A listing (for a tree too big for the tree
API) computes each member's blob SHA as git does, and tees the compressed stream to an unnamed
temporary file, so the read that follows unpacks it from disk instead of downloading it again.
"""

from __future__ import annotations

import logging
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, cast

import requests
import urllib3

from worker.errors import TransientSourceError
from worker.github import tarstream
from worker.github.tarstream import Member
from worker.sync.entries import MODE_EXEC, MODE_FILE, MODE_SYMLINK, TreeEntry, blob_sha

log = logging.getLogger(__name__)

#: What a broken or cut stream raises, from the socket up to the tar reader.
TAR_ERRORS = (
    tarfile.TarError,
    EOFError,
    zlib.error,
    OSError,
    requests.RequestException,
    urllib3.exceptions.HTTPError,  # a connection cut mid-body (`ProtocolError`) is raised raw
)
TARBALL_ATTEMPTS = 3

#: One file read: its path and bytes.
Pair = tuple[str, bytes]


class Tarballs:
    """The tarballs of one repository's commits.

    `download(sha)` opens the streamed answer for a commit's tarball (counted by the caller);
    `pause(attempt)` sleeps the backoff before a cut stream is fetched again.
    """

    def __init__(
        self,
        full_name: str,
        download: Callable[[str], requests.Response],
        pause: Callable[[int], None],
    ) -> None:
        self.full_name = full_name
        self._download = download
        self._pause = pause
        #: The tarball a listing downloaded, kept on disk for the read that follows.
        self._spool: tuple[str, IO[bytes]] | None = None

    def read(self, sha: str, wanted: Mapping[str, str]) -> Iterator[Pair]:
        """Stream the commit's tarball (bounded memory); retry a broken stream where it left off."""
        done: set[str] = set()
        for attempt in range(TARBALL_ATTEMPTS):
            try:
                for path, data in self._streamed(sha, wanted, done):
                    done.add(path)
                    yield path, data
                return
            except TAR_ERRORS as exc:
                if attempt + 1 == TARBALL_ATTEMPTS:
                    raise TransientSourceError(
                        f"{self.full_name}: tarball of {sha[:7]} broke off "
                        f"({type(exc).__name__}) {TARBALL_ATTEMPTS} times"
                    ) from None
                log.info(
                    "github.tarball.retrying",
                    extra={"repository": self.full_name, "commit": sha, "error": str(exc)},
                )
                self._pause(attempt)

    def _streamed(self, sha: str, wanted: Mapping[str, str], done: set[str]) -> Iterator[Pair]:
        resp = self._download(sha)
        try:
            resp.raw.decode_content = True  # undo a transfer Content-Encoding, if any
            yield from members(resp.raw, wanted, done, self.full_name)
        finally:
            resp.close()

    def spooled(self, sha: str | None, wanted: Mapping[str, str]) -> Iterator[Pair] | None:
        """The wanted files of the listing's tarball of `sha` if it is still on disk, else None.

        A spool is read once (a later read may be of a newer head); one of another commit is
        dropped.
        """
        if self._spool is None or self._spool[0] != sha:
            self.close()
            return None
        handle = self._spool[1]
        self._spool = None
        handle.seek(0)
        return _read_closing(handle, wanted, self.full_name)

    def close(self) -> None:
        """Drop a spooled tarball no read asked for."""
        spool, self._spool = self._spool, None
        if spool is not None:
            spool[1].close()

    def listing(self, sha: str) -> list[TreeEntry] | None:
        """Every file of the commit's tarball as a tree entry (None if the stream breaks).

        The compressed stream is also written to an unnamed temporary file as it is read, so
        the read that follows unpacks it from disk instead of downloading it again (memory
        stays bounded either way). The spool is a saving, never a condition: if the disk
        refuses it, the listing goes on and the read downloads the tarball again.
        """
        self.close()
        resp = self._download(sha)
        # Outlives this call on purpose: closed by the read, `close()`, or the next listing.
        spool = tempfile.TemporaryFile(prefix="catalog-sync-tarball-")  # noqa: SIM115
        tee = Tee(resp.raw, spool)
        try:
            resp.raw.decode_content = True
            entries = tree_entries(cast(IO[bytes], tee))
            tee.drain()  # what the reader left unread (end-of-archive blocks, padding)
            if tee.failed is None:
                self._spool = (sha, spool)
            else:
                log.warning(
                    "github.tarball.not_spooled",
                    extra={"repository": self.full_name, "error": str(tee.failed)},
                )
        except TAR_ERRORS as exc:
            log.warning(
                "github.tarball.listing_broken",
                extra={"repository": self.full_name, "commit": sha, "error": str(exc)},
            )
            return None
        finally:
            resp.close()
            if self._spool is None:
                spool.close()  # broken off, failed, or not kept: never a half spool
        return entries


class Tee:
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


def _read_closing(handle: IO[bytes], wanted: Mapping[str, str], full_name: str) -> Iterator[Pair]:
    with handle:
        yield from members(handle, wanted, set(), full_name)


def members(
    stream: Any, wanted: Mapping[str, str], done: set[str], full_name: str
) -> Iterator[Pair]:
    """The wanted files of a gzipped tarball stream whose bytes are the wanted blobs."""

    def want(member: Member) -> bool:
        path = strip_prefix(member.name)
        return path in wanted and path not in done

    for member, data in tarstream.members(stream, want):
        if data is None:
            continue
        path = strip_prefix(member.name)
        if blob_sha(data) != wanted[path]:
            log.warning(
                "github.tarball.member_mismatch",
                extra={"repository": full_name, "path": path, "sha": wanted[path]},
            )
            continue
        yield path, data


def tree_entries(stream: IO[bytes]) -> list[TreeEntry]:
    """Every file and symlink of a gzipped tarball stream, as git would list it."""
    entries: list[TreeEntry] = []
    for member, data in tarstream.members(stream, lambda m: bool(strip_prefix(m.name))):
        entry = tar_entry(member, data)
        if entry is not None:
            entries.append(entry)
    return entries


def tar_entry(member: Member, data: bytes | None) -> TreeEntry | None:
    """A tar member as git would list it: blob SHA of the bytes (or of a link's target)."""
    path = strip_prefix(member.name)
    if not path:
        return None
    if member.kind == "symlink":
        target = member.linkname.encode("utf-8", "surrogateescape")
        return TreeEntry(path, blob_sha(target), MODE_SYMLINK, len(target))
    if member.kind != "file" or data is None:
        return None
    mode = MODE_EXEC if member.mode & 0o100 else MODE_FILE
    return TreeEntry(path, blob_sha(data), mode, len(data))


def strip_prefix(name: str) -> str:
    """`owner-repo-sha7/skills/a.md` -> `skills/a.md` (GitHub's tarball top-level folder)."""
    return name.split("/", 1)[1] if "/" in name else ""
