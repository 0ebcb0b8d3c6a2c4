"""What the database can store: column sizes, paths and text. Pure, no I/O.

A value that cannot be written must be refused before the write, as the error of the one file
that carries it; a failed statement would otherwise abort the whole repository's transaction.
The sizes come from the table definitions, so a migration that widens a column widens the check.
"""

from __future__ import annotations

import hashlib

from models import CatalogFileError, CatalogItem

#: Characters of `catalog_items.git_path` (and of `catalog_file_errors.git_path`).
GIT_PATH_CHARS: int = min(
    getattr(CatalogItem.__table__.c.git_path.type, "length", None) or 1024,
    getattr(CatalogFileError.__table__.c.git_path.type, "length", None) or 1024,
)
#: A one-line message (run errors, repository errors) is cut to this many characters.
MAX_MESSAGE_CHARS = 2000

_HASH_CHARS = 16


def text_problem(text: str) -> str | None:
    """Why PostgreSQL cannot store `text` (a NUL or a lone surrogate), or None."""
    if "\0" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    return None


def path_problem(path: str) -> str | None:
    """Why `path` cannot be an item's `git_path`, or None when it can."""
    problem = text_problem(path)
    if problem is not None:
        return f"the path {problem} (it reads `{printable(path)}`); rename the file"
    if len(path) > GIT_PATH_CHARS:
        return (
            f"the path is {len(path):,} characters long; at most {GIT_PATH_CHARS:,} can be "
            "stored: shorten it"
        )
    return None


def printable(text: str) -> str:
    """`text` with what cannot be stored spelled out: undecodable bytes as `\\xe9`, NUL as `\\x00`.

    Names read from a folder keep undecodable bytes as surrogate escapes; those turn back
    into the bytes, shown the way Python shows bytes.
    """
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte (from JSON \\ud800)
        raw = text.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace").replace("\0", "\\x00")


def error_path(path: str) -> str:
    """The `git_path` an error row of `path` is stored under: `path` itself when it fits.

    Otherwise its printable form, cut to fit, with a hash of the exact path after it, so two
    long paths that share a beginning get two error rows and the same path always the same.
    """
    if path_problem(path) is None:
        return path
    digest = hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    suffix = f" [#{digest}]"
    shown = printable(path)
    if len(shown) + len(suffix) > GIT_PATH_CHARS:
        shown = shown[: GIT_PATH_CHARS - len(suffix) - 1] + "…"
    return shown + suffix


def storable_text(text: str) -> str:
    """`text` as it can be stored: unchanged when it can, else spelled out (see `printable`)."""
    return text if text_problem(text) is None else printable(text)


def one_line(exc: BaseException, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`Type: message` on one line, storable and cut to `limit`; never raises.

    A database error's text can embed the whole statement and its parameters (a 5,000-digit
    number, a megabyte of metadata): only its first line is kept.
    """
    try:
        text = str(getattr(exc, "orig", None) or exc)  # a driver's own error, not the statement
    except Exception:  # noqa: BLE001 - str() of a hostile value can itself fail
        text = "(message could not be shown)"
    first = text.strip().splitlines()[0] if text.strip() else ""
    line = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    line = storable_text(line)
    return line if len(line) <= limit else line[: limit - 1] + "…"
