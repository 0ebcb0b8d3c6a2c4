"""Poll many repositories from one process: conditional head requests, issued concurrently.

An unchanged poll is one conditional request per repository, answered 304 (not charged by
GitHub); at 30 ms a request, a thousand of them one after another take 30 s or more, so a
bounded pool of threads issues them side by side over the GitHub client's shared keep-alive
connections (its urllib3 pool holds `POLL_WORKERS` connections or more). A repository whose
head moved is reconciled in the same pool.

The rate reserve (`rate_budget`) is checked before the first request and after every poll: once
GitHub's remaining budget is under it, the polls not yet started are deferred until the reset,
in this process and, through the database, in every other worker.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine

from models import utcnow
from worker.sync import rate_budget
from worker.sync.run import Result

log = logging.getLogger(__name__)

#: Polls in flight at once in one process: enough to hide 30 ms per request, few enough for
#: the client's connection pool (16) and the database pool (5 + 10 overflow).
POLL_WORKERS = 8


class RateView(Protocol):
    """What the poll reads of the GitHub client: the last `x-ratelimit-*` figures it saw."""

    @property
    def rate_limit_remaining(self) -> int | None: ...

    @property
    def rate_limit_reset(self) -> datetime | None: ...


@dataclass
class PollReport:
    """How a poll cycle ended: outcomes per repository, and the ones deferred."""

    outcomes: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    deferred: list[str] = field(default_factory=list)
    deferred_until: datetime | None = None


def poll_all(
    engine: Engine,
    names: Sequence[str],
    poll_one: Callable[[str], Result],
    rate: RateView,
    *,
    workers: int = POLL_WORKERS,
    reserve: int = rate_budget.RESERVE,
) -> PollReport:
    """Poll every repository in `names` with `poll_one`, `workers` at a time."""
    report = PollReport()
    until = rate_budget.deferred_until(engine, utcnow())
    if until is not None:
        report.deferred, report.deferred_until = list(names), until
        log.info("poll.deferred", extra={"repositories": len(names), "until": until.isoformat()})
        return report
    stop = threading.Event()
    lock = threading.Lock()

    def one(name: str) -> None:
        if stop.is_set():
            with lock:
                report.deferred.append(name)
            return
        try:
            outcome, requests = _polled(poll_one, name)
        except Exception:  # one repository's failure never stops the others
            log.exception("poll.failed", extra={"repository": name})
            outcome, requests = "failed", 0
        ended = rate_budget.note_remaining(
            engine, rate.rate_limit_remaining, rate.rate_limit_reset, reserve=reserve
        )
        with lock:
            report.outcomes[outcome] += 1
            report.requests += requests
            if ended is not None:
                stop.set()
                report.deferred_until = ended

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="poll") as pool:
        for future in [pool.submit(one, name) for name in names]:
            future.result()
    return report


def _polled(poll_one: Callable[[str], Result], name: str) -> tuple[str, int]:
    result = poll_one(name)
    return str(result.outcome), result.requests
