"""The reconcile request: what a coalesced re-run keeps and what it drops."""

from __future__ import annotations

import dataclasses

import pytest

from worker.sync.run import COALESCED, ReconcileRequest


def test_coalesced_rerun_is_incremental_and_keeps_the_rest() -> None:
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))

    asked = ReconcileRequest(
        trigger="manual", branch="main", full=True, force=True, dry_run=True, progress=progress
    )
    rerun = asked.coalesced()
    assert rerun == ReconcileRequest(
        trigger=COALESCED, branch="main", full=False, force=True, dry_run=False, progress=progress
    )
    assert asked.full and asked.dry_run and asked.trigger == "manual"  # the original is unchanged


def test_request_is_frozen() -> None:
    request = ReconcileRequest(trigger="poll")
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.full = True  # type: ignore[misc]
