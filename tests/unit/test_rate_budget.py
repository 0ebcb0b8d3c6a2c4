"""The rate reserve's decisions, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from worker.sync.rate_budget import DEFAULT_DEFERRAL, deferral_end, should_defer

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_defers_only_under_a_known_reserve() -> None:
    assert should_defer(499, 500)
    assert not should_defer(500, 500)
    assert not should_defer(None, 500)  # no header seen yet: nothing to go on


def test_defers_until_githubs_reset_or_a_short_default() -> None:
    reset = NOW + timedelta(minutes=17)
    assert deferral_end(reset, NOW) == reset
    assert deferral_end(None, NOW) == NOW + DEFAULT_DEFERRAL
    assert deferral_end(NOW - timedelta(seconds=1), NOW) == NOW + DEFAULT_DEFERRAL
