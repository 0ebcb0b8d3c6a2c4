"""Scenario: catalog-sync reconciling a repository on the GitHub fake, in this process.

    python -m bench.scenario_github cold DATABASE_URL API_URL TOKEN OWNER/NAME
    python -m bench.scenario_github push DATABASE_URL API_URL TOKEN OWNER/NAME \\
        --bare PATH --changes N [N ...] --version V
    python -m bench.scenario_github poll DATABASE_URL API_URL TOKEN OWNER/NAME [OWNER/NAME ...]

`cold`: one reconcile into an empty database. `push`: one long-lived worker process; for each
N, a no-op reconcile first (the worker is warm: connections open, head ETag stored), then N
items change on the branch (what a push does on GitHub's side) and a webhook-triggered
reconcile runs at once; the time is from the branch moving to the reconcile returning (its
transaction committed).
`poll`: the poll task's cycle (`worker.tasks.poll_cycle`): conditional head
requests issued concurrently from this one process, a reconcile per repository. The source,
client and options are built by `worker.composition`, exactly as the worker builds them.
Prints one JSON line (see `bench.common.emit`).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bench.catalogs import git_change_items
from bench.common import emit, peak_rss_mb
from models import make_engine
from settings import RepoSpec, Settings
from worker import composition as services
from worker.sync.reconcile import ReconcileRequest, Result, reconcile
from worker.sync.source import Head, Listing, Source


class TimedSource(Source):
    """Delegates to the real source and adds up the time spent in each of its calls."""

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.seconds: dict[str, float] = defaultdict(float)

    @property
    def requests(self) -> int:  # type: ignore[override]
        return self.inner.requests

    def __getattr__(self, name: str) -> Any:  # last_head_etag, rate limits...
        return getattr(self.inner, name)

    def head(self, etag: str | None = None) -> Head:
        start = time.perf_counter()
        try:
            return self.inner.head(etag)
        finally:
            self.seconds["head"] += time.perf_counter() - start

    def listing(self, head: Head) -> Listing:
        start = time.perf_counter()
        try:
            return self.inner.listing(head)
        finally:
            self.seconds["listing"] += time.perf_counter() - start

    def read(
        self, head: Head, wanted: Mapping[str, str], *, bulk: bool = False
    ) -> Iterator[tuple[str, bytes]]:
        items = self.inner.read(head, wanted, bulk=bulk)
        while True:
            start = time.perf_counter()
            try:
                item = next(items)
            except StopIteration:
                return
            finally:
                self.seconds["read"] += time.perf_counter() - start
            yield item


def _sync(
    settings: Settings, engine: Engine, full_name: str, trigger: str
) -> tuple[float, Result, TimedSource]:
    source = TimedSource(services.github_source(RepoSpec.parse(full_name), settings))
    start = time.perf_counter()
    result = reconcile(
        engine, full_name, source, services.options(settings), ReconcileRequest(trigger=trigger)
    )
    seconds = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"reconcile of {full_name} failed: {result.summary()}")
    return seconds, result, source


def _report(seconds: float, result: Result, source: TimedSource) -> dict[str, Any]:
    phases = {k: round(v, 4) for k, v in source.seconds.items()}
    phases["rest"] = round(seconds - sum(source.seconds.values()), 4)
    return {
        "seconds": seconds,
        "requests": result.requests,
        "outcome": str(result.outcome),
        "phases": phases,
        **result.counts.as_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("cold", "push", "poll"))
    parser.add_argument("url")
    parser.add_argument("api_url")
    parser.add_argument("token")
    parser.add_argument("repos", nargs="+")
    parser.add_argument("--bare", type=Path)
    parser.add_argument("--changes", type=int, nargs="+", default=[1])
    parser.add_argument("--version", type=int, default=1)
    args = parser.parse_args()
    settings = Settings(database_url=args.url, github_api_url=args.api_url, github_token=args.token)
    if args.mode == "cold":
        engine = make_engine(settings.database_url)
        seconds, result, source = _sync(settings, engine, args.repos[0], "bench")
        emit({**_report(seconds, result, source), "rss_mb": peak_rss_mb()})
    elif args.mode == "push":
        full_name = args.repos[0]
        source = TimedSource(services.github_source(RepoSpec.parse(full_name), settings))
        engine = make_engine(settings.database_url)
        options = services.options(settings)
        runs = []
        for n, changed in enumerate(args.changes):
            warm = reconcile(
                engine, full_name, source, options, ReconcileRequest(trigger="webhook")
            )
            assert warm.ok and warm.counts.changed == 0, warm.summary()
            source.seconds.clear()
            git_change_items(args.bare, list(range(changed)), args.version + n)
            pushed = time.perf_counter()
            result = reconcile(
                engine, full_name, source, options, ReconcileRequest(trigger="webhook")
            )
            seconds = time.perf_counter() - pushed
            if not result.ok or result.counts.updated != changed:
                raise SystemExit(f"push reconcile of {full_name}: {result.summary()}")
            runs.append({**_report(seconds, result, source), "changed": changed})
        emit({"runs": runs, "rss_mb": peak_rss_mb()})
    else:
        from worker.tasks import poll_cycle  # builds the Celery app: the poll scenario only

        specs = [RepoSpec.parse(name) for name in args.repos]
        # A worker polls every minute: its imports and its pools are warm. Without byte code
        # (PYTHONDONTWRITEBYTECODE) the first lazy imports alone would take seconds.
        services.github_source(specs[0], settings)
        with services.engine(settings).connect():
            pass
        start = time.perf_counter()
        report = poll_cycle(specs, settings)
        emit(
            {
                "seconds": time.perf_counter() - start,
                "requests": report.requests,
                "outcomes": dict(report.outcomes),
                "deferred": len(report.deferred),
                "rss_mb": peak_rss_mb(),
            }
        )


if __name__ == "__main__":
    main()
