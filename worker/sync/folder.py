"""A local folder (a git work tree or a plain folder) as a catalog source.

The folder is listed like a git tree: paths, modes and blob SHAs computed from the files on
disk exactly as git computes them, so it feeds the same `classify` as a GitHub tree and a
folder and the repository it was cloned from agree row for row.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from worker.errors import SourceError
from worker.repoconfig.parse import CONFIG_PATH
from worker.sync.entries import MODE_EXEC, MODE_FILE, MODE_SYMLINK, TreeEntry, blob_sha
from worker.sync.source import Head, Listing, Source

_CHUNK = 1 << 20


def _hash_file(path: str, size: int) -> str:
    """The blob SHA of a file, streamed so that a large asset never sits in memory whole."""
    with open(path, "rb") as fh:
        if size <= _CHUNK:
            return blob_sha(fh.read())
        size = os.fstat(fh.fileno()).st_size
        digest = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
        total = 0
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
            total += len(chunk)
        if total != size:  # changed while we read it: hash what is there now
            fh.seek(0)
            return blob_sha(fh.read())
        return digest.hexdigest()


def walk_folder(root: Path, roots: Iterable[str] | None = None) -> list[TreeEntry]:
    """Every file under `root` as a tree entry, sorted by path; `.git` is skipped.

    A subfolder holding its own `.git` (a submodule or a nested clone) is skipped whole, as is
    anything that is neither a file nor a symlink. Symlinks are listed with git's mode 120000
    and the SHA of their target text, never followed. Given `roots` (top-level folder names),
    only those folders are walked and dot-named entries below them are skipped: nothing else
    can be an item, so there is no point hashing it.

    Names are read as the OS gives them; bytes that are not UTF-8 stay surrogate escapes
    (`os.fsdecode`), so such a file is listed, and `parse_item` records it as an error.
    An entry that vanishes or cannot be looked at while the walk runs is left out.
    """
    base = os.fspath(root)
    entries: list[TreeEntry] = []
    if roots is None:
        stack: list[tuple[str, str]] = [(base, "")]
        skip_dot = False
    else:
        stack = [(os.path.join(base, r), r) for r in sorted(set(roots)) if r]
        skip_dot = True
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                children = list(it)
        except OSError:  # vanished, not a folder, or not readable
            continue
        if prefix and any(c.name == ".git" for c in children):
            continue  # a submodule or nested repository: not part of this tree
        for child in children:
            if child.name == ".git" or (skip_dot and child.name.startswith(".")):
                continue
            rel = f"{prefix}/{child.name}" if prefix else child.name
            try:
                st = child.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append((child.path, rel))
            elif stat.S_ISLNK(st.st_mode):
                try:
                    target = os.readlink(os.fsencode(child.path))
                except OSError:
                    continue
                entries.append(TreeEntry(rel, blob_sha(target), MODE_SYMLINK, len(target)))
            elif stat.S_ISREG(st.st_mode):
                mode = MODE_EXEC if st.st_mode & stat.S_IXUSR else MODE_FILE
                try:
                    sha = _hash_file(child.path, st.st_size)
                except (FileNotFoundError, PermissionError):
                    continue  # vanished or unreadable: not in the listing
                entries.append(TreeEntry(rel, sha, mode, st.st_size))
    entries.sort(key=lambda e: e.path)
    return entries


def read_file(root: Path, path: str) -> bytes:
    """The bytes of the listed file `path` (posix, relative to `root`); never leaves `root`.

    Raises ValueError for a path that is absolute, climbs out with `..`, or goes through a
    symlink; OSError when the file cannot be read.
    """
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{path!r} is not a relative path inside the catalog folder")
    full = Path(root, *parts)
    current = Path(root)
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise ValueError(f"{path!r} goes through a symlink; catalog files are never links")
    with open(full, "rb") as fh:
        return fh.read()


class LocalSource(Source):
    """The files under `root`; the head is the work tree's commit when it is a git repo."""

    #: Files can change without a new commit: a folder is always listed.
    head_identifies_content = False

    def __init__(self, root: Path, roots: Iterable[str] | None = None) -> None:
        """`roots`: the catalog root folders; only they are walked (the rest holds no item)."""
        if not root.is_dir():
            raise SourceError(f"{root}: not a folder", reason="not_found")
        self.root = root
        self.roots = list(roots) if roots is not None else None

    def head(self, etag: str | None = None) -> Head:
        return Head(sha=_git_head(self.root))

    def listing(self, head: Head) -> Listing:
        # A `.catalog-sync.yml` may name any folder: then the whole tree is listed.
        roots = None if (self.root / CONFIG_PATH).is_file() else self.roots
        return Listing(commit_sha=head.sha, entries=walk_folder(self.root, roots), complete=True)

    def read(
        self, head: Head, wanted: Mapping[str, str], *, bulk: bool = False
    ) -> Iterator[tuple[str, bytes]]:
        for path in wanted:
            try:
                yield path, read_file(self.root, path)
            except (OSError, ValueError):
                # Vanished (or became a link) since the listing: unread, the next run settles it.
                continue


def _git_head(root: Path) -> str | None:
    """The commit checked out in `root`, or None for a plain folder."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--verify", "-q", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = proc.stdout.strip()
    return sha if proc.returncode == 0 and len(sha) == 40 else None
