"""How long GitHub asks us to wait: backoff bounds and rate-limit headers, without HTTP."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from requests.structures import CaseInsensitiveDict

from worker.errors import RateLimitedError
from worker.github.retry import (
    RESET_SLACK,
    SECONDARY_DEFAULT_WAIT,
    RateLimit,
    RateLimitView,
    RetryPolicy,
    read_rate_limit,
)

NOW = 1_700_000_000.0


def headers(**values: str) -> CaseInsensitiveDict[str]:
    return CaseInsensitiveDict({k.replace("_", "-"): v for k, v in values.items()})


def no_message() -> str:
    raise AssertionError("the headers decide; the body must not be read")


def test_backoff_is_full_jitter_capped_at_max_delay():
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    delays = [policy.backoff(attempt) for attempt in range(8) for _ in range(50)]
    assert all(0 <= d <= 3.0 for d in delays)
    assert all(0 <= policy.backoff(0) <= 0.5 for _ in range(50))
    assert max(delays) > 0.5  # later attempts do wait longer than the first bound


def test_primary_limit_waits_until_the_reset():
    spent = headers(x_ratelimit_remaining="0", x_ratelimit_reset=str(int(NOW) + 30))
    assert read_rate_limit(403, spent, no_message, NOW) == RateLimit("rate limit", 30 + RESET_SLACK)
    past = headers(x_ratelimit_remaining="0", x_ratelimit_reset=str(int(NOW) - 5))
    assert read_rate_limit(429, past, no_message, NOW) == RateLimit("rate limit", RESET_SLACK)


def test_retry_after_is_a_secondary_limit_and_wins_over_the_reset():
    both = headers(Retry_After="7", x_ratelimit_remaining="0", x_ratelimit_reset=str(int(NOW) + 99))
    assert read_rate_limit(403, both, no_message, NOW) == RateLimit("secondary rate limit", 7.0)


def test_a_secondary_limit_without_retry_after_waits_a_minute():
    assert read_rate_limit(429, headers(), no_message, NOW) == RateLimit(
        "secondary rate limit", SECONDARY_DEFAULT_WAIT
    )
    message = "You have exceeded a Secondary Rate Limit. Please wait."
    assert read_rate_limit(403, headers(), lambda: message, NOW) == RateLimit(
        "secondary rate limit", SECONDARY_DEFAULT_WAIT
    )


def test_other_answers_are_not_rate_limits():
    assert read_rate_limit(403, headers(), lambda: "Resource not accessible", NOW) is None
    assert read_rate_limit(403, headers(x_ratelimit_remaining="12"), lambda: "", NOW) is None
    assert read_rate_limit(500, headers(Retry_After="5"), no_message, NOW) is None
    assert read_rate_limit(200, headers(x_ratelimit_remaining="0"), no_message, NOW) is None


def test_a_limit_not_waited_out_names_when_it_resets():
    before = time.time()
    error = RateLimit("rate limit", 3600.0).error("acme/catalog")
    assert isinstance(error, RateLimitedError) and error.reason == "rate_limited"
    assert "GitHub rate limit reached for acme/catalog; resets at" in str(error)
    assert 3599 <= error.reset_at.timestamp() - before <= 3601 + (time.time() - before)


def test_the_view_keeps_the_last_values_each_header_carried():
    view = RateLimitView()
    assert (view.limit, view.remaining, view.reset) == (None, None, None)
    view.update(
        headers(
            x_ratelimit_limit="5000", x_ratelimit_remaining="4999", x_ratelimit_reset="1700000000"
        )
    )
    assert (view.limit, view.remaining) == (5000, 4999)
    assert view.reset == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    view.update(headers(x_ratelimit_remaining="4998", x_ratelimit_limit="n/a"))
    assert (view.limit, view.remaining) == (5000, 4998)
    assert view.reset == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


@pytest.mark.parametrize("value", ["", "-1", "soon"])
def test_malformed_retry_after_falls_back_to_the_other_rules(value: str):
    assert read_rate_limit(403, headers(Retry_After=value), lambda: "", NOW) is None
