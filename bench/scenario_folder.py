"""Scenario: reconcile a local folder into a database, once, in this process.

    python -m bench.scenario_folder DATABASE_URL FOLDER [--touch N --version V]

Prints one JSON line: wall seconds, peak RSS, counts. Run by `bench.bench_db`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.catalogs import touch_items
from bench.common import emit, peak_rss_mb, timed
from models import make_engine
from worker.sync.folder import LocalSource
from worker.sync.layout import CatalogRules
from worker.sync.reconcile import Options, ReconcileRequest, reconcile


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--touch", type=int, default=0)
    parser.add_argument("--version", type=int, default=1)
    args = parser.parse_args()
    if args.touch:
        touch_items(args.folder, args.touch, args.version)
    engine = make_engine(args.url)
    options = Options(rules=CatalogRules(roots={"skills": "skill"}))
    seconds, result = timed(
        lambda: reconcile(
            engine,
            "bench/catalog",
            LocalSource(args.folder),
            options,
            ReconcileRequest(trigger="bench"),
        )
    )
    if not result.ok:
        raise SystemExit(f"reconcile failed: {result.error}")
    emit({"seconds": seconds, "rss_mb": peak_rss_mb(), **result.counts.as_dict()})


if __name__ == "__main__":
    main()
