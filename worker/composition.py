"""Composition root: builds engines, options and sources from settings.

The CLI and the Celery tasks both call these, so an operator's `resync` and a worker's run are
the same code with the same knobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from models import get_engine
from settings import RepoSpec, Settings, get_settings
from worker.errors import ConfigError
from worker.sync.folder import LocalSource
from worker.sync.layout import CatalogRules
from worker.sync.poll import PollReport, poll_all
from worker.sync.reconcile import Options, ReconcileRequest, Result, reconcile
from worker.sync.source import Source

if TYPE_CHECKING:
    from worker.github.client import GitHubClient


def engine(settings: Settings | None = None) -> Engine:
    return get_engine((settings or get_settings()).database_url)


def options(settings: Settings | None = None) -> Options:
    s = settings or get_settings()
    return Options(
        rules=CatalogRules.from_settings(s),
        default_author=s.catalog_default_author,
        max_delete_fraction=s.max_delete_fraction,
        tarball_threshold=s.tarball_threshold,
    )


def repo_spec(name: str, settings: Settings | None = None) -> RepoSpec:
    """The watched spec for `name` (`owner/name[@branch]`), or a new one for an unwatched repo."""
    s = settings or get_settings()
    spec = RepoSpec.parse(name)
    watched = s.repo_spec(spec.full_name)
    if spec.branch is None and watched is not None:
        return watched
    return spec


def github_source(spec: RepoSpec, settings: Settings | None = None) -> Source:
    """A GitHub source for `spec`, authenticated as the settings say."""
    from worker.github.source import GitHubSource

    s = settings or get_settings()
    if not (s.github_token or s.uses_github_app):
        raise ConfigError(
            "no GitHub credentials: set GITHUB_TOKEN, or GITHUB_APP_ID, "
            "GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID"
        )
    client = github_client(s)
    return GitHubSource(client, spec.full_name, spec.branch, tarball_threshold=s.tarball_threshold)


_clients: dict[tuple[object, ...], GitHubClient] = {}


def github_client(settings: Settings | None = None) -> GitHubClient:
    """One GitHub client per process and credentials: its connection pool, rate-limit view
    and (GitHub App) installation token are reused across runs instead of fetched anew."""
    from worker.github.client import GitHubClient

    s = settings or get_settings()
    key = (
        s.github_api_url,
        s.github_token.get_secret_value() if s.github_token else None,
        s.github_app_id,
        s.github_app_installation_id,
    )
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = GitHubClient.from_settings(s)
    return client


def poll_repositories(specs: Sequence[RepoSpec], settings: Settings | None = None) -> PollReport:
    """Poll `specs` concurrently from this process, as the beat's poll task does."""
    s = settings or get_settings()
    eng = engine(s)
    by_name = {str(spec): spec for spec in specs}

    def poll_one(name: str) -> Result:
        spec = by_name[name]
        return reconcile(
            eng,
            spec.full_name,
            github_source(spec, s),
            options(s),
            ReconcileRequest(trigger="poll", branch=spec.branch),
        )

    return poll_all(eng, list(by_name), poll_one, github_client(s))


def local_source(path: Path, settings: Settings | None = None) -> Source:
    return LocalSource(path, roots=(settings or get_settings()).catalog_roots)
