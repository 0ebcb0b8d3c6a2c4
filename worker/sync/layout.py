"""Catalog layout: which paths of a tree are items, which are manifests, which are assets. Pure.

The rules look only at what a GitHub tree and a local folder both give (paths and modes), so
both yield the same items. Choices beyond the contract (which leaves them open):

- Root folders match the first path segment(s) exactly (git paths are case-sensitive).
- Candidate extensions and the ignored names (`README.*`, `LICENSE*`, `CHANGELOG*`) match
  case-insensitively. `LICENSE*` is taken literally: `skills/license-check.md` is never an item.
- Manifest names match case-insensitively (`skill.md` is a manifest like `SKILL.md`). When one
  folder holds several manifests, one is picked deterministically: the earlier name in
  `MANIFEST_NAMES`, then the exactly-cased spelling, then the smaller path; the rest are assets.
- A manifest directly inside a root folder (`skills/SKILL.md`) does not make the root an item
  folder; it is an ordinary single-file item like `skills/pdf.md`.
- Only regular files (`100644`, `100755`) count. Symlinks, submodules and trees are never items
  and never make a folder an item folder. Ignored paths (dot segments) do not either.
- The outermost manifest folder wins: a nested folder with its own manifest is an asset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import NamedTuple, Protocol

from models import ItemType
from worker.sync.entries import FILE_MODES, TreeEntry
from worker.sync.ignore import compile_patterns, is_ignored

CANDIDATE_EXTENSIONS = (".md", ".markdown", ".yaml", ".yml", ".json")
MANIFEST_NAMES = (
    "SKILL.md",
    "MCP.md",
    "TOOL.md",
    "server.json",
    "tool.json",
    "tool.yaml",
    "tool.yml",
)
_MANIFEST_RANK = {name.lower(): rank for rank, name in enumerate(MANIFEST_NAMES)}
_MANIFEST_EXACT = frozenset(MANIFEST_NAMES)


class _SettingsLike(Protocol):
    @property
    def catalog_roots(self) -> Mapping[str, str]: ...

    @property
    def max_file_bytes(self) -> int: ...


@dataclass(frozen=True)
class CatalogRules:
    """Where items live and how big their files may be (from `CATALOG_ROOTS`, `MAX_FILE_BYTES`)."""

    roots: Mapping[str, ItemType] = field(hash=False)
    max_file_bytes: int = 1_048_576
    #: Glob patterns whose paths are never items (a repository's `.catalog-sync.yml`).
    ignore: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A read-only copy: rules are shared between threads and must not change under them.
        cleaned = {str(k).strip().strip("/"): ItemType(v) for k, v in self.roots.items()}
        object.__setattr__(self, "roots", MappingProxyType({k: v for k, v in cleaned.items() if k}))
        object.__setattr__(self, "ignore", tuple(self.ignore))

    @cached_property
    def _ignore_matcher(self) -> re.Pattern[str] | None:
        return compile_patterns(self.ignore)

    def ignores(self, path: str) -> bool:
        """Whether an `ignore` pattern covers `path` (see `worker.sync.ignore`)."""
        return is_ignored(path, self._ignore_matcher)

    @classmethod
    def from_settings(cls, settings: _SettingsLike) -> CatalogRules:
        """The rules the running process was configured with."""
        roots = {folder: ItemType(t) for folder, t in settings.catalog_roots.items()}
        return cls(roots=roots, max_file_bytes=settings.max_file_bytes)


def _root_of(path: str, rules: CatalogRules) -> str | None:
    """The root folder `path` lies strictly below (longest match), or None."""
    best: str | None = None
    for root in rules.roots:
        if path.startswith(root + "/") and (best is None or len(root) > len(best)):
            best = root
    return best


def item_type_for(path: str, rules: CatalogRules) -> ItemType | None:
    """The item type of the root `path` lies under (not whether it is an item: see `classify`)."""
    root = _root_of(path, rules)
    return rules.roots[root] if root is not None else None


def _is_ignored_name(name: str) -> bool:
    lower = name.lower()
    return lower.startswith(("readme.", "license", "changelog"))


def _is_candidate_name(name: str) -> bool:
    return name.lower().endswith(CANDIDATE_EXTENSIONS) and not _is_ignored_name(name)


def _usable_segments(path: str) -> list[str] | None:
    """Path segments, or None for paths that can never matter (dot segments, empty segments)."""
    segments = path.split("/")
    if any(not s or s.startswith(".") for s in segments):
        return None
    return segments


def _manifest_key(path: str) -> tuple[int, int, str]:
    name = path.rsplit("/", 1)[-1]
    return (_MANIFEST_RANK[name.lower()], 0 if name in _MANIFEST_EXACT else 1, path)


class _File(NamedTuple):
    """A regular file below a root: its path and the root it lies under."""

    path: str
    root: str
    root_len: int  # number of segments of the root


def _scan(entries: Iterable[TreeEntry], rules: CatalogRules) -> tuple[list[_File], dict[str, str]]:
    """The files that may matter, and each item folder's chosen manifest (folder -> path)."""
    files: list[_File] = []
    manifests: dict[str, str] = {}
    for entry in entries:
        if entry.mode not in FILE_MODES:
            continue
        root = _root_of(entry.path, rules)
        segments = _usable_segments(entry.path) if root is not None else None
        if root is None or segments is None or rules.ignores(entry.path):
            continue
        root_len = root.count("/") + 1
        files.append(_File(entry.path, root, root_len))
        folder, _, name = entry.path.rpartition("/")
        if name.lower() in _MANIFEST_RANK and len(segments) > root_len + 1:
            current = manifests.get(folder)
            if current is None or _manifest_key(entry.path) < _manifest_key(current):
                manifests[folder] = entry.path
    return files, manifests


def _owner(segments: list[str], root_len: int, manifests: Mapping[str, str]) -> str | None:
    """The outermost folder below the root that holds a manifest: it claims the file."""
    for depth in range(root_len + 1, len(segments)):
        folder = "/".join(segments[:depth])
        if folder in manifests:
            return folder
    return None


def classify(entries: Iterable[TreeEntry], rules: CatalogRules) -> dict[str, ItemType]:
    """Item path -> item type for every entry that is an item (see the module docstring).

    The result depends only on the set of entries, never on their order.
    """
    files, manifests = _scan(entries, rules)
    items: dict[str, ItemType] = {}
    for file in files:
        segments = file.path.split("/")
        owner = _owner(segments, file.root_len, manifests)
        if owner is not None:
            if manifests[owner] == file.path:
                items[file.path] = rules.roots[file.root]
        elif _is_candidate_name(segments[-1]):
            items[file.path] = rules.roots[file.root]
    return items
