"""What an item file says: `parse_item` and the field rules. Pure, no I/O; never raises.

Rule choices beyond the contract (which leaves them open):

- `tags` accepts a list of strings or a comma-separated string, at most 100 distinct tags of at
  most 100 characters; `author` must look like a GitHub login (a leading `@` is dropped); `name`
  at most 255 characters, `team` 200 (the column sizes).
- The path must be storable (`storable.path_problem`): UTF-8, at most the `git_path` size.
- YAML and JSON duplicate keys: the last one wins (what both parsers do).
- Metadata is made JSON-safe: dates and times become ISO 8601 strings, `!!binary` becomes its
  base64 text, sets become sorted lists, NaN/infinity become "NaN"/"Infinity"/"-Infinity",
  non-string keys become strings (`1` -> "1", `true` -> "true", `null` -> "null"). A string with a
  NUL character or a lone surrogate is an error (PostgreSQL cannot store either), as is an
  integer of more than 4,300 digits (Python's `json` refuses to write one; hex YAML can spell it).
- Every check is linear in the file's size, so any file within `MAX_FILE_BYTES` stays cheap.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from worker.sync.entries import is_lfs_pointer
from worker.sync.layout import CANDIDATE_EXTENSIONS, CatalogRules
from worker.sync.safe_yaml import (
    MAX_DEPTH,
    InvalidFileError,
    decode,
    front_matter,
    load_json,
    load_yaml,
)
from worker.sync.storable import path_problem, storable_text

MARKDOWN_EXTENSIONS = (".md", ".markdown")
YAML_EXTENSIONS = (".yaml", ".yml")

MAX_NAME_CHARS = 255
MAX_TEAM_CHARS = 200
MAX_LOGIN_CHARS = 100
MAX_TAG_CHARS = 100
MAX_TAGS = 100
#: Python's `json` refuses to write a longer integer (`sys.get_int_max_str_digits()` default).
MAX_INT_DIGITS = 4300
_INT_LIMIT = 10**MAX_INT_DIGITS

#: Unicode category Cc is exactly C0, DEL and C1; one regex scan instead of a call per character.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")

_LOGIN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


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


# --- JSON-safe metadata ------------------------------------------------------------------------


def _check_string(value: str, where: str) -> str:
    if "\0" in value:
        raise InvalidFileError(
            f"{where} contains a NUL character (\\u0000), which cannot be stored"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidFileError(
            f"{where} contains an unpaired surrogate escape (\\ud800-\\udfff)"
        ) from None
    return value


def _scalar_key(key: Any, where: str) -> str:
    if isinstance(key, str):
        return _check_string(key, f"a key in {where}")
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int | float | datetime | date | bytes):
        return str(json_safe(key, where, 0))
    raise InvalidFileError(f"{where} has a key of type {type(key).__name__}; keys must be scalars")


def _json_safe_scalar(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -_INT_LIMIT < value < _INT_LIMIT:
            raise InvalidFileError(
                f"{where} holds a number with more than {MAX_INT_DIGITS:,} digits, "
                "which cannot be stored; put it in quotes"
            )
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
    raise InvalidFileError(
        f"{where} holds a value of type {type(value).__name__}, which JSON cannot hold"
    )


def json_safe(value: Any, where: str, depth: int) -> Any:
    """`value` with YAML 1.1's extra types turned into plain JSON ones (see module docstring)."""
    if depth > MAX_DEPTH:
        raise InvalidFileError(f"nests more than {MAX_DEPTH} levels deep")
    if isinstance(value, list | tuple):
        return [json_safe(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        members = [json_safe(v, where, depth + 1) for v in value]
        return sorted(members, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            text = _scalar_key(key, where)
            if text in out:
                raise InvalidFileError(
                    f"{where} has the key {text!r} twice once keys are read as text"
                )
            out[text] = json_safe(item, f"{where}.{text}", depth + 1)
        return out
    return _json_safe_scalar(value, where)


# --- the fields ----------------------------------------------------------------------------------


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
    if _CONTROL_RE.search(value):
        raise InvalidFileError(f"`{field_name}` must be a single line without control characters")
    if len(value) > limit:
        raise InvalidFileError(
            f"`{field_name}` is {len(value)} characters long; at most {limit} allowed"
        )
    return value


def _name(meta: dict[str, Any]) -> str:
    if "name" not in meta:
        raise InvalidFileError("has no `name`; every item needs `name: ...`")
    raw = meta["name"]
    if not isinstance(raw, str):
        raise InvalidFileError(f"`name` must be text, but it is {_describe(raw)}")
    name = _single_line(raw, "name", MAX_NAME_CHARS)
    if not name:
        raise InvalidFileError("`name` is empty")
    return name


def _description(meta: dict[str, Any]) -> str | None:
    raw = meta.get("description")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidFileError(f"`description` must be text, but it is {_describe(raw)}")
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
                raise InvalidFileError(
                    f"`tags` entry {index + 1} must be text, but it is {_describe(tag)}"
                )
        parts = raw
    else:
        raise InvalidFileError(
            f"`tags` must be a list of text or a comma-separated text, but it is {_describe(raw)}"
        )
    tags: dict[str, None] = {}  # ordered and de-duplicated in linear time
    for part in parts:
        tag = _single_line(part, "tags", MAX_TAG_CHARS)
        if tag:
            tags[tag] = None
            if len(tags) > MAX_TAGS:
                raise InvalidFileError(f"`tags` has more than {MAX_TAGS} tags; at most {MAX_TAGS}")
    return list(tags)


def _author(meta: dict[str, Any]) -> str | None:
    raw = meta.get("author")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidFileError(f"`author` must be a GitHub login, but it is {_describe(raw)}")
    login = raw.strip().removeprefix("@")
    if not login:
        return None
    if len(login) > MAX_LOGIN_CHARS or not _LOGIN_RE.fullmatch(login):
        raise InvalidFileError(
            f"`author` {raw.strip()[:120]!r} is not a GitHub login "
            "(letters, digits, '-' and '_', e.g. `author: octocat`)"
        )
    return login


def _team(meta: dict[str, Any]) -> str | None:
    raw = meta.get("team")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidFileError(f"`team` must be a team name, but it is {_describe(raw)}")
    return _single_line(raw, "team", MAX_TEAM_CHARS) or None


# --- the file --------------------------------------------------------------------------------


def parse_mode(path: str) -> str | None:
    """How a file at `path` is read: "markdown", "yaml", "json", or None (not a catalog file).

    The parse depends on the path through this only: a rename that keeps it needs no re-read.
    """
    lower = path.lower()
    if lower.endswith(MARKDOWN_EXTENSIONS):
        return "markdown"
    if lower.endswith(YAML_EXTENSIONS):
        return "yaml"
    if lower.endswith(".json"):
        return "json"
    return None


def _load(path: str, text: str) -> dict[Any, Any]:
    """The mapping the file holds, by its extension: front matter, YAML or JSON."""
    mode = parse_mode(path)
    if mode == "markdown":
        yaml_text, line_offset = front_matter(text)
        loaded = load_yaml(yaml_text, line_offset, "the front matter")
        what = "the front matter"
    elif mode == "yaml":
        loaded = load_yaml(text, 0, "the file")
        what = "the YAML document"
    elif mode == "json":
        loaded = load_json(text)
        what = "the JSON document"
    else:
        raise InvalidFileError(
            f"is not a catalog file (expected one of {', '.join(CANDIDATE_EXTENSIONS)})"
        )
    if not isinstance(loaded, dict):
        raise InvalidFileError(
            f"{what} must be a mapping (`key: value` lines), not {_describe(loaded)}"
        )
    return loaded


def _parse(path: str, data: bytes, rules: CatalogRules) -> ParsedItem:
    bad_path = path_problem(path)
    if bad_path is not None:
        raise InvalidFileError(bad_path)
    if len(data) > rules.max_file_bytes:
        raise InvalidFileError(
            f"is {len(data):,} bytes, over the limit of {rules.max_file_bytes:,} bytes "
            "(MAX_FILE_BYTES); it was not read"
        )
    if is_lfs_pointer(data):
        raise InvalidFileError(
            "is a Git LFS pointer, not the file itself; catalog files must be committed "
            "as plain text, not through LFS"
        )
    metadata = json_safe(_load(path, decode(data)), "metadata", 0)
    return ParsedItem(
        name=_name(metadata),
        description=_description(metadata),
        tags=_tags(metadata),
        author=_author(metadata),
        team=_team(metadata),
        metadata=metadata,
    )


def parse_item(path: str, data: bytes, rules: CatalogRules) -> ParsedItem | FileError:
    """The item `data` describes, or why it cannot be one. Never raises, whatever the bytes.

    Everything a ParsedItem holds can be stored: lint and the reconcile use this one check.
    """
    try:
        return _parse(path, data, rules)
    except InvalidFileError as exc:
        message = str(exc)
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # Python refuses ints over 4,300 digits
            message = f"holds a number with more than {MAX_INT_DIGITS:,} digits"
        else:
            message = f"cannot be read: {exc}"
    except (RecursionError, MemoryError, binascii.Error) as exc:
        message = f"cannot be read ({type(exc).__name__}: {exc})"
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop a sync
        message = f"cannot be read ({type(exc).__name__}: {exc})"
    return FileError(path=path, message=storable_text(message))
