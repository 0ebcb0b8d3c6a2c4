"""The one sync-lag rule: in sync, head unknown, behind since the last sync or since creation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from worker.observability.sync_lag import in_sync, sync_lag_seconds

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
A, B = "a" * 40, "b" * 40


@dataclass
class Heads:
    head_sha: str | None
    last_synced_sha: str | None
    last_synced_at: datetime | None
    created_at: datetime = NOW - timedelta(hours=1)


@pytest.mark.parametrize(
    ("repo", "synced", "lag"),
    [
        (Heads(A, A, NOW - timedelta(minutes=5)), True, 0.0),
        (Heads(None, None, None), False, None),  # never looked at the head
        (Heads(None, None, NOW - timedelta(minutes=5)), False, None),  # a folder without git
        (Heads(B, A, NOW - timedelta(minutes=5)), False, 300.0),
        (Heads(B, None, None), False, 3600.0),  # never synced: since the row was created
        (Heads(B, A, NOW + timedelta(seconds=3)), False, 0.0),  # clocks apart: never negative
    ],
)
def test_sync_lag(repo: Heads, synced: bool, lag: float | None) -> None:
    assert in_sync(repo) is synced
    assert sync_lag_seconds(repo, NOW) == lag
