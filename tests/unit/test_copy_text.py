"""COPY's text format: every value PostgreSQL must read back exactly as it was given."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from models import ItemType
from models.copy import copy_text, copy_value


def unescape(field: str) -> str | None:
    """What PostgreSQL reads from one text-format field (the escapes copy_value writes)."""
    if field == "\\N":
        return None
    out, i = [], 0
    table = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
    while i < len(field):
        if field[i] == "\\":
            out.append(table[field[i + 1]])
            i += 2
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")))
def test_any_text_survives_the_round_trip_and_never_breaks_the_row(text: str) -> None:
    field = copy_value(text)
    assert "\t" not in field and "\n" not in field and "\r" not in field
    assert unescape(field) == text


def test_values_of_each_column_type() -> None:
    ident = uuid.uuid4()
    when = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert copy_value(None) == "\\N"
    assert copy_value(ItemType.SKILL) == "skill"
    assert copy_value(ident) == str(ident)
    assert copy_value(when) == "2026-12-01T12:00:00+00:00"
    assert copy_value(7) == "7" and copy_value(True) == "t"
    meta = {"a": "tab\there", "b": ["x\\y"]}
    assert json.loads(unescape(copy_value(meta)) or "") == meta
    assert copy_text(["a", "b"], [{"a": 1, "b": None}, {"a": 2, "b": "x"}]) == "1\t\\N\n2\tx\n"
