"""The files a pull request changes: from GitHub's compare answer, or from two tree listings.

Compare lists at most 300 files; a bigger pull request is diffed from the tree at the merge
base and the tree at the head instead (renames then show as a removal and an addition).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The most files GitHub's compare answer lists; at this count the list may be cut.
MAX_COMPARE_FILES = 300
#: File statuses of GitHub's compare answer.
STATUSES = ("added", "removed", "modified", "renamed", "copied", "changed", "unchanged")


class ChangesError(ValueError):
    """GitHub's answer does not list files the way its documentation says."""


@dataclass(frozen=True)
class ChangedFile:
    """One file the pull request touches; `previous_path` for a rename (or copy)."""

    path: str
    status: str
    previous_path: str | None = None

    @property
    def removed(self) -> bool:
        return self.status == "removed"

    @property
    def new_here(self) -> bool:
        """The path holds nothing at the merge base (added, or the target of a move)."""
        return self.status in ("added", "renamed", "copied")


def from_compare(files: Sequence[Any]) -> list[ChangedFile]:
    """The `files` of `GET .../compare/{base}...{head}` as changed files, in GitHub's order."""
    changed: list[ChangedFile] = []
    for entry in files:
        if not isinstance(entry, dict):
            raise ChangesError("a compare file entry is not an object")
        path, status = entry.get("filename"), entry.get("status")
        previous = entry.get("previous_filename")
        if not isinstance(path, str) or not path or status not in STATUSES:
            raise ChangesError(f"unexpected compare file entry {entry!r:.200}")
        if previous is not None and not isinstance(previous, str):
            raise ChangesError(f"unexpected previous_filename in {entry!r:.200}")
        changed.append(ChangedFile(path, str(status), previous))
    return changed


def from_trees(base: Mapping[str, str], head: Mapping[str, str]) -> list[ChangedFile]:
    """Changed files between two listings (path -> blob SHA), sorted by path."""
    changed = [
        ChangedFile(path, "added" if path not in base else "modified")
        for path, sha in head.items()
        if base.get(path) != sha
    ]
    changed += [ChangedFile(path, "removed") for path in base if path not in head]
    return sorted(changed, key=lambda c: c.path)
