"""The rate-limit reserve every worker shares: polls stop spending when GitHub's budget is low.

A poll must never spend the rate limit faster than it refills. When an answer's
`x-ratelimit-remaining` falls under `RESERVE`, the reset time is written to the `rate_budget`
row of those credentials; every worker reads that row before polling and defers until then.
Webhook-triggered reconciles are not deferred (they are the work the reserve is kept for).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from models import RateBudget, transaction, utcnow

log = logging.getLogger(__name__)

#: Requests kept back for webhook-triggered reconciles and operators (GitHub's hourly limit
#: is 5,000 for a token and up to 15,000 for an app installation).
RESERVE = 500
#: When GitHub sent no reset time, how long polls wait before trying again.
DEFAULT_DEFERRAL = timedelta(minutes=5)
#: The row of the credentials the workers share (one GitHub token or app).
KEY = "github"


def should_defer(remaining: int | None, reserve: int = RESERVE) -> bool:
    """True when the budget GitHub reported is under the reserve (unknown: not deferred)."""
    return remaining is not None and remaining < reserve


def deferral_end(reset: datetime | None, now: datetime) -> datetime:
    """Until when to defer: GitHub's reset time, or a short default when it sent none."""
    return reset if reset is not None and reset > now else now + DEFAULT_DEFERRAL


def deferred_until(engine: Engine, now: datetime, key: str = KEY) -> datetime | None:
    """The time polls are deferred until, if that is still ahead of `now`."""
    with transaction(engine) as session:
        until = session.execute(
            select(RateBudget.deferred_until).where(RateBudget.key == key)
        ).scalar_one_or_none()
    return until if until is not None and until > now else None


def note_remaining(
    engine: Engine,
    remaining: int | None,
    reset: datetime | None,
    *,
    reserve: int = RESERVE,
    key: str = KEY,
) -> datetime | None:
    """Record a low budget for every worker; the deferral's end when one starts, else None."""
    if not should_defer(remaining, reserve):
        return None
    now = utcnow()
    until = deferral_end(reset, now)
    with transaction(engine) as session:
        row = session.get(RateBudget, key, with_for_update=True)
        if row is None:
            session.add(
                RateBudget(key=key, remaining=remaining, deferred_until=until, updated_at=now)
            )
        else:
            row.remaining, row.deferred_until, row.updated_at = remaining, until, now
    log.warning(
        "poll.rate_reserve_reached",
        extra={"remaining": remaining, "reserve": reserve, "deferred_until": until.isoformat()},
    )
    return until
