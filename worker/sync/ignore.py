"""Ignore patterns (`.catalog-sync.yml` `ignore:`): gitignore-like globs, compiled once. Pure.

- `*` matches within one path segment, `?` one character of it, `**` any number of segments
  (`**/drafts` is `drafts` at any depth, `skills/**` everything below `skills`).
- A pattern with no `/` matches a segment at any depth (`*.draft.md`, `drafts`).
- A pattern that matches a folder ignores everything below it (`platform/catalog/skills/wip`).
- Matching is case-sensitive, as git paths are; a leading `/` anchors at the root (the default
  for patterns with a `/` anyway).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: The most patterns one configuration may list (each is cheap, but they run for every path).
MAX_PATTERNS = 200


def _translate(pattern: str) -> str:
    """One glob as a regex fragment matching a whole path or a leading folder of it."""
    body = pattern.strip().lstrip("/").rstrip("/")
    anchored = "/" in body
    out: list[str] = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    core = "".join(out)
    prefix = "" if anchored else "(?:[^/]+/)*"
    return f"{prefix}{core}(?:/.*)?"


def check_pattern(pattern: str) -> str | None:
    """Why `pattern` is unusable, or None."""
    body = pattern.strip().lstrip("/").rstrip("/")
    if not body:
        return "is empty"
    if any(segment in (".", "..") for segment in body.split("/")):
        return "has a '.' or '..' segment"
    return None


def compile_patterns(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for all `patterns` (None when there are none)."""
    parts = [_translate(p) for p in patterns if check_pattern(p) is None]
    if not parts:
        return None
    return re.compile("|".join(f"(?:{part})" for part in parts))


def is_ignored(path: str, matcher: re.Pattern[str] | None) -> bool:
    return matcher is not None and matcher.fullmatch(path) is not None
