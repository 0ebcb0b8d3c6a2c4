"""`.catalog-sync.yml`: parse and validate, with the line and column of every mistake. Pure.

    roots:                               # folder path (nested allowed) -> item type
      platform/catalog/skills: skill
      platform/catalog/mcp: mcp
    ignore:                              # glob patterns (see worker.sync.ignore)
      - "**/drafts"

Both keys are optional; without `roots:` the repository keeps `CATALOG_ROOTS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from models import ItemType
from worker.errors import CatalogSyncError
from worker.repoconfig.safe_yaml import YamlError, compose
from worker.sync.ignore import MAX_PATTERNS, check_pattern
from worker.sync.layout import CatalogRules

CONFIG_PATH = ".catalog-sync.yml"
#: A configuration file is a few lines; anything bigger is a mistake.
MAX_CONFIG_BYTES = 64 * 1024
MAX_ROOTS = 100
ITEM_TYPES = ("skill", "mcp", "tool")
_KEYS = ("roots", "ignore")


class RepoConfigError(CatalogSyncError):
    """`.catalog-sync.yml` is invalid: the run is refused, the rows stay as they are."""

    reason = "repo_config"

    def __init__(self, detail: str, *, sha: str | None = None) -> None:
        super().__init__(f"{CONFIG_PATH}: {detail}")
        #: The reason without the path (what the file error row says).
        self.detail = detail
        self.path = CONFIG_PATH
        self.sha = sha


@dataclass(frozen=True)
class RepoConfig:
    """What a valid file says; `roots` None: keep the settings' `CATALOG_ROOTS`."""

    roots: dict[str, str] | None = None
    ignore: tuple[str, ...] = field(default=())

    def rules(self, base: CatalogRules) -> CatalogRules:
        """`base` with this repository's roots and ignore patterns."""
        roots = (
            {path: ItemType(t) for path, t in self.roots.items()}
            if self.roots is not None
            else dict(base.roots)
        )
        return CatalogRules(roots=roots, max_file_bytes=base.max_file_bytes, ignore=self.ignore)

    def as_json(self) -> dict[str, Any]:
        return {"roots": self.roots, "ignore": list(self.ignore)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RepoConfig:
        roots = data.get("roots")
        return cls(roots=dict(roots) if roots is not None else None, ignore=tuple(data["ignore"]))


def _where(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _fail(node: yaml.Node, message: str) -> RepoConfigError:
    return RepoConfigError(f"{_where(node)}: {message}")


def _text(node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
        raise _fail(node, f"{what} must be text")
    return str(node.value)


def _root_path(node: yaml.Node) -> str:
    path = _text(node, "a root folder").strip().strip("/")
    segments = path.split("/")
    if not path or any(not s or s.startswith(".") for s in segments) or "\\" in path:
        raise _fail(
            node,
            f"root folder {path!r} is not a folder path like `platform/catalog/skills` "
            "(no empty, '.' or '..' segments, no dot folders)",
        )
    return path


def _roots(node: yaml.Node) -> dict[str, str]:
    if not isinstance(node, yaml.MappingNode) or not node.value:
        raise _fail(node, "`roots` must map folder paths to item types (`skills: skill`)")
    if len(node.value) > MAX_ROOTS:
        raise _fail(node, f"`roots` lists {len(node.value)} folders; at most {MAX_ROOTS}")
    roots: dict[str, str] = {}
    for key, value in node.value:
        path = _root_path(key)
        item_type = _text(value, f"the type of {path!r}").strip()
        if item_type not in ITEM_TYPES:
            raise _fail(
                value, f"type {item_type!r} of {path!r} is not one of {', '.join(ITEM_TYPES)}"
            )
        if path in roots:
            raise _fail(key, f"root folder {path!r} is listed twice")
        roots[path] = item_type
    return roots


def _ignore(node: yaml.Node) -> tuple[str, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise _fail(node, '`ignore` must be a list of glob patterns (`- "**/drafts"`)')
    if len(node.value) > MAX_PATTERNS:
        raise _fail(node, f"`ignore` lists {len(node.value)} patterns; at most {MAX_PATTERNS}")
    patterns: list[str] = []
    for item in node.value:
        pattern = _text(item, "an ignore pattern").strip()
        problem = check_pattern(pattern)
        if problem is not None:
            raise _fail(item, f"ignore pattern {pattern!r} {problem}")
        patterns.append(pattern)
    return tuple(patterns)


def parse_config(data: bytes) -> RepoConfig:
    """The configuration `data` holds; `RepoConfigError` names the line and column if invalid."""
    if len(data) > MAX_CONFIG_BYTES:
        raise RepoConfigError(f"is {len(data):,} bytes, over the limit of {MAX_CONFIG_BYTES:,}")
    try:
        root = compose(data)
    except YamlError as exc:
        raise RepoConfigError(str(exc)) from None
    if root is None:
        return RepoConfig()
    if not isinstance(root, yaml.MappingNode):
        raise _fail(root, "the file must be a mapping with `roots:` and/or `ignore:`")
    found: dict[str, yaml.Node] = {}
    for key, value in root.value:
        name = _text(key, "a key")
        if name not in _KEYS:
            raise _fail(key, f"unknown key {name!r}; expected {' or '.join(_KEYS)}")
        if name in found:
            raise _fail(key, f"`{name}` is given twice")
        found[name] = value
    return RepoConfig(
        roots=_roots(found["roots"]) if "roots" in found else None,
        ignore=_ignore(found["ignore"]) if "ignore" in found else (),
    )
