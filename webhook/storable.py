"""Which payload strings the receiver can store and use: pure checks, no Flask, no I/O.

A signed delivery is still untrusted input. JSON can carry strings that no database keeps
as they are: a lone UTF-16 surrogate (`"\\ud800"`) has no UTF-8 form, and PostgreSQL refuses a
NUL character (SQLite would keep it, and the two must agree). Such a string is a 400 when the
payload is parsed, before anything is written.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import DataError

from worker.sync.storable import text_problem

#: What storing a value that slipped past these checks raises (psycopg2's NUL refusal and the
#: drivers' UTF-8 encoding are `ValueError`s; a value too long for its column is a `DataError`).
#: The receiver's store is one transaction, so on these nothing was written: a 400, not a 500.
UNSTORABLE_ERRORS: tuple[type[Exception], ...] = (ValueError, DataError)

# `git check-ref-format`: no control characters, space, ~ ^ : ? * [ or backslash, no "..",
# no "@{" and no empty component ("//").
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")


def is_storable(text: str) -> bool:
    """Whether PostgreSQL and SQLite both store `text` unchanged: valid UTF-8, no NUL (the
    sync engine's own rule, `worker.sync.storable.text_problem`)."""
    return text_problem(text) is None


def is_git_ref(name: str) -> bool:
    """Whether `name` is a full ref git can have (`refs/heads/main`), by `check-ref-format`.

    GitHub only sends refs git accepts, so anything else is not a real push.
    """
    if not is_storable(name) or _REF_FORBIDDEN.search(name) or "/" not in name:
        return False
    if name.startswith("/") or name.endswith(("/", ".")):
        return False
    return all(not part.startswith(".") and not part.endswith(".lock") for part in name.split("/"))
