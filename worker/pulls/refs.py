"""How a stored `pull_request` delivery names its pull request: GitHub's `refs/pull/N/head`.

The inbox keeps one `ref` per delivery; for a pull request it is the ref GitHub itself gives
the pull request's head, so the number survives in the row without a new column.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, select

from models import WebhookDelivery, session_factory

_PULL_REF = re.compile(r"refs/pull/([1-9][0-9]{0,9})/head")


def pull_ref(number: int) -> str:
    return f"refs/pull/{number}/head"


def pull_number(ref: str | None) -> int | None:
    """The pull request number of `refs/pull/N/head` (None for any other ref)."""
    found = _PULL_REF.fullmatch(ref or "")
    return int(found[1]) if found else None


def delivery_pull_request(engine: Engine, delivery_id: str) -> int | None:
    """The pull request a stored delivery is about (None: not a `pull_request` delivery)."""
    with session_factory(engine)() as session:
        row = session.execute(
            select(WebhookDelivery.event, WebhookDelivery.ref).where(
                WebhookDelivery.delivery_id == delivery_id
            )
        ).first()
    if row is None or row.event != "pull_request":
        return None
    return pull_number(row.ref)
