"""Catalog files: which paths of a tree are items, and what an item file says. Pure, no I/O.

Both functions here decide what lands in `catalog_items`, for a GitHub tree and a local folder
alike, so they only look at what both sources give: paths, modes and bytes.

Rule choices beyond the contract (documented here because the contract leaves them open):

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
- `tags` accepts a list of strings or a comma-separated string; `author` must look like a GitHub
  login (a leading `@` is dropped); `name` at most 255 characters, `team` 200 (the column sizes).
- YAML and JSON duplicate keys: the last one wins (what both parsers do).
- Metadata is made JSON-safe: dates and times become ISO 8601 strings, `!!binary` becomes its
  base64 text, sets become sorted lists, NaN/infinity become "NaN"/"Infinity"/"-Infinity",
  non-string keys become strings (`1` -> "1", `true` -> "true", `null` -> "null"). A string with a
  NUL character or a lone surrogate is an error (PostgreSQL cannot store either).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from types import MappingProxyType
from typing import Any, Protocol

import yaml

from worker.sync.gitblob import is_lfs_pointer
from worker.sync.ignore import compile_patterns, is_ignored

MODE_FILE = "100644"
MODE_EXEC = "100755"
MODE_SYMLINK = "120000"
MODE_SUBMODULE = "160000"
MODE_TREE = "040000"

#: Modes of regular files; only these can be items or manifests.
FILE_MODES = frozenset({MODE_FILE, MODE_EXEC, "100664"})  # 100664: ancient git, still valid

CANDIDATE_EXTENSIONS = (".md", ".markdown", ".yaml", ".yml", ".json")
MARKDOWN_EXTENSIONS = (".md", ".markdown")
YAML_EXTENSIONS = (".yaml", ".yml")
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

MAX_NAME_CHARS = 255
MAX_TEAM_CHARS = 200
MAX_LOGIN_CHARS = 100
MAX_TAG_CHARS = 100
#: Deeper metadata is refused. The check runs on the YAML event stream before any object is
#: built, which also stops libyaml's quadratic slowdown on deeply nested flow collections.
MAX_DEPTH = 64

_LOGIN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_OPEN_FRONT_MATTER = re.compile(r"---[ \t]*(?:\r\n|\r|\n)")
_CLOSE_FRONT_MATTER = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.MULTILINE)
_YAML_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SettingsLike(Protocol):
    @property
    def catalog_roots(self) -> Mapping[str, str]: ...

    @property
    def max_file_bytes(self) -> int: ...


@dataclass(frozen=True)
class CatalogRules:
    """Where items live and how big their files may be (from `CATALOG_ROOTS`, `MAX_FILE_BYTES`)."""

    roots: Mapping[str, str] = field(hash=False)
    max_file_bytes: int = 1_048_576
    #: Glob patterns whose paths are never items (a repository's `.catalog-sync.yml`).
    ignore: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A read-only copy: rules are shared between threads and must not change under them.
        cleaned = {str(k).strip().strip("/"): str(v) for k, v in self.roots.items()}
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
        return cls(roots=dict(settings.catalog_roots), max_file_bytes=settings.max_file_bytes)


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a git tree listing (GitHub's recursive tree, or a folder walk)."""

    path: str
    sha: str
    mode: str = MODE_FILE
    size: int | None = None


