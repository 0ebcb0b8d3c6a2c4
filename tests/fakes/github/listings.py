"""Repository listings: organisations, topics, archived flags, the App's installed repositories.

A part of `FakeGitHub`. Git-backed repositories (`create_repo`) are listed with what is set
here; `add_listed_repos` adds listing-only repositories (no git behind them), so a test can
discover hundreds of repositories without building hundreds of git repositories. The App's
installation covers every repository unless `select_installed` narrows it, as choosing
"Only select repositories" does; `installation_repositories` deliveries say what changed.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fakes.github.shapes import repo_json

if TYPE_CHECKING:
    from tests.fakes.github.fake import FakeGitHub


@dataclass
class RepoMeta:
    """What a listing shows beyond the repository itself."""

    topics: list[str] = field(default_factory=list)
    archived: bool = False


@dataclass
class ListedOnly:
    """A repository that exists only in listings (no git repository behind it)."""

    id: int
    full_name: str
    default_branch: str = "main"
    private: bool = False


class Listings:
    """Organisations, listing metadata and the installation's repositories (a part of the fake)."""

    def __init__(self) -> None:
        self.orgs: set[str] = set()
        self.meta: dict[str, RepoMeta] = {}
        self.listed_only: dict[str, ListedOnly] = {}
        #: Lower-case names the App's installation covers; None: every repository.
        self.installed: set[str] | None = None
        self._listings_lock = threading.Lock()

    def add_org(self, login: str) -> None:
        """`login` is an organisation (`/orgs/{login}/repos` answers; others are users)."""
        with self._listings_lock:
            self.orgs.add(login.lower())

    def set_repo_meta(
        self, full_name: str, *, topics: list[str] | None = None, archived: bool | None = None
    ) -> None:
        with self._listings_lock:
            meta = self.meta.setdefault(full_name.lower(), RepoMeta())
            if topics is not None:
                meta.topics = [t.lower() for t in topics]
            if archived is not None:
                meta.archived = archived

    def add_listed_repos(self: FakeGitHub, names: list[str], **meta: Any) -> None:
        """Listing-only repositories (`owner/name` each), with `topics=` / `archived=`."""
        for name in names:
            with self._listings_lock:
                self.listed_only[name.lower()] = ListedOnly(next(self._ids), name)
            self.set_repo_meta(name, **meta)

    def remove_repo(self, full_name: str) -> None:
        """The repository is deleted: gone from listings and from the API (404)."""
        with self._listings_lock:
            self.listed_only.pop(full_name.lower(), None)
            getattr(self, "repos", {}).pop(full_name.lower(), None)
            if self.installed is not None:
                self.installed.discard(full_name.lower())

    def select_installed(self, names: list[str]) -> None:
        """The App covers only these repositories from now on."""
        with self._listings_lock:
            self.installed = {n.lower() for n in names}

    # -- what the routes read
    def listed(self: FakeGitHub) -> list[dict[str, Any]]:
        """Every repository as a listing item, sorted by name, with `private_to` for visibility."""
        with self._listings_lock:
            items = [
                {**repo_json(repo), "_private_to": repo.private_to} for repo in self.repos.values()
            ]
            items += [_listed_only_json(self.url, r) for r in self.listed_only.values()]
            for item in items:
                meta = self.meta.get(item["full_name"].lower(), RepoMeta())
                item["topics"], item["archived"] = list(meta.topics), meta.archived
        return sorted(items, key=lambda i: i["full_name"].lower())

    def is_installed(self, full_name: str) -> bool:
        return self.installed is None or full_name.lower() in self.installed


def _listed_only_json(base_url: str, repo: ListedOnly) -> dict[str, Any]:
    owner, _, name = repo.full_name.partition("/")
    return {
        "id": repo.id,
        "node_id": base64.b64encode(f"010:Repository{repo.id}".encode()).decode(),
        "name": name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": {"login": owner, "id": 1, "type": "User", "url": f"{base_url}/users/{owner}"},
        "html_url": f"https://github.com/{repo.full_name}",
        "url": f"{base_url}/repos/{repo.full_name}",
        "fork": False,
        "default_branch": repo.default_branch,
        "visibility": "private" if repo.private else "public",
        "disabled": False,
        "_private_to": None,
    }
