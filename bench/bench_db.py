"""Database apply: reconcile a 10,000-item folder into PostgreSQL and SQLite, cold and with
10 changed files (issue 4's targets: cold under 10 s, 10 changes under 1 s).

No GitHub here: a local folder source, so the figures are the engine's own cost (listing,
planning, parsing and the one-transaction apply) on each database the product supports.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.catalogs import make_folder
from bench.common import Figure, run_scenario
from bench.context import Context
from models.migrate import upgrade
from tests.servers import create_database, with_database

ITEMS = int(os.environ.get("BENCH_DB_ITEMS", "10000"))
CHANGED = 10


def run(ctx: Context) -> list[Figure]:
    return run_db(ctx.pg_url, ctx.repeats, 1_000 if ctx.quick else ITEMS, ctx.tmp, ctx.fresh_db)


def run_db(
    pg_server_url: str,
    repeats: int = 3,
    items: int = ITEMS,
    under: Path | None = None,
    fresh_pg: Callable[[], str] | None = None,
) -> list[Figure]:
    """`fresh_pg` makes a new migrated PostgreSQL database (else one is made and migrated)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-db-", dir=under))
    folder = make_folder(tmp / "catalog", items)
    results: dict[str, dict[str, list[float]]] = {}
    version = 0  # each warm run writes content no earlier run has seen
    try:
        for engine_name in ("postgresql", "sqlite"):
            cold, warm, rss = [], [], []
            for n in range(repeats):
                if engine_name == "postgresql" and fresh_pg is not None:
                    url = fresh_pg()
                else:
                    url = _fresh_database(engine_name, pg_server_url, tmp, n)
                version += 1
                c = run_scenario("bench.scenario_folder", url, str(folder))
                w = run_scenario(
                    "bench.scenario_folder",
                    url,
                    str(folder),
                    "--touch",
                    str(CHANGED),
                    "--version",
                    str(version),
                )
                assert c["added"] == items and w["updated"] == CHANGED, (c, w)
                cold.append(c["seconds"])
                warm.append(w["seconds"])
                rss.append(c["rss_mb"])
            results[engine_name] = {"cold": cold, "warm": warm, "rss": rss}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    figures = []
    for engine_name, r in results.items():
        figures += [
            Figure(
                "db apply",
                f"{items:,}-item folder, cold, {engine_name}",
                r["cold"],
                "s",
                "< 10 s",
            ).check(lambda v: v < 10),
            Figure(
                "db apply",
                f"{CHANGED} changed files of {items:,}, {engine_name}",
                r["warm"],
                "s",
                "< 1 s",
            ).check(lambda v: v < 1),
            Figure("db apply", f"peak memory, cold, {engine_name}", r["rss"], "MB"),
        ]
    return figures


def _fresh_database(engine_name: str, pg_server_url: str, tmp: Path, n: int) -> str:
    if engine_name == "postgresql":
        create_database(pg_server_url, f"bench_db_{n}")
        url = with_database(pg_server_url, f"bench_db_{n}")
        upgrade(url)
        return url
    template = tmp / "template.sqlite"
    if not template.exists():
        upgrade(f"sqlite:///{template}")
    shutil.copyfile(template, tmp / f"bench_{n}.sqlite")
    return f"sqlite:///{tmp / f'bench_{n}.sqlite'}"
