"""Repository listings from GitHub, page by page, conditional on the stored ETags.

- `owner:X`: `GET /orgs/X/repos`, or `GET /users/X/repos` when GitHub answers 404 (X is a user;
  GitHub lists a user's public repositories there). The URL that worked is stored, so later
  refreshes go straight to it.
- `installation`: `GET /installation/repositories` (a GitHub App installation token).

Pages follow the `Link: rel="next"` header, 100 repositories each. Every page is requested
with `If-None-Match`: an unchanged page is a 304, which GitHub does not count against the
rate limit, and its stored repositories are used. An unchanged last page that is full is
followed by a look at the next page number, since repositories added after it change no
stored page's body (its ETag) but only its `Link` header. Any error makes the whole listing
`ok=False` (never trusted to unwatch anything) and keeps the stored pages as they were.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete, select

from models import DiscoveryPage, transaction, utcnow
from worker.discovery.lifecycle import serialise
from worker.discovery.sources import INSTALLATION, OWNER_PREFIX, ListedRepo, RepoListing, describe
from worker.errors import SourceError
from worker.github.client import GitHubClient

log = logging.getLogger(__name__)

PER_PAGE = 100
#: 100,000 repositories: beyond that a listing is refused rather than walked for ever.
MAX_PAGES = 1000


@dataclass
class Page:
    url: str
    etag: str | None
    next_url: str | None
    repos: list[dict[str, Any]] = field(default_factory=list)
    fresh: bool = True  # False: a 304, the stored page still holds


@dataclass
class ListingCost:
    """Requests one listing made, and how many of them GitHub answered 304."""

    requests: int = 0
    not_modified: int = 0


def first_url(key: str) -> str:
    if key == INSTALLATION:
        return f"/installation/repositories?per_page={PER_PAGE}"
    owner = urllib.parse.quote(key.removeprefix(OWNER_PREFIX), safe="")
    return f"/orgs/{owner}/repos?per_page={PER_PAGE}&type=all"


def _user_url(key: str) -> str:
    owner = urllib.parse.quote(key.removeprefix(OWNER_PREFIX), safe="")
    return f"/users/{owner}/repos?per_page={PER_PAGE}&type=owner"


def _items(key: str, body: Any) -> list[dict[str, Any]]:
    """The repositories of one page, reduced to what discovery reads."""
    items = body.get("repositories") if key == INSTALLATION and isinstance(body, dict) else body
    if not isinstance(items, list):
        raise SourceError(f"unexpected answer listing the repositories of {describe(key)}")
    listed = (ListedRepo.from_api(item) for item in items)
    return [repo.as_json() for repo in listed if repo is not None]


def _walk(
    client: GitHubClient, key: str, stored: list[Page], count: Callable[[], None]
) -> list[Page]:
    pages: list[Page] = []
    url: str | None = stored[0].url if stored else first_url(key)
    what = f"the repositories of {describe(key)}"
    while url is not None:
        if len(pages) >= MAX_PAGES:
            raise SourceError(f"{what}: more than {MAX_PAGES} pages; refusing to go on")
        index = len(pages)
        old = stored[index] if index < len(stored) and stored[index].url == url else None
        is_org = url.startswith("/orgs/")
        resp = client.conditional_get(
            url,
            old.etag if old else None,
            what=what,
            on_request=count,
            expect=(404,) if is_org else (),
        )
        if resp.status_code == 404:
            url = _user_url(key)  # not an organisation: a user
            continue
        if resp.status_code == 304 and old is not None:
            pages.append(Page(old.url, old.etag, old.next_url, old.repos, fresh=False))
        else:
            nxt = resp.links.get("next", {}).get("url")
            pages.append(Page(url, resp.headers.get("ETag"), nxt, _items(key, resp.json())))
        url = pages[-1].next_url
        if url is None and not pages[-1].fresh and len(pages[-1].repos) >= PER_PAGE:
            # An unchanged full last page may have gained a successor: its `Link` header is
            # not covered by its ETag. One look further (a free 304 once stored) settles it.
            url = _following(pages[-1].url)
    return pages


def _following(url: str) -> str:
    """`url` with its `page` parameter one higher (a first page has none: 2)."""
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query["page"] = str(int(query.get("page", "1")) + 1)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _load(engine: Engine, key: str) -> list[Page]:
    with transaction(engine) as session:
        rows = session.scalars(
            select(DiscoveryPage).where(DiscoveryPage.listing == key).order_by(DiscoveryPage.page)
        ).all()
        return [Page(r.url, r.etag, r.next_url, list(r.repositories), fresh=False) for r in rows]


def _save(engine: Engine, key: str, pages: list[Page]) -> None:
    now = utcnow()
    with transaction(engine) as session:
        serialise(session)  # two runs at once must not interleave delete and insert
        session.execute(delete(DiscoveryPage).where(DiscoveryPage.listing == key))
        session.add_all(
            DiscoveryPage(
                listing=key,
                page=n + 1,
                url=p.url,
                etag=p.etag,
                next_url=p.next_url,
                repositories=p.repos,
                fetched_at=now,
            )
            for n, p in enumerate(pages)
        )


def fetch_listing(
    engine: Engine, client: GitHubClient, key: str
) -> tuple[RepoListing, ListingCost]:
    """The listing `key`, refreshed conditionally; `ok=False` when any page failed."""
    cost = ListingCost()

    def count() -> None:
        cost.requests += 1

    stored = _load(engine, key)
    try:
        pages = _walk(client, key, stored, count)
    except SourceError as exc:
        log.warning("discovery.listing_failed", extra={"listing": key, "error": str(exc)})
        return RepoListing(key, ok=False), cost
    except ValueError as exc:  # a body that is not JSON
        log.warning("discovery.listing_failed", extra={"listing": key, "error": repr(exc)})
        return RepoListing(key, ok=False), cost
    cost.not_modified = sum(not p.fresh for p in pages)
    if any(p.fresh for p in pages) or len(pages) != len(stored):
        _save(engine, key, pages)
    repos = tuple(ListedRepo.from_json(r) for p in pages for r in p.repos)
    return RepoListing(key, repos), cost
