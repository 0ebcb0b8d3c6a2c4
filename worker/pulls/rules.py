"""Checks across files of a pull request: what merging it would do to other items. Pure.

Each file is already checked alone (parsed as a reconcile parses it); these look at the
pull request's files together with the items at its head and the catalog's live rows (the
watched branch as last synced):

- a manifest added in a folder turns that folder into one item: live items inside it would
  become its files, and their rows would be deleted;
- a manifest inside another item's folder (or beside a manifest) is that item's file, not an
  item of its own;
- a path the pull request adds, or moves a file onto, already holds a live item (the branch
  got it after the pull request branched off): merging replaces that item;
- two items of one type with the same name (compared case-insensitively) in one repository,
  where at least one of them is changed by the pull request.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from worker.feedback.verdict import Annotation
from worker.pulls.changes import ChangedFile
from worker.sync.layout import MANIFEST_NAMES
from worker.sync.parse import ParsedItem

_MANIFESTS = frozenset(name.lower() for name in MANIFEST_NAMES)
_NAME_KEY = re.compile(r"""^[ \t]*["']?name["']?[ \t]*:""", re.MULTILINE)


@dataclass(frozen=True)
class LiveItem:
    """A live row of the catalog: where it is, what it is called, its type."""

    path: str
    name: str
    type: str


@dataclass(frozen=True)
class PullRequestFiles:
    """What the checks look at; paths are the head's unless said otherwise."""

    changed: Sequence[ChangedFile]
    #: Item path -> type at the head (`classify` of the head's tree).
    head_items: Mapping[str, str]
    #: Every regular file at the head.
    head_paths: Collection[str]
    #: Changed items that parsed, with the line of their `name` key.
    parsed: Mapping[str, tuple[ParsedItem, int]]
    #: The catalog's live rows the checks need (see `needed_rows`).
    live: Mapping[str, LiveItem]
    #: The catalog root folders (a manifest directly in one is not a folder manifest).
    roots: Collection[str]


def name_line(text: str) -> int:
    """The line of the first `name:` key (1 when there is none): where a name problem is."""
    found = _NAME_KEY.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else 1


def _folder(path: str) -> str:
    return path.rpartition("/")[0]


def is_manifest(path: str) -> bool:
    return path.rpartition("/")[2].lower() in _MANIFESTS


def manifest_folders(files: PullRequestFiles) -> dict[str, str]:
    """Item folder -> its manifest, for the folder items at the head."""
    return {
        _folder(path): path
        for path in files.head_items
        if is_manifest(path) and _folder(path) not in files.roots
    }


def _owner(path: str, folders: Mapping[str, str]) -> str | None:
    """The manifest of the outermost item folder that holds `path` (at any depth)."""
    parts = path.split("/")
    for depth in range(1, len(parts)):
        manifest = folders.get("/".join(parts[:depth]))
        if manifest is not None and manifest != path:
            return manifest
    return None


def swallowed_items(files: PullRequestFiles) -> list[Annotation]:
    """Live items that would become another item's files because of a manifest this adds."""
    folders = manifest_folders(files)
    touched = {c.path for c in files.changed if not c.removed}
    problems = []
    for path, item in sorted(files.live.items()):
        if path not in files.head_paths or path in files.head_items:
            continue
        owner = _owner(path, folders)
        if owner is None or owner not in touched:
            continue
        problems.append(
            Annotation(
                owner,
                f"makes `{_folder(owner)}/` one item, so `{path}` (the {item.type} "
                f"'{item.name}', in the catalog today) would become one of its files and its "
                "row would be deleted; move this manifest or that file",
            )
        )
    return problems


def nested_manifests(files: PullRequestFiles) -> list[Annotation]:
    """Changed manifests that are another item's file, not an item of their own."""
    folders = manifest_folders(files)
    problems = []
    for change in files.changed:
        path = change.path
        if change.removed or not is_manifest(path) or path in files.head_items:
            continue
        if path not in files.head_paths or any(s.startswith(".") for s in path.split("/")):
            continue
        owner = _owner(path, folders)
        if owner is None:
            continue
        if _folder(owner) == _folder(path):
            message = (
                f"`{_folder(path)}/` already has the manifest `{owner}`: a folder is one item "
                "with one manifest, so this file is one of its files, not an item"
            )
        else:
            message = (
                f"is inside the item folder `{_folder(owner)}/` (manifest `{owner}`), so it is "
                f"one of that item's files, not an item of its own; move it out of "
                f"`{_folder(owner)}/`"
            )
        problems.append(Annotation(path, message))
    return problems


def replaced_items(files: PullRequestFiles) -> list[Annotation]:
    """Paths this adds (or moves a file onto) that already hold a live item."""
    problems = []
    for change in files.changed:
        item = files.live.get(change.path)
        if item is None or not change.new_here or change.path not in files.head_items:
            continue
        what = f"the {item.type} '{item.name}'"
        if change.status == "renamed" and change.previous_path:
            message = (
                f"moves `{change.previous_path}` onto `{change.path}`, where the catalog already "
                f"has {what}; merging would replace that item"
            )
        else:
            message = (
                f"the catalog already has {what} at `{change.path}` (added to the branch after "
                "this pull request branched off); merging would replace it"
            )
        problems.append(Annotation(change.path, message))
    return problems


def duplicate_names(files: PullRequestFiles) -> list[Annotation]:
    """Changed items whose type and name another item of the repository already has."""
    gone = {c.path for c in files.changed} | {c.previous_path for c in files.changed}
    final = {
        path: (item.name, item.type)
        for path, item in files.live.items()
        if path in files.head_items and path not in gone
    }
    final.update(
        {path: (item.name, files.head_items[path]) for path, (item, _) in files.parsed.items()}
    )
    by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path, (name, item_type) in sorted(final.items()):
        by_key[(name.casefold(), item_type)].append(path)
    problems = []
    for path, (item, line) in sorted(files.parsed.items()):
        item_type = files.head_items[path]
        others = [p for p in by_key[(item.name.casefold(), item_type)] if p != path]
        if others:
            problems.append(
                Annotation(
                    path,
                    f"`name: {item.name}` is also the name of the {item_type} `{others[0]}`; "
                    f"two {item_type}s of one repository must not share a name",
                    line,
                )
            )
    return problems


def cross_file_problems(files: PullRequestFiles) -> list[Annotation]:
    return [
        *swallowed_items(files),
        *nested_manifests(files),
        *replaced_items(files),
        *duplicate_names(files),
    ]


def needed_rows(
    changed: Sequence[ChangedFile], head_items: Mapping[str, str]
) -> tuple[set[str], set[str]]:
    """(paths, folders) whose live rows the checks need, besides rows sharing a changed name:
    the changed paths, and the folders of manifests the pull request adds or changes."""
    paths = {c.path for c in changed}
    folders = {
        _folder(c.path)
        for c in changed
        if not c.removed and is_manifest(c.path) and c.path in head_items
    }
    return paths, folders
