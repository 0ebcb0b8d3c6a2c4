"""What was reported to the fake: check runs and commit statuses (a part of `FakeGitHub`).

Tests assert on these exactly: every request body as sent (`check_run_requests`), each check
run's accumulated state and annotations, each commit status.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CheckRun:
    """A check run as GitHub keeps it: annotations accumulate over the updates."""

    id: int
    repo: str
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    title: str | None
    summary: str | None
    details_url: str | None
    annotations: list[dict[str, Any]] = field(default_factory=list)
    #: (method, body) of every request that made or changed this run, in order.
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class CommitStatus:
    id: int
    repo: str
    sha: str
    state: str
    description: str | None
    target_url: str | None
    context: str


class Reports:
    """Check runs and statuses posted to the fake."""

    def __init__(self) -> None:
        self.check_runs: dict[int, CheckRun] = {}
        self.statuses: list[CommitStatus] = []
        self._report_ids = itertools.count(7_000_000)
        self._reports_lock = threading.Lock()

    def new_check_run(self, repo: str, body: dict[str, Any]) -> CheckRun:
        with self._reports_lock:
            output = body.get("output") or {}
            run = CheckRun(
                id=next(self._report_ids),
                repo=repo,
                name=body["name"],
                head_sha=body["head_sha"],
                status=body.get("status", "queued"),
                conclusion=body.get("conclusion"),
                title=output.get("title"),
                summary=output.get("summary"),
                details_url=body.get("details_url"),
                annotations=list(output.get("annotations", [])),
                requests=[("POST", body)],
            )
            self.check_runs[run.id] = run
            return run

    def update_check_run(self, run: CheckRun, body: dict[str, Any]) -> CheckRun:
        with self._reports_lock:
            output = body.get("output") or {}
            run.annotations.extend(output.get("annotations", []))
            run.title = output.get("title", run.title)
            run.summary = output.get("summary", run.summary)
            run.status = body.get("status", run.status)
            run.conclusion = body.get("conclusion", run.conclusion)
            run.requests.append(("PATCH", body))
            return run

    def new_status(self, repo: str, sha: str, body: dict[str, Any]) -> CommitStatus:
        with self._reports_lock:
            status = CommitStatus(
                id=next(self._report_ids),
                repo=repo,
                sha=sha,
                state=body["state"],
                description=body.get("description"),
                target_url=body.get("target_url"),
                context=body.get("context") or "default",
            )
            self.statuses.append(status)
            return status

    def check_runs_for(self, repo: str, sha: str | None = None) -> list[CheckRun]:
        """Check runs of `repo` (on `sha`), oldest first."""
        with self._reports_lock:
            return [
                r
                for r in self.check_runs.values()
                if r.repo.lower() == repo.lower() and (sha is None or r.head_sha == sha)
            ]

    def statuses_for(self, repo: str, sha: str | None = None) -> list[CommitStatus]:
        with self._reports_lock:
            return [
                s
                for s in self.statuses
                if s.repo.lower() == repo.lower() and (sha is None or s.sha == sha)
            ]
