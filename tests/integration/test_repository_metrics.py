"""Must show: reconcile runs and the last success are reported per repository, so a failing
repository stands out even while another one succeeds (the alert rules rely on it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from models import Repository, SyncRun, transaction
from worker.observability.metrics import DatabaseCollector


def test_runs_and_last_success_carry_the_repository(engine: Engine) -> None:
    done = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with transaction(engine) as s:
        good, bad = Repository(full_name="acme/good"), Repository(full_name="acme/bad")
        s.add_all([good, bad])
        s.flush()
        s.add_all(
            [
                SyncRun(repository_id=good.id, trigger="push", outcome="noop", finished_at=done),
                SyncRun(
                    repository_id=good.id,
                    trigger="poll",
                    outcome="success",
                    finished_at=done - timedelta(hours=1),
                ),
                SyncRun(repository_id=good.id, trigger="poll", outcome="failed", finished_at=done),
                *(
                    SyncRun(
                        repository_id=bad.id, trigger="poll", outcome="failed", finished_at=done
                    )
                    for _ in range(3)
                ),
            ]
        )
    metrics = {m.name: m for m in DatabaseCollector(engine).collect()}
    runs = {
        tuple(sample.labels[k] for k in ("repository", "trigger", "outcome")): sample.value
        for sample in metrics["catalog_sync_reconcile_runs"].samples
        if sample.name.endswith("_total")
    }
    assert runs == {
        ("acme/good", "push", "noop"): 1,
        ("acme/good", "poll", "success"): 1,
        ("acme/good", "poll", "failed"): 1,
        ("acme/bad", "poll", "failed"): 3,
    }
    last = metrics["catalog_sync_reconcile_last_success_timestamp_seconds"].samples
    assert [(s.labels["repository"], s.value) for s in last] == [("acme/good", done.timestamp())]
