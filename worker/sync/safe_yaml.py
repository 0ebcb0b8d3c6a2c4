"""Safe loading of catalog text: UTF-8, Markdown front matter, YAML and JSON. Pure, no I/O.

YAML is parsed with the safe loader only (no object construction), and the event stream is
checked before anything is built: anchors, aliases, several documents and deep nesting are
refused, so hostile input stays cheap. Every error says where (line, column) in words a
catalog author can act on.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from worker.errors import CatalogSyncError

#: Deeper metadata is refused. The check runs on the YAML event stream before any object is
#: built, which also stops libyaml's quadratic slowdown on deeply nested flow collections.
MAX_DEPTH = 64
#: More values (scalars and collections) in one file are refused: a catalog item's metadata is
#: small, and the bound keeps building, normalising and storing it cheap, whatever the shape.
MAX_VALUES = 10_000

_OPEN_FRONT_MATTER = re.compile(r"---[ \t]*(?:\r\n|\r|\n)")
_CLOSE_FRONT_MATTER = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.MULTILINE)
_YAML_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NO_ANCHORS = "anchors and aliases are not allowed in catalog files"


class InvalidFileError(CatalogSyncError):
    """A catalog file is refused; the message is for its author and does not repeat the path."""

    reason = "invalid_file"


def line_col(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of character `offset` in `text`."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def decode(data: bytes) -> str:
    """UTF-8 text without a byte-order mark; errors say where the bad byte is."""
    nul = data.find(b"\0")
    if nul != -1:
        raise InvalidFileError(f"contains a NUL byte at byte offset {nul}; is it a binary file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8", errors="replace")
        line, column = line_col(good, len(good))
        raise InvalidFileError(
            f"is not valid UTF-8: byte 0x{data[exc.start]:02x} at byte offset {exc.start} "
            f"(line {line}, column {column}); save the file as UTF-8"
        ) from None
    return text.removeprefix("\ufeff")


def front_matter(text: str) -> tuple[str, int]:
    """The YAML between the leading `---` lines and the line number it starts after."""
    opening = _OPEN_FRONT_MATTER.match(text)
    if opening is None:
        raise InvalidFileError(
            "has no front matter: a Markdown item must start with a line `---`, "
            "then YAML with at least `name:`, then a line `---`"
        )
    closing = _CLOSE_FRONT_MATTER.search(text, opening.end())
    if closing is None:
        raise InvalidFileError(
            "has front matter that is never closed: add a line `---` after the YAML"
        )
    return text[opening.end() : closing.start()], 1


def _mark(mark: Any, line_offset: int) -> str:
    if mark is None:
        return ""
    return f" at line {mark.line + 1 + line_offset}, column {mark.column + 1}"


def _yaml_error(exc: yaml.YAMLError, text: str, line_offset: int) -> InvalidFileError:
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "invalid YAML"
        where = _mark(exc.problem_mark or exc.context_mark, line_offset)
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        return InvalidFileError(f"invalid YAML{where}: {problem}{context}")
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = line_col(text, min(exc.position, len(text)))
        return InvalidFileError(
            f"invalid YAML at line {line + line_offset}, column {column}: {exc.reason}"
        )
    return InvalidFileError(f"invalid YAML: {exc}")


def _check_event(event: Any, line_offset: int) -> None:
    """Refuse an alias or an anchor (an alias bomb must never expand)."""
    if isinstance(event, yaml.AliasEvent):
        where = _mark(event.start_mark, line_offset)
        raise InvalidFileError(f"uses the YAML alias *{event.anchor}{where}; {_NO_ANCHORS}")
    anchor = getattr(event, "anchor", None)
    if anchor is not None:
        where = _mark(event.start_mark, line_offset)
        raise InvalidFileError(f"uses the YAML anchor &{anchor}{where}; {_NO_ANCHORS}")


def _check_yaml_events(text: str, line_offset: int) -> None:
    """Refuse anchors, aliases, several documents and deep nesting before building anything.

    Streaming the events and stopping at the first problem keeps hostile input cheap: alias
    bombs never expand, and libyaml never gets to crawl through thousands of nested brackets.
    """
    depth = 0
    documents = 0
    values = 0
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        _check_event(event, line_offset)
        if isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent):
            values += 1
            if values > MAX_VALUES:
                raise _too_many(_mark(event.start_mark, line_offset))
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise InvalidFileError(
                    f"holds more than one YAML document (the second starts"
                    f"{_mark(event.start_mark, line_offset)}); a catalog file is one mapping"
                )
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise InvalidFileError(
                    f"nests more than {MAX_DEPTH} levels deep{_mark(event.start_mark, line_offset)}"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def compose_yaml(data: bytes) -> yaml.Node | None:
    """The node tree of one safe YAML document (marks kept, nothing constructed); None if empty.

    For files read as configuration rather than items (`.catalog-sync.yml`): the same checks
    as an item file, `InvalidFileError` with line and column.
    """
    text = decode(data)
    try:
        _check_yaml_events(text, 0)
        return yaml.compose(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, 0) from None


def load_yaml(text: str, line_offset: int, what: str) -> Any:
    """The first (only) YAML document of `text`; `what` names it in the error for an empty one."""
    try:
        if needs_event_check(text):
            _check_yaml_events(text, line_offset)
        loaded = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - the safe (C) loader
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, line_offset) from None
    if loaded is None:
        raise InvalidFileError(f"{what} is empty; it needs a mapping with at least `name`")
    return loaded


#: Texts this short cannot hold MAX_VALUES values (a value takes at least half a character).
SCREEN_MAX_CHARS = 2_000
#: Characters that open a collection: flow brackets, a block sequence's `-`, a key's `?`/`:`.
_COLLECTION_INDICATORS = "[{-?:"


def needs_event_check(text: str) -> bool:
    """False when `text` cannot break a rule `_check_yaml_events` enforces, by its characters.

    Most catalog front matter is a few short lines: no anchor or alias (no `&` or `*`), one
    document (no `---` or `...`), fewer collection indicators than MAX_DEPTH (so it cannot nest
    deeper) and short enough for MAX_VALUES. Such a text skips the event pass and is parsed
    once; anything else, however innocent, takes the checked path.
    """
    if len(text) > SCREEN_MAX_CHARS or "&" in text or "*" in text:
        return True
    if "---" in text or "..." in text or "%" in text:
        return True
    return sum(text.count(c) for c in _COLLECTION_INDICATORS) >= MAX_DEPTH


def _too_many(where: str) -> InvalidFileError:
    return InvalidFileError(
        f"holds more than {MAX_VALUES:,} values{where}; a catalog item's metadata must be smaller"
    )


def _check_json_values(value: Any) -> None:
    """Refuse a JSON document of more than MAX_VALUES values (counted without recursion)."""
    pending = [value]
    seen = 0
    while pending:
        current = pending.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise _too_many("")
        if isinstance(current, dict):
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)


def load_json(text: str) -> Any:
    """The JSON value of `text`, with the line and column of a syntax error."""
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidFileError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise InvalidFileError(f"nests more than {MAX_DEPTH} levels deep") from None
    _check_json_values(loaded)
    return loaded
