"""Injectable faults: error statuses, secondary rate limits, dropped or cut connections, delays.

Each fault applies to the next `n` requests whose path matches a regex; the server takes the
first matching fault before routing, so a fault answers even for a path no route serves.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass

from tests.fakes.github.api import DOCS, Response

SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


@dataclass
class Fault:
    """An injected fault for the next `remaining` requests whose path matches `pattern`."""

    kind: str  # "status" | "secondary" | "drop" | "delay" | "cut"
    pattern: re.Pattern[str]
    method: str | None
    remaining: int
    status: int = 502
    retry_after: int = 1
    seconds: float = 0.0
    after_bytes: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and (self.method is None or self.method == method)
            and bool(self.pattern.search(path))
        )


class FaultInjection:
    """The faults waiting for requests (a part of `FakeGitHub`)."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self._faults_lock = threading.Lock()

    def fail_next(
        self, n: int = 1, status: int = 502, *, path: str = ".*", method: str | None = None
    ) -> None:
        """The next `n` requests matching `path` (a regex) answer `status`."""
        self._add_fault(Fault("status", re.compile(path), method, n, status=status))

    def secondary_rate_limit(
        self, n: int = 1, retry_after: int = 1, *, status: int = 403, path: str = ".*"
    ) -> None:
        """The next `n` matching requests hit the secondary rate limit (`Retry-After`)."""
        self._add_fault(
            Fault("secondary", re.compile(path), None, n, status=status, retry_after=retry_after)
        )

    def drop_connections(self, n: int = 1, *, path: str = ".*") -> None:
        """The next `n` matching requests see the connection closed without an answer."""
        self._add_fault(Fault("drop", re.compile(path), None, n))

    def cut_bodies(self, n: int = 1, *, after_bytes: int, path: str = ".*") -> None:
        """The next `n` matching answers stop after `after_bytes` of body: the connection drops."""
        self._add_fault(Fault("cut", re.compile(path), None, n, after_bytes=after_bytes))

    def delay_next(self, n: int, seconds: float, *, path: str = ".*") -> None:
        """The next `n` matching requests are answered after `seconds` (to cause timeouts)."""
        self._add_fault(Fault("delay", re.compile(path), None, n, seconds=seconds))

    def clear_faults(self) -> None:
        with self._faults_lock:
            self.faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault for this request, one use of it spent (None: no fault)."""
        with self._faults_lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
        return None

    def _add_fault(self, fault: Fault) -> None:
        with self._faults_lock:
            self.faults.append(fault)


def fault_response(fault: Fault) -> Response:
    """The answer of a "status" or "secondary" fault (never counted, never an ETag)."""
    if fault.kind == "secondary":
        body = {"message": SECONDARY_MESSAGE, "documentation_url": DOCS}
        headers = {"Retry-After": str(fault.retry_after)}
        return Response(fault.status, json.dumps(body).encode(), headers, counted=False, etag=False)
    body_ = {"message": f"fake fault {fault.status}"}
    return Response(fault.status, json.dumps(body_).encode(), counted=False, etag=False)
