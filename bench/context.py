"""What every benchmark of one `python -m bench.run` shares: servers, the GitHub fake, repos.

One throwaway PostgreSQL and one Redis per run (on 127.0.0.1), one GitHub fake with 30 ms of
latency per request, and each synthetic repository built once and reused by every benchmark
that needs it. Results one benchmark measured and another reuses (the cold syncs, which the
scale curve also plots) are kept in `cache`.
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path
from typing import Any

from bench.catalogs import git_catalog
from models.migrate import upgrade
from tests.fakes.github import FakeGitHub, FakeRepo
from tests.servers import PostgresServer, RedisServer, create_database, with_database

#: Injected latency per GitHub request (each way included), as issue 5 asks.
LATENCY = 0.03
TEMPLATE_DB = "bench_template"


def log(message: str) -> None:
    """Progress, on stderr (stdout carries the figures)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Context:
    """Shared state of one benchmark run; `close()` tears everything down."""

    def __init__(self, tmp: Path, *, quick: bool = False) -> None:
        self.tmp = tmp
        self.quick = quick
        self.repeats = 1 if quick else 3
        self.cache: dict[Any, Any] = {}
        self._fake: FakeGitHub | None = None
        self._repos: dict[str, FakeRepo] = {}
        self._db_ids = itertools.count()
        self._template = False
        self.pg: PostgresServer | None = None
        self.redis: RedisServer | None = None
        try:
            self.pg = PostgresServer()
            self.pg.start()
            self.redis = RedisServer()
            self.redis.start()
        except BaseException:
            self.close()
            raise

    # -- sizes
    @property
    def sizes(self) -> tuple[int, int]:
        """The two cold-sync sizes (small, large)."""
        return (100, 1_000) if self.quick else (1_000, 10_000)

    @property
    def scale_sizes(self) -> tuple[int, int, int]:
        return (100, 1_000, 5_000) if self.quick else (1_000, 10_000, 100_000)

    @property
    def scale_between(self) -> tuple[int, ...]:
        """Sizes between the middle and the largest scale size, one run each, for the curve."""
        return (2_500,) if self.quick else (30_000, 60_000)

    # -- servers
    @property
    def pg_url(self) -> str:
        assert self.pg is not None
        return self.pg.url()

    @property
    def redis_url(self) -> str:
        assert self.redis is not None
        return self.redis.url()

    def fresh_db(self) -> str:
        """A new, migrated PostgreSQL database (copied from a template migrated once)."""
        if not self._template:
            create_database(self.pg_url, TEMPLATE_DB)
            upgrade(with_database(self.pg_url, TEMPLATE_DB))
            self._template = True
        name = f"bench_{next(self._db_ids)}"
        create_database(self.pg_url, name, template=TEMPLATE_DB)
        return with_database(self.pg_url, name)

    def empty_db(self) -> str:
        """A new PostgreSQL database without any table (for the baseline's own table)."""
        name = f"bench_plain_{next(self._db_ids)}"
        create_database(self.pg_url, name)
        return with_database(self.pg_url, name)

    # -- GitHub fake
    @property
    def fake(self) -> FakeGitHub:
        if self._fake is None:
            self._fake = FakeGitHub(self.tmp / "github", latency=LATENCY).start()
        return self._fake

    def reset_github(self) -> FakeGitHub:
        """The fake with an empty request log and a full rate limit, for the next measurement.

        The fake enforces GitHub's 5,000 requests/hour; the baselines alone spend more than
        that in one run, so the budget is refilled before each measurement.
        """
        fake = self.fake
        fake.reset_log()
        fake.rate_limit_remaining = fake.rate_limit_limit
        return fake

    def repo(self, items: int, name: str | None = None) -> FakeRepo:
        """A repository of `items` folder skills on the fake, built once per run."""
        full_name = f"bench/{name or f'catalog-{items}'}"
        if full_name not in self._repos:
            start = time.perf_counter()
            repo = self.fake.create_repo(full_name)
            git_catalog(repo.bare, items)
            self._repos[full_name] = repo
            if items >= 10_000:
                log(f"built {full_name} ({items:,} items) in {time.perf_counter() - start:.1f} s")
        return self._repos[full_name]

    def close(self) -> None:
        if self._fake is not None:
            self._fake.stop()
            self._fake = None
        for server in (self.redis, self.pg):
            if server is not None:
                server.destroy()
        self.redis = self.pg = None
