"""`catalog-sync status` and `/metrics` report the same sync lag for the same rows."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from models import Repository, transaction, utcnow
from worker.cli.views import repo_statuses
from worker.observability.metrics import DatabaseCollector


def test_status_and_metrics_agree_on_sync_lag(engine: Engine) -> None:
    now = utcnow()
    a, b = "a" * 40, "b" * 40
    with transaction(engine) as s:
        s.add_all(
            [
                Repository(full_name="acme/in-sync", head_sha=a, last_synced_sha=a),
                Repository(full_name="acme/unknown-head", last_synced_at=now),
                Repository(
                    full_name="acme/behind",
                    head_sha=b,
                    last_synced_sha=a,
                    last_synced_at=now - timedelta(minutes=10),
                ),
            ]
        )
    status = {r.repository: r.lag_seconds for r in repo_statuses(engine, lambda _name: True)}
    [lag] = [m for m in DatabaseCollector(engine).collect() if m.name.endswith("sync_lag_seconds")]
    metrics = {sample.labels["repository"]: sample.value for sample in lag.samples}
    assert status["acme/in-sync"] == metrics["acme/in-sync"] == 0.0
    assert status["acme/unknown-head"] is None and metrics["acme/unknown-head"] == 0.0
    assert 600 <= status["acme/behind"] <= metrics["acme/behind"] < 660  # read in that order
