"""GitHub's primary rate limit: a budget per hour, spent by counted requests, then reset.

Every API answer carries the `x-ratelimit-*` headers; once the budget is spent, requests get
403 until `rate_limit_reset` (a Unix time), when it refills.
"""

from __future__ import annotations

import threading
import time

WINDOW_SECONDS = 3600


class PrimaryRateLimit:
    """The fake's core rate limit (a part of `FakeGitHub`)."""

    def __init__(self, limit: int) -> None:
        self.rate_limit_limit = limit
        self.rate_limit_remaining = limit
        self.rate_limit_reset = int(time.time()) + WINDOW_SECONDS
        self._rate_lock = threading.Lock()

    def exhaust_rate_limit(self, reset_in: float = 2) -> None:
        """Spend the primary rate limit; it resets `reset_in` seconds from now."""
        with self._rate_lock:
            self.rate_limit_remaining = 0
            self.rate_limit_reset = int(time.time() + reset_in + 0.999)

    def rate_headers(self) -> dict[str, str]:
        with self._rate_lock:
            self._maybe_reset_rate()
            return {
                "x-ratelimit-limit": str(self.rate_limit_limit),
                "x-ratelimit-remaining": str(self.rate_limit_remaining),
                "x-ratelimit-reset": str(self.rate_limit_reset),
                "x-ratelimit-used": str(self.rate_limit_limit - self.rate_limit_remaining),
                "x-ratelimit-resource": "core",
            }

    def spend(self) -> None:
        with self._rate_lock:
            self._maybe_reset_rate()
            self.rate_limit_remaining = max(0, self.rate_limit_remaining - 1)

    def rate_exhausted(self) -> bool:
        with self._rate_lock:
            self._maybe_reset_rate()
            return self.rate_limit_remaining <= 0

    def _maybe_reset_rate(self) -> None:
        if time.time() >= self.rate_limit_reset:
            self.rate_limit_remaining = self.rate_limit_limit
            self.rate_limit_reset = int(time.time()) + WINDOW_SECONDS
