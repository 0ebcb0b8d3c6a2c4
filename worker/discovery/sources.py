"""What discovery works from: the configured sources, the listings, and the rows. Pure data.

A listing is keyed by what it lists: `owner:acme` (an `acme/*` entry: the organisation's
repositories, or the user's) or `installation` (a GitHub App with no `CATALOG_REPOS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from settings import RepoSpec

INSTALLATION = "installation"
OWNER_PREFIX = "owner:"


class _SettingsLike(Protocol):
    @property
    def catalog_repos(self) -> list[RepoSpec]: ...

    @property
    def catalog_topic(self) -> str | None: ...

    @property
    def uses_github_app(self) -> bool: ...


def owner_key(owner: str) -> str:
    return OWNER_PREFIX + owner.lower()


def describe(key: str) -> str:
    """A listing key for people: `acme/*` or `the App installation`."""
    if key.startswith(OWNER_PREFIX):
        return f"{key.removeprefix(OWNER_PREFIX)}/*"
    return "the App installation"


@dataclass(frozen=True)
class Sources:
    """What the settings ask to watch."""

    explicit: tuple[RepoSpec, ...] = ()
    owners: tuple[str, ...] = ()
    installation: bool = False
    topic: str | None = None

    @classmethod
    def from_settings(cls, settings: _SettingsLike) -> Sources:
        specs = settings.catalog_repos
        return cls(
            explicit=tuple(s for s in specs if not s.is_wildcard),
            owners=tuple(dict.fromkeys(s.owner.lower() for s in specs if s.is_wildcard)),
            installation=settings.uses_github_app and not specs,
            topic=settings.catalog_topic,
        )

    @property
    def keys(self) -> tuple[str, ...]:
        """The listings to fetch, in precedence order (the first listing a repository is in)."""
        keys = tuple(owner_key(o) for o in self.owners)
        return (*keys, INSTALLATION) if self.installation else keys

    @property
    def empty(self) -> bool:
        return not (self.explicit or self.owners or self.installation)


@dataclass(frozen=True)
class ListedRepo:
    """A repository as a GitHub listing shows it (only what discovery reads)."""

    full_name: str
    default_branch: str | None = None
    topics: tuple[str, ...] = ()
    archived: bool = False

    @classmethod
    def from_api(cls, item: object) -> ListedRepo | None:
        """From a repository object of GitHub's API; None when it lacks a usable name."""
        if not isinstance(item, dict) or not isinstance(item.get("full_name"), str):
            return None
        topics = item.get("topics")
        branch = item.get("default_branch")
        return cls(
            full_name=item["full_name"],
            default_branch=branch if isinstance(branch, str) else None,
            topics=tuple(t.lower() for t in topics if isinstance(t, str))
            if isinstance(topics, list)
            else (),
            archived=item.get("archived") is True,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "full_name": self.full_name,
            "default_branch": self.default_branch,
            "topics": list(self.topics),
            "archived": self.archived,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ListedRepo:
        return cls(
            full_name=data["full_name"],
            default_branch=data.get("default_branch"),
            topics=tuple(data.get("topics") or ()),
            archived=bool(data.get("archived")),
        )


@dataclass(frozen=True)
class RepoListing:
    """One listing's answer. `ok` False: it failed part-way, and must not be trusted."""

    key: str
    repos: tuple[ListedRepo, ...] = ()
    ok: bool = True

    @property
    def trusted(self) -> bool:
        """Complete and not empty: only then may a repository's absence unwatch it."""
        return self.ok and bool(self.repos)


@dataclass(frozen=True)
class RowView:
    """What the planner needs of a `repositories` row."""

    full_name: str
    state: str
    source: str | None = None
    via: str | None = None
    reason: str | None = None
    archived: bool = False
    unwatched_at: datetime | None = None
    synced: bool = False
