"""The change feed's pure parts: `--since` parsing, the retention setting and cutoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from settings import Settings
from worker.feed.read import parse_since
from worker.feed.retention import retention_cutoff


def test_since_is_a_cursor_or_a_time() -> None:
    assert parse_since("42") == 42
    assert parse_since(" 0 ") == 0
    assert parse_since("2026-12-01T10:00:00Z") == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert parse_since("2026-12-01") == datetime(2026, 12, 1, tzinfo=UTC)  # no zone: UTC
    plus_two = parse_since("2026-12-01T12:00:00+02:00")
    assert plus_two == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert isinstance(plus_two, datetime)
    assert plus_two.tzinfo == timezone(timedelta(hours=2))
    for bad in ("-3", "yesterday", "12abc", ""):
        with pytest.raises(ValueError):
            parse_since(bad)


def test_retention_days_default_and_bounds() -> None:
    assert Settings(_env_file=None).changes_retention_days == 90
    assert Settings(_env_file=None, changes_retention_days="0.5").changes_retention_days == 0.5
    for bad in ("0", "-1", "inf", "nan", "1e9", "ninety"):
        with pytest.raises(ValidationError, match="changes_retention_days"):
            Settings(_env_file=None, changes_retention_days=bad)


def test_retention_cutoff_is_that_many_days_back() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert retention_cutoff(90, now) == datetime(2026, 9, 2, tzinfo=UTC)
    assert retention_cutoff(0.5, now) == now - timedelta(hours=12)
