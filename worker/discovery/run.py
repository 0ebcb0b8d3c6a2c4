"""One discovery run: list, decide, write, retire what is due, and queue the syncs.

Called by the beat task every `DISCOVERY_INTERVAL_SECONDS` and at once for `installation` and
`installation_repositories` deliveries. Safe to run twice at once (serialised on the rows) and
cheap to repeat (conditional listings: unchanged pages are free 304s).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from models import utcnow
from models.lifecycle import WatchState
from settings import RepoSpec, Settings
from worker.discovery.desired import desired_set
from worker.discovery.lifecycle import apply_desired, retire_due
from worker.discovery.listing import fetch_listing
from worker.discovery.sources import RepoListing, Sources
from worker.github.client import GitHubClient, repo_path

log = logging.getLogger(__name__)


@dataclass
class DiscoveryResult:
    """What one run saw and did (the task's return value, and the log line)."""

    listings: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    not_modified: int = 0
    watched: list[str] = field(default_factory=list)
    unwatched: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    synced: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _status(listing: RepoListing | None) -> str:
    if listing is None or not listing.ok:
        return "failed"
    return f"{len(listing.repos)} repositories" if listing.repos else "empty"


def run_discovery(
    engine: Engine,
    settings: Settings,
    client: GitHubClient | None,
    enqueue: Callable[[str], None],
    now: datetime | None = None,
) -> DiscoveryResult:
    """Bring the repository rows in line with the settings and the listings; queue new syncs.

    `client` None (no credentials): no listing is fetched, so nothing listed is unwatched.
    """
    now = now or utcnow()
    result = DiscoveryResult()
    sources = Sources.from_settings(settings)
    listings: dict[str, RepoListing | None] = {}
    for key in sources.keys:
        if client is None:
            listings[key] = None
        else:
            listings[key], cost = fetch_listing(engine, client, key)
            result.requests += cost.requests
            result.not_modified += cost.not_modified
        result.listings[key] = _status(listings[key])
    desired = desired_set(sources, listings)
    for change in apply_desired(engine, desired, now):
        if change.state == WatchState.WATCHED:
            result.watched.append(change.full_name)
        else:
            result.unwatched.append(change.full_name)
        if change.sync:
            want = desired.repos[change.full_name.lower()]
            result.synced.append(str(RepoSpec(want.full_name, want.branch)))
    result.retired = [r.full_name for r in retire_due(engine, settings.retire_after_seconds, now)]
    for spec in result.synced:
        enqueue(spec)
    log.info("discovery.done", extra={k: v for k, v in result.as_dict().items() if v})
    return result


def repository_gone(client: GitHubClient, full_name: str) -> bool:
    """Whether GitHub answers 404 for the repository itself (not just a branch of it)."""
    resp = client.request("GET", repo_path(full_name), what=full_name, expect=(404,))
    resp.close()
    return resp.status_code == 404
