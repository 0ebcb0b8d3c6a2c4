"""A local folder (a git work tree or a plain folder) as a catalog source.

Blob SHAs are computed from the files as they are on disk, exactly as git computes them, so a
folder and a GitHub tree of the same content agree row for row.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from worker.errors import SourceError
from worker.repoconfig.parse import CONFIG_PATH
from worker.sync.folder import read_file, walk_folder
from worker.sync.source import Head, Listing, Source


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
            except OSError:
                continue  # vanished since the listing: recorded as unreadable, next run settles


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
