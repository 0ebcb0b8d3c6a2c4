"""Ask GitHub to redeliver webhook deliveries our receiver never acknowledged.

GitHub never retries a failed delivery by itself, and keeps deliveries for 3 days; the poll
catches the missed change anyway, but a redelivery records the event where operators look
(`webhook_deliveries`) and gets the change in sooner. The selection is pure (`select_redeliveries`)
so that its rules are tested without HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from worker.github.client import GitHubClient, repo_path

log = logging.getLogger(__name__)

#: GitHub lets a delivery be redelivered for this long.
REDELIVERY_WINDOW = timedelta(days=3)


@dataclass(frozen=True)
class HookDelivery:
    """One attempt in GitHub's "list deliveries" of a hook, as far as the selection needs it.

    GitHub's view of a send, one per attempt; not the inbox's `DeliveryRecord` (our stored row).
    """

    id: int
    guid: str
    delivered_at: datetime
    status_code: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> HookDelivery:
        return cls(
            id=int(item["id"]),
            guid=str(item["guid"]),
            delivered_at=_parse_time(str(item["delivered_at"])),
            status_code=int(item.get("status_code") or 0),
        )


def window_start(since: datetime, now: datetime) -> datetime:
    """The later of `since` and the start of GitHub's 3-day redelivery window."""
    return max(_aware(since), _aware(now) - REDELIVERY_WINDOW)


def select_redeliveries(
    deliveries: Iterable[HookDelivery], since: datetime, now: datetime
) -> list[int]:
    """Ids to redeliver: per event (GUID) never delivered successfully, its latest failed
    attempt inside the window. One success (before or after) means the receiver has the event.
    """
    start = window_start(since, now)
    by_guid: dict[str, list[HookDelivery]] = {}
    for record in deliveries:
        by_guid.setdefault(record.guid, []).append(record)
    chosen = []
    for attempts in by_guid.values():
        if any(a.ok for a in attempts):
            continue
        in_window = [a for a in attempts if a.delivered_at >= start]
        if in_window:
            chosen.append(max(in_window, key=lambda a: (a.delivered_at, a.id)).id)
    return sorted(chosen)


def redeliver_failed(
    client: GitHubClient,
    full_name: str,
    hook_id: int | None,
    since: datetime,
    *,
    app: bool = False,
    now: datetime | None = None,
) -> list[int]:
    """Redeliver the hook's failed deliveries since `since` (within 3 days); returns their ids.

    `app=True` uses the GitHub App's webhook (`/app/hook/...`, JWT auth; `hook_id` ignored).
    """
    now = now or datetime.now(UTC)
    base = "/app/hook/deliveries" if app else f"{repo_path(full_name)}/hooks/{hook_id}/deliveries"
    what = f"{full_name} webhook deliveries"
    start = window_start(since, now)
    records = list(_list_deliveries(client, base, start, what=what, app=app))
    ids = select_redeliveries(records, since, now)
    for delivery_id in ids:
        client.request(
            "POST", f"{base}/{delivery_id}/attempts", what=what, app_jwt=app, expect=(202,)
        )
        log.info(
            "github.redelivery_requested",
            extra={"repository": full_name, "hook_delivery_id": delivery_id},
        )
    return ids


def _list_deliveries(
    client: GitHubClient, url: str, start: datetime, *, what: str, app: bool
) -> Iterator[HookDelivery]:
    """Newest first, page by page (`per_page=100`), stopping once a page reaches past `start`.

    The page that crosses `start` is kept whole: an older failure of an event helps decide
    nothing, but a success of it does (it rules the event out), so keep what we fetched.
    """
    next_url: str | None = url
    params: dict[str, str | int] | None = {"per_page": 100}
    while next_url:
        resp = client.request("GET", next_url, what=what, params=params, app_jwt=app)
        page = [HookDelivery.from_api(item) for item in resp.json()]
        yield from page
        if not page or min(r.delivered_at for r in page) < start:
            return
        next_url = resp.links.get("next", {}).get("url")
        params = None  # the Link URL carries them


def _parse_time(text: str) -> datetime:
    return _aware(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
