"""Composition root: builds what a process needs from settings and owns its long-lived objects.

The CLI, the Celery tasks and the receiver all call these, so an operator's `resync` and a
worker's run are the same code with the same knobs. The objects worth keeping for the life of
a process live here and nowhere else: database engines (one per URL: their connection pool),
GitHub clients (one per credentials: their pool, rate-limit view and App installation token)
and the default publisher (its fail-fast broker connections). `reset()` drops them all.

Imports stay light (settings and the engine factory): the receiver imports this module, and
the sync engine, the GitHub client and Celery load only when asked for.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from models.db import get_engine, make_engine
from settings import RepoSpec, Settings, get_settings
from worker.errors import ConfigError
from worker.sync.reconcile import Options
from worker.sync.source import Source

if TYPE_CHECKING:
    from worker.github.client import GitHubClient
    from worker.inbox.publish import Publisher
    from worker.sync.reconcile import Options
    from worker.sync.source import Source


@dataclass
class _Held:
    """Everything built once per process, behind one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    engines: dict[str, Engine] = field(default_factory=dict)
    clients: dict[tuple[object, ...], GitHubClient] = field(default_factory=dict)
    publisher: Publisher | None = None

    def close(self) -> None:
        with self.lock:
            for engine in self.engines.values():
                engine.dispose()
            for client in self.clients.values():
                with contextlib.suppress(Exception):  # a dead pool may fail to close
                    client.close()
            self.engines.clear()
            self.clients.clear()
            self.publisher = None


_held = _Held()


def reset() -> None:
    """Drop every long-lived object (engines disposed, clients closed) and the cached
    settings, so the next call builds them again from the environment: for tests, and for a
    process that must re-read its settings.

    The Celery app (`worker.celery_app.get_app`) is kept: the tasks are registered on it when
    `worker.tasks` is imported, and a new app would not have them.
    """
    _held.close()
    get_settings.cache_clear()
    get_engine.cache_clear()


def engine(settings: Settings | None = None) -> Engine:
    """The process's engine for the settings' database."""
    url = (settings or get_settings()).database_url
    with _held.lock:
        found = _held.engines.get(url)
        if found is None:
            found = _held.engines[url] = make_engine(url)
        return found


def publisher() -> Publisher:
    """The process's publisher for its Celery app: fail-fast connections, one per thread."""
    from worker.celery_app import get_app
    from worker.inbox.publish import Publisher

    with _held.lock:
        if _held.publisher is None:
            _held.publisher = Publisher(get_app())
        return _held.publisher


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
    with _held.lock:
        client = _held.clients.get(key)
        if client is None:
            client = _held.clients[key] = GitHubClient.from_settings(s)
        return client


def options(settings: Settings | None = None) -> Options:
    from worker.sync.layout import CatalogRules
    from worker.sync.reconcile import Options

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


def local_source(path: Path, settings: Settings | None = None) -> Source:
    from worker.sync.folder import LocalSource

    return LocalSource(path, roots=(settings or get_settings()).catalog_roots)
