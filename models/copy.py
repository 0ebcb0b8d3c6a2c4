"""Bulk inserts the way each database likes them: COPY on PostgreSQL, executemany elsewhere.

A cold sync writes tens of thousands of rows. Through an INSERT, SQLAlchemy and the driver
render every parameter in Python and PostgreSQL parses every row of SQL; COPY streams rows
as tab-separated text that PostgreSQL reads without planning, about twice as fast end to end.
The rows are the same dicts an `insert(table)` takes, so the caller does not care which runs.
A refused value raises SQLAlchemy's `DBAPIError` (`DataError`, `IntegrityError`...) either way,
so a caller's SAVEPOINT bisection classifies a COPY failure exactly like an INSERT failure.
"""

from __future__ import annotations

import enum
import io
import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

_NULL = "\\N"
_SPECIAL = re.compile(r"[\\\t\n\r]")
_ESCAPED = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(text: str) -> str:
    """`text` with COPY's text-format escapes for the four characters that frame a row."""
    if _SPECIAL.search(text) is None:
        return text
    return _SPECIAL.sub(lambda m: _ESCAPED[m[0]], text)


def copy_value(value: Any) -> str:
    """One value in COPY's text format (`\\N` for NULL); JSON for dicts and lists."""
    if value is None:
        return _NULL
    if isinstance(value, str):  # before Enum: a StrEnum's str() is its value too
        return _escape(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        return _escape(json.dumps(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return copy_value(value.value)
    return _escape(str(value))  # numbers, UUIDs


def copy_text(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as COPY text, one line per row, columns in `columns` order."""
    return "".join("\t".join([copy_value(row[c]) for c in columns]) + "\n" for row in rows)


def bulk_insert(session: Session, model: type[Any], rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (dicts keyed by `model`'s attribute names) in the session's transaction.

    Every row has the keys of the first one, as for an executemany.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(model), list(rows))
        return
    keys = list(rows[0])
    attrs = inspect(model).column_attrs
    quote = session.get_bind().dialect.identifier_preparer.quote
    names = ", ".join(quote(attrs[k].columns[0].name) for k in keys)
    statement = f"COPY {quote(model.__tablename__)} ({names}) FROM STDIN WITH (FORMAT text)"
    # Encoded here, not by the driver mid-COPY: a value that cannot be encoded (a lone
    # surrogate) is a ValueError of this batch, not a cancelled COPY on the connection.
    data = io.BytesIO(copy_text(keys, rows).encode("utf-8"))
    driver_error = session.get_bind().dialect.loaded_dbapi.Error
    dbapi = session.connection().connection.dbapi_connection
    assert dbapi is not None
    cursor: Any = dbapi.cursor()  # psycopg2's: `copy_expert` is not in the DB-API
    try:
        cursor.copy_expert(statement, data)
    except driver_error as exc:
        raise DBAPIError.instance(statement, None, exc, driver_error) from exc
    finally:
        cursor.close()
