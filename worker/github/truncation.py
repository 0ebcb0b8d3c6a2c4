"""What to do when GitHub truncates a recursive tree: walk the sub-trees, or one tarball.

A walk costs one tree request per sub-tree it lists (more where a sub-tree is itself
truncated); a tarball costs two (the API redirect and the download) however big the
repository. The truncated listing already says how the tree is shaped, so the choice is made
from it, before any walk request is spent: a repository of 100,000 items in 100,000 folders
would otherwise spend a hundred requests finding out that the walk cannot finish.

Pure functions over the truncated listing's `(path, type)` pairs, in GitHub's order (git's
depth-first order: a tree, then everything under it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

#: A walk is chosen only when it is estimated to finish within this many tree requests.
WALK_ESTIMATE_MAX = 8

Choice = Literal["walk", "tarball"]


def walk_estimate(items: Iterable[tuple[str, str]]) -> int:
    """A lower bound on the tree requests a walk of the truncated tree needs.

    The walk lists the root level (one request) and each root sub-tree recursively (one
    each). A sub-tree the truncation cut through (an ancestor of the last listed entry) has at
    least as many entries as were listed under it; when that is half the listing or more, its
    own recursive listing is assumed truncated too, and the walk goes one level down into it
    (one request for its level, plus its sub-trees, counted the same way). When half the
    listing sits directly in one such folder, even its one level is assumed too big to list:
    the walk cannot finish, and the estimate is the listing's length. Root entries past the
    truncation point are unknown and not counted: this is a lower bound.
    """
    pairs = list(items)
    if not pairs:
        return 1
    limit = len(pairs)  # what GitHub listed before it stopped
    last = pairs[-1][0]
    trees = [path for path, kind in pairs if kind == "tree"]
    below: Counter[str] = Counter()  # listed entries anywhere under a folder
    direct: Counter[str] = Counter()  # listed entries directly in a folder
    for path, _kind in pairs:
        parts = path.split("/")
        direct["/".join(parts[:-1])] += 1
        for depth in range(1, len(parts)):
            below["/".join(parts[:depth])] += 1
    if direct[""] * 2 >= limit:
        return limit
    return min(limit, 1 + _level_cost("", trees, _Shape(below, direct, last, limit)))


@dataclass(frozen=True)
class _Shape:
    below: Counter[str]
    direct: Counter[str]
    last: str
    limit: int


def _level_cost(prefix: str, trees: list[str], shape: _Shape) -> int:
    """Requests to list every sub-tree directly under `prefix` (see `walk_estimate`)."""
    depth = prefix.count("/")
    children = [t for t in trees if t.startswith(prefix) and t.count("/") == depth]
    cost = 0
    for child in children:
        cut = shape.last.startswith(child + "/")
        if not cut or shape.below[child] * 2 < shape.limit:
            cost += 1
        elif shape.direct[child] * 2 >= shape.limit:
            return shape.limit  # even its one level is too big for a request
        else:
            cost += 1 + _level_cost(child + "/", trees, shape)
    return cost


def choose_listing(items: Iterable[tuple[str, str]], max_walk: int | None = None) -> Choice:
    """ "walk" when the walk is estimated to finish within `max_walk` requests, else "tarball"."""
    budget = WALK_ESTIMATE_MAX if max_walk is None else max_walk
    return "walk" if walk_estimate(items) <= budget else "tarball"
