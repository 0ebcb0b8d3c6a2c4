"""Which webhook deliveries self-repair asks GitHub to redeliver, and how far back it pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from worker.github.redelivery import (
    REDELIVERY_WINDOW,
    HookDelivery,
    redeliver_failed,
    select_redeliveries,
    window_start,
)

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=30)


def rec(id: int, guid: str, minutes_ago: float, status: int) -> HookDelivery:
    return HookDelivery(id, guid, NOW - timedelta(minutes=minutes_ago), status)


def test_a_failed_event_is_redelivered_once_from_its_latest_attempt():
    records = [rec(1, "a", 30, 502), rec(2, "a", 20, 0), rec(3, "b", 10, 500)]
    assert select_redeliveries(records, LONG_AGO, NOW) == [2, 3]


def test_an_event_with_any_successful_delivery_is_left_alone():
    records = [
        rec(1, "a", 30, 502),
        rec(2, "a", 20, 202),  # a redelivery succeeded after the failure
        rec(3, "b", 30, 200),
        rec(4, "b", 10, 503),  # failed again after a success: the receiver already had it
    ]
    assert select_redeliveries(records, LONG_AGO, NOW) == []


def test_only_2xx_counts_as_delivered():
    records = [rec(1, "a", 5, 301), rec(2, "b", 5, 404), rec(3, "c", 5, 299), rec(4, "d", 5, 300)]
    assert select_redeliveries(records, LONG_AGO, NOW) == [1, 2, 4]


def test_the_window_is_since_and_at_most_three_days():
    old = rec(1, "a", 3 * 24 * 60 + 1, 502)  # just past GitHub's 3 days
    recent = rec(2, "b", 60, 502)
    before_since = rec(3, "c", 120, 502)
    since = NOW - timedelta(minutes=90)
    assert select_redeliveries([old, recent], LONG_AGO, NOW) == [2]
    assert select_redeliveries([old, recent, before_since], since, NOW) == [2]
    assert window_start(LONG_AGO, NOW) == NOW - REDELIVERY_WINDOW
    naive = datetime(2024, 6, 10, 11, 0)
    assert window_start(naive, NOW) == naive.replace(tzinfo=UTC)


def test_an_event_whose_only_in_window_attempt_is_old_is_skipped():
    records = [rec(1, "a", 5 * 24 * 60, 502), rec(2, "a", 4 * 24 * 60, 502)]
    assert select_redeliveries(records, LONG_AGO, NOW) == []


def test_from_api_parses_githubs_item():
    item = {
        "id": 42,
        "guid": "58474f00-b361-11eb-836d-0e4f3503ccbe",
        "delivered_at": "2021-05-12T20:33:44Z",
        "redelivery": False,
        "duration": 0.03,
        "status": "failed to connect",
        "status_code": 502,
        "event": "push",
        "action": None,
        "installation_id": None,
        "repository_id": 1,
    }
    record = HookDelivery.from_api(item)
    assert record == HookDelivery(
        42, item["guid"], datetime(2021, 5, 12, 20, 33, 44, tzinfo=UTC), 502
    )
    assert not record.ok


class _Resp:
    def __init__(self, items: list[dict[str, Any]], next_url: str | None) -> None:
        self._items = items
        self.links = {"next": {"url": next_url}} if next_url else {}

    def json(self) -> list[dict[str, Any]]:
        return self._items


class StubClient:
    """Pages of deliveries, newest first, and a record of what was asked."""

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.calls: list[tuple[str, str, Any, bool]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> _Resp:
        self.calls.append((method, url, kwargs.get("params"), kwargs.get("app_jwt", False)))
        if method == "POST":
            return _Resp([], None)
        index = sum(1 for c in self.calls if c[0] == "GET") - 1
        more = index + 1 < len(self.pages)
        return _Resp(self.pages[index], f"https://api.example/page{index + 1}" if more else None)


def item(id: int, guid: str, hours_ago: float, status: int) -> dict[str, Any]:
    when = NOW - timedelta(hours=hours_ago)
    return {
        "id": id,
        "guid": guid,
        "delivered_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status_code": status,
    }


def test_pages_per_100_and_stops_past_the_window():
    pages = [
        [item(9, "x", 1, 502), item(8, "y", 2, 200)],
        [item(7, "z", 70, 0), item(6, "w", 100, 502)],  # crosses the 3-day line
        [item(5, "v", 200, 502)],  # never fetched
    ]
    client = StubClient(pages)
    ids = redeliver_failed(client, "acme/catalog", 17, LONG_AGO, now=NOW)  # type: ignore[arg-type]
    assert ids == [7, 9]
    gets = [c for c in client.calls if c[0] == "GET"]
    assert gets[0][1:3] == ("/repos/acme/catalog/hooks/17/deliveries", {"per_page": 100})
    assert gets[1][1:3] == ("https://api.example/page1", None)
    assert len(gets) == 2
    posts = [c[1] for c in client.calls if c[0] == "POST"]
    assert posts == [
        "/repos/acme/catalog/hooks/17/deliveries/7/attempts",
        "/repos/acme/catalog/hooks/17/deliveries/9/attempts",
    ]


def test_app_hook_uses_app_endpoints_and_jwt():
    client = StubClient([[item(3, "a", 1, 500)]])
    assert redeliver_failed(client, "acme/catalog", None, LONG_AGO, app=True, now=NOW) == [3]  # type: ignore[arg-type]
    assert [(c[0], c[1], c[3]) for c in client.calls] == [
        ("GET", "/app/hook/deliveries", True),
        ("POST", "/app/hook/deliveries/3/attempts", True),
    ]
