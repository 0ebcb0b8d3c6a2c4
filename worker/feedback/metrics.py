"""`/metrics`: verdicts posted to and refused by GitHub, by kind (check run or commit status).

Read from `feedback_reports` at scrape time, like the other database figures: the workers post,
the receiver serves `/metrics`, and a counter in a worker's memory would never reach it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from models import FeedbackReport
from models.db import retry_on_dead_connection

log = logging.getLogger(__name__)

KINDS = ("checks", "status")
OUTCOMES = ("posted", "failed")


class FeedbackCollector(Collector):
    """`catalog_sync_feedback_total{kind, outcome}`; nothing when the database is down
    (`catalog_sync_metrics_db_up` already says so)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        try:
            counts = retry_on_dead_connection(self._counts)
        except Exception:  # a scrape must not fail because the DB is down
            log.warning("metrics.feedback_unavailable", exc_info=True)
            return
        family = CounterMetricFamily(
            "catalog_sync_feedback",
            "Verdicts sent to GitHub, by kind (checks, status) and outcome (posted, failed).",
            labels=["kind", "outcome"],
        )
        for kind in KINDS:
            for outcome in OUTCOMES:
                family.add_metric([kind, outcome], counts.get((kind, outcome), 0))
        yield family

    def _counts(self) -> dict[tuple[str, str], int]:
        stmt = select(FeedbackReport.method, FeedbackReport.outcome, func.count()).group_by(
            FeedbackReport.method, FeedbackReport.outcome
        )
        with self.engine.connect() as conn:
            return {(m, o): int(n) for m, o, n in conn.execute(stmt)}
