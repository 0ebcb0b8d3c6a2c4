"""When to send a GitHub request again, and how long to wait first.

Two kinds of waiting, kept apart because GitHub asks for them differently: a transient failure
(5xx, timeout, reset) is retried after a full-jitter exponential backoff; a rate limit is waited
out for as long as GitHub's headers say (primary: until `x-ratelimit-reset`; secondary: the
`Retry-After`, or a minute when it gives none), but never beyond the caller's bound. The rules
are pure functions of a status and headers, so they are tested without HTTP.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from worker.errors import RateLimitedError

#: Failures of the connection itself (no answer at all): always worth another attempt.
TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout)
#: GitHub: "wait at least one minute" after a secondary rate limit that gives no Retry-After.
SECONDARY_DEFAULT_WAIT = 60.0
#: Slack after `x-ratelimit-reset`, so the first request after the wait is not a second early.
RESET_SLACK = 0.25


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `attempts` in all per request, full-jitter backoff from `base_delay`."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    rate_limit_waits: int = 3

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)] (AWS's recommendation)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


@dataclass
class RateLimitView:
    """The last `x-ratelimit-*` values GitHub sent (None until an answer carries them)."""

    limit: int | None = None
    remaining: int | None = None
    reset: datetime | None = None

    def update(self, headers: Mapping[str, str]) -> None:
        """Remember the values these headers carry; keep the others."""
        if headers.get("x-ratelimit-remaining", "").isdigit():
            self.remaining = int(headers["x-ratelimit-remaining"])
        if headers.get("x-ratelimit-limit", "").isdigit():
            self.limit = int(headers["x-ratelimit-limit"])
        if headers.get("x-ratelimit-reset", "").isdigit():
            self.reset = datetime.fromtimestamp(int(headers["x-ratelimit-reset"]), UTC)


@dataclass(frozen=True)
class RateLimit:
    """A rate-limited answer: which limit, and how many seconds until it lifts."""

    kind: str  # "rate limit" (primary) or "secondary rate limit"
    wait: float

    def error(self, what: str) -> RateLimitedError:
        """The error for a limit not worth waiting out here: the task is re-queued instead."""
        reset_at = utc_in(self.wait)
        return RateLimitedError(
            f"GitHub {self.kind} reached for {what}; resets at {reset_at:%Y-%m-%d %H:%M:%S} UTC",
            reset_at=reset_at,
        )


def read_rate_limit(
    status: int, headers: Mapping[str, str], message: Callable[[], str], now: float
) -> RateLimit | None:
    """The rate limit an answer reports, or None when it is not one.

    `message` reads GitHub's error message; it is only called when the headers do not decide.
    """
    if status not in (403, 429):
        return None
    retry_after = headers.get("Retry-After", "")
    if retry_after.isdigit():
        return RateLimit("secondary rate limit", float(retry_after))
    reset = headers.get("x-ratelimit-reset", "")
    if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        return RateLimit("rate limit", max(0.0, int(reset) - now) + RESET_SLACK)
    if status == 429 or "secondary rate limit" in message().lower():
        return RateLimit("secondary rate limit", SECONDARY_DEFAULT_WAIT)
    return None


def utc_in(seconds: float) -> datetime:
    """The UTC time `seconds` from now."""
    return datetime.fromtimestamp(time.time() + seconds, UTC)