@dataclass(frozen=True)
class ParsedItem:
    """What an item file says; `metadata` is the whole mapping, JSON-safe."""

    name: str
    description: str | None
    tags: list[str]
    author: str | None
    team: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class FileError:
    """Why a file is not a usable item; `message` is for a person and does not repeat the path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


# --- which paths are items ---------------------------------------------------------------------


def _root_of(path: str, rules: CatalogRules) -> str | None:
    """The root folder `path` lies strictly below (longest match), or None."""
    best: str | None = None
    for root in rules.roots:
        if path.startswith(root + "/") and (best is None or len(root) > len(best)):
            best = root
    return best


def item_type_for(path: str, rules: CatalogRules) -> str | None:
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


def classify(entries: Iterable[TreeEntry], rules: CatalogRules) -> dict[str, str]:
    """Item path -> item type for every entry that is an item (see the module docstring).

    The result depends only on the set of entries, never on their order.
    """
    files: list[tuple[str, str, int]] = []  # (path, root, number of root segments)
    manifests: dict[str, str] = {}  # item folder -> its manifest path
    for entry in entries:
        if entry.mode not in FILE_MODES:
            continue
        root = _root_of(entry.path, rules)
        if root is None or rules.ignores(entry.path):
            continue
        segments = _usable_segments(entry.path)
        if segments is None:
            continue
        root_len = root.count("/") + 1
        files.append((entry.path, root, root_len))
        folder, _, name = entry.path.rpartition("/")
        if name.lower() in _MANIFEST_RANK and len(segments) > root_len + 1:
            current = manifests.get(folder)
            if current is None or _manifest_key(entry.path) < _manifest_key(current):
                manifests[folder] = entry.path

    items: dict[str, str] = {}
    for path, root, root_len in files:
        segments = path.split("/")
        owner: str | None = None
        # The outermost folder below the root that holds a manifest claims the file.
        for depth in range(root_len + 1, len(segments)):
            folder = "/".join(segments[:depth])
            if folder in manifests:
                owner = folder
                break
        if owner is not None:
            if manifests[owner] == path:
                items[path] = rules.roots[root]
        elif _is_candidate_name(segments[-1]):
            items[path] = rules.roots[root]
    return items


# --- what an item file says --------------------------------------------------------------------


class _Invalid(Exception):
    """An internal signal carrying the person-readable reason a file is refused."""


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _decode(data: bytes) -> str:
    """UTF-8 text without a byte-order mark; errors say where the bad byte is."""
    nul = data.find(b"\0")
    if nul != -1:
        raise _Invalid(f"contains a NUL byte at byte offset {nul}; is it a binary file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8", errors="replace")
        line, column = _line_col(good, len(good))
        raise _Invalid(
            f"is not valid UTF-8: byte 0x{data[exc.start]:02x} at byte offset {exc.start} "
            f"(line {line}, column {column}); save the file as UTF-8"
        ) from None
    return text.removeprefix("\ufeff")


def _mark(mark: Any, line_offset: int) -> str:
    if mark is None:
        return ""
    return f" at line {mark.line + 1 + line_offset}, column {mark.column + 1}"


def _yaml_error(exc: yaml.YAMLError, text: str, line_offset: int) -> _Invalid:
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "invalid YAML"
        where = _mark(exc.problem_mark or exc.context_mark, line_offset)
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        return _Invalid(f"invalid YAML{where}: {problem}{context}")
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = _line_col(text, min(exc.position, len(text)))
        return _Invalid(f"invalid YAML at line {line + line_offset}, column {column}: {exc.reason}")
    return _Invalid(f"invalid YAML: {exc}")


def _check_yaml_events(text: str, line_offset: int) -> None:
    """Refuse anchors, aliases, several documents and deep nesting before building anything.

    Streaming the events and stopping at the first problem keeps hostile input cheap: alias
    bombs never expand, and libyaml never gets to crawl through thousands of nested brackets.
    """
    depth = 0
    documents = 0
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        if isinstance(event, yaml.AliasEvent):
            raise _Invalid(
                f"uses the YAML alias *{event.anchor}{_mark(event.start_mark, line_offset)}; "
                "anchors and aliases are not allowed in catalog files"
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _Invalid(
                f"uses the YAML anchor &{anchor}{_mark(event.start_mark, line_offset)}; "
                "anchors and aliases are not allowed in catalog files"
            )
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _Invalid(
                    f"holds more than one YAML document (the second starts"
                    f"{_mark(event.start_mark, line_offset)}); a catalog file is one mapping"
                )
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Invalid(
                    f"nests more than {MAX_DEPTH} levels deep{_mark(event.start_mark, line_offset)}"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _load_yaml(text: str, line_offset: int, what: str) -> Any:
    try:
        _check_yaml_events(text, line_offset)
        documents = list(yaml.load_all(text, Loader=_YAML_LOADER))
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, line_offset) from None
    if not documents or documents[0] is None:
        raise _Invalid(f"{what} is empty; it needs a mapping with at least `name`")
    return documents[0]


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Invalid(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise _Invalid(f"nests more than {MAX_DEPTH} levels deep") from None


def _front_matter(text: str) -> tuple[str, int]:
    """The YAML between the leading `---` lines and the line number it starts after."""
    opening = _OPEN_FRONT_MATTER.match(text)
    if opening is None:
        raise _Invalid(
            "has no front matter: a Markdown item must start with a line `---`, "
            "then YAML with at least `name:`, then a line `---`"
        )
    closing = _CLOSE_FRONT_MATTER.search(text, opening.end())
    if closing is None:
        raise _Invalid("has front matter that is never closed: add a line `---` after the YAML")
    return text[opening.end() : closing.start()], 1


def _check_string(value: str, where: str) -> str:
    if "\0" in value:
        raise _Invalid(f"{where} contains a NUL character (\\u0000), which cannot be stored")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Invalid(f"{where} contains an unpaired surrogate escape (\\ud800-\\udfff)") from None
    return value


def _scalar_key(key: Any, where: str) -> str:
    if isinstance(key, str):
        return _check_string(key, f"a key in {where}")
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int | float | datetime | date | bytes):
        return str(_json_safe(key, where, 0))
    raise _Invalid(f"{where} has a key of type {type(key).__name__}; keys must be scalars")


def _json_safe(value: Any, where: str, depth: int) -> Any:
    """`value` with YAML 1.1's extra types turned into plain JSON ones (see module docstring)."""
    if depth > MAX_DEPTH:
        raise _Invalid(f"nests more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _check_string(value, where)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list | tuple):
        return [_json_safe(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        members = [_json_safe(v, where, depth + 1) for v in value]
        return sorted(members, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            text = _scalar_key(key, where)
            if text in out:
                raise _Invalid(f"{where} has the key {text!r} twice once keys are read as text")
            out[text] = _json_safe(item, f"{where}.{text}", depth + 1)
        return out
    raise _Invalid(f"{where} holds a value of type {type(value).__name__}, which JSON cannot hold")


def _describe(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()}); put it in quotes"
    if isinstance(value, int | float):
        return f"a number ({value}); put it in quotes"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _single_line(value: str, field_name: str, limit: int) -> str:
    value = value.strip()
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise _Invalid(f"`{field_name}` must be a single line without control characters")
    if len(value) > limit:
        raise _Invalid(f"`{field_name}` is {len(value)} characters long; at most {limit} allowed")
    return value


def _name(meta: dict[str, Any]) -> str:
    if "name" not in meta:
        raise _Invalid("has no `name`; every item needs `name: ...`")
    raw = meta["name"]
    if not isinstance(raw, str):
        raise _Invalid(f"`name` must be text, but it is {_describe(raw)}")
    name = _single_line(raw, "name", MAX_NAME_CHARS)
    if not name:
        raise _Invalid("`name` is empty")
    return name


def _description(meta: dict[str, Any]) -> str | None:
    raw = meta.get("description")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _Invalid(f"`description` must be text, but it is {_describe(raw)}")
    return raw.strip() or None


def _tags(meta: dict[str, Any]) -> list[str]:
    raw = meta.get("tags")
    if raw is None:
        return []
    if isinstance(raw, str):
        parts = raw.split(",")
    elif isinstance(raw, list):
        for index, tag in enumerate(raw):
            if not isinstance(tag, str):
                raise _Invalid(f"`tags` entry {index + 1} must be text, but it is {_describe(tag)}")
        parts = raw
    else:
        raise _Invalid(
            f"`tags` must be a list of text or a comma-separated text, but it is {_describe(raw)}"
        )
    tags: list[str] = []
    for part in parts:
        tag = _single_line(part, "tags", MAX_TAG_CHARS)
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def _author(meta: dict[str, Any]) -> str | None:
    raw = meta.get("author")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _Invalid(f"`author` must be a GitHub login, but it is {_describe(raw)}")
    login = raw.strip().removeprefix("@")
    if not login:
        return None
    if len(login) > MAX_LOGIN_CHARS or not _LOGIN_RE.fullmatch(login):
        raise _Invalid(
            f"`author` {raw.strip()[:120]!r} is not a GitHub login "
            "(letters, digits, '-' and '_', e.g. `author: octocat`)"
        )
    return login


def _team(meta: dict[str, Any]) -> str | None:
    raw = meta.get("team")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _Invalid(f"`team` must be a team name, but it is {_describe(raw)}")
    return _single_line(raw, "team", MAX_TEAM_CHARS) or None


def _parse(path: str, data: bytes, rules: CatalogRules) -> ParsedItem:
    if len(data) > rules.max_file_bytes:
        raise _Invalid(
            f"is {len(data):,} bytes, over the limit of {rules.max_file_bytes:,} bytes "
            "(MAX_FILE_BYTES); it was not read"
        )
    if is_lfs_pointer(data):
        raise _Invalid(
            "is a Git LFS pointer, not the file itself; catalog files must be committed "
            "as plain text, not through LFS"
        )
    text = _decode(data)
    lower = path.lower()
    if lower.endswith(MARKDOWN_EXTENSIONS):
        yaml_text, line_offset = _front_matter(text)
        loaded = _load_yaml(yaml_text, line_offset, "the front matter")
        what = "the front matter"
    elif lower.endswith(YAML_EXTENSIONS):
        loaded = _load_yaml(text, 0, "the file")
        what = "the YAML document"
    elif lower.endswith(".json"):
        loaded = _load_json(text)
        what = "the JSON document"
    else:
        raise _Invalid(f"is not a catalog file (expected one of {', '.join(CANDIDATE_EXTENSIONS)})")
    if not isinstance(loaded, dict):
        raise _Invalid(f"{what} must be a mapping (`key: value` lines), not {_describe(loaded)}")
    metadata = _json_safe(loaded, "metadata", 0)
    return ParsedItem(
        name=_name(metadata),
        description=_description(metadata),
        tags=_tags(metadata),
        author=_author(metadata),
        team=_team(metadata),
        metadata=metadata,
    )


def parse_item(path: str, data: bytes, rules: CatalogRules) -> ParsedItem | FileError:
    """The item `data` describes, or why it cannot be one. Never raises, whatever the bytes."""
    try:
        return _parse(path, data, rules)
    except _Invalid as exc:
        return FileError(path=path, message=str(exc))
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # Python refuses ints over 4,300 digits
            return FileError(path=path, message="holds a number with more than 4,300 digits")
        return FileError(path=path, message=f"cannot be read: {exc}")
    except (RecursionError, MemoryError, binascii.Error) as exc:
        return FileError(path=path, message=f"cannot be read ({type(exc).__name__}: {exc})")
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop a sync
        return FileError(path=path, message=f"cannot be read ({type(exc).__name__}: {exc})")
