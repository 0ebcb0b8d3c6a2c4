"""The desired set: which repositories should be watched now, and why. Pure.

Explicit `owner/name[@branch]` entries always are, and win over a wildcard listing the same
repository. A listed repository is wanted when it carries `CATALOG_TOPIC` (if set); the first
listing (in `Sources.keys` order) that lists it is the one it is recorded under.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from models.lifecycle import WatchSource
from worker.discovery.sources import INSTALLATION, RepoListing, Sources, describe


@dataclass(frozen=True)
class Wanted:
    """A repository that should be watched. `archived` None: no listing says."""

    full_name: str
    source: str
    reason: str
    via: str | None = None
    branch: str | None = None
    archived: bool | None = None


@dataclass
class Desired:
    """Wanted repositories by lower-case name, and what the listings allow to conclude."""

    repos: dict[str, Wanted] = field(default_factory=dict)
    #: Listing keys currently configured.
    configured: frozenset[str] = frozenset()
    #: Configured listings that came back complete and non-empty: absence from them counts.
    trusted: frozenset[str] = frozenset()
    #: Repositories a trusted listing shows but the topic filter keeps out (name -> why).
    filtered: dict[str, str] = field(default_factory=dict)
    #: Nothing is configured at all: most likely a broken deployment, so nothing is unwatched.
    nothing_configured: bool = False


def listed_reason(key: str, topic: str | None) -> str:
    where = (
        "listed by the App installation" if key == INSTALLATION else f"listed for {describe(key)}"
    )
    return f"{where} with topic {topic}" if topic else where


def desired_set(sources: Sources, listings: Mapping[str, RepoListing | None]) -> Desired:
    """Combine the explicit entries and the listings (a missing listing: it failed)."""
    desired = Desired(configured=frozenset(sources.keys), nothing_configured=sources.empty)
    archived: dict[str, bool] = {}
    for key in sources.keys:
        listing = listings.get(key)
        if listing is None or not listing.ok:
            continue
        if listing.trusted:
            desired.trusted = desired.trusted | {key}
        for repo in listing.repos:
            name = repo.full_name.lower()
            archived.setdefault(name, repo.archived)
            if sources.topic and sources.topic not in repo.topics:
                desired.filtered.setdefault(name, f"lacks the topic {sources.topic}")
                continue
            desired.repos.setdefault(
                name,
                Wanted(
                    full_name=repo.full_name,
                    source=WatchSource.DISCOVERED.value,
                    reason=listed_reason(key, sources.topic),
                    via=key,
                    archived=repo.archived,
                ),
            )
    for spec in sources.explicit:
        name = spec.full_name.lower()
        desired.repos[name] = Wanted(
            full_name=spec.full_name,
            source=WatchSource.EXPLICIT.value,
            reason="named in CATALOG_REPOS",
            branch=spec.branch,
            archived=archived.get(name),
        )
        desired.filtered.pop(name, None)
    return desired
