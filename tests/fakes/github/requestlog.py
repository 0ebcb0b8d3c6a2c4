"""The request log: every request the fake answered (304s, faults and drops included)."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

#: The request headers worth keeping for assertions.
KEPT_HEADERS = ("Accept", "If-None-Match", "Authorization", "User-Agent", "Content-Type")


@dataclass
class LoggedRequest:
    """One request the fake answered (or dropped: status 0)."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    headers: dict[str, str]
    at: float = field(default_factory=time.time)


class RequestLog:
    """What the fake was asked (a part of `FakeGitHub`)."""

    def __init__(self) -> None:
        self.log: list[LoggedRequest] = []
        self._log_lock = threading.Lock()

    def record(self, request: LoggedRequest) -> None:
        with self._log_lock:
            self.log.append(request)

    def reset_log(self) -> None:
        with self._log_lock:
            self.log.clear()

    def requests_matching(
        self, path: str = ".*", *, method: str | None = None, status: int | None = None
    ) -> list[LoggedRequest]:
        with self._log_lock:
            return [
                r
                for r in self.log
                if re.search(path, r.path)
                and (method is None or r.method == method)
                and (status is None or r.status == status)
            ]

    def count(
        self, path: str = ".*", *, method: str | None = None, status: int | None = None
    ) -> int:
        """How many requests matched (every request is logged: 304s, faults, drops)."""
        return len(self.requests_matching(path, method=method, status=status))

    @property
    def request_count(self) -> int:
        return len(self.log)
