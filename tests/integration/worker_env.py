"""Run the worker's tasks in this process against the fake GitHub, configured by environment.

The tasks read their settings from the environment like a worker does; `WorkerEnv` sets it
(a GitHub App or a token on the fake, the test's database) and runs a task's real code with
Celery's `apply`, so a test sees exactly what a worker would post.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from settings import get_settings
from tests.fakes.github import FakeGitHub, rsa_key_pair

APP_ID = 4242
INSTALLATION_ID = 77


@functools.cache
def app_key_pair() -> tuple[str, str]:
    """One RSA key for the session's GitHub App (generating one per test is slow)."""
    return rsa_key_pair()


@dataclass
class WorkerEnv:
    fake: FakeGitHub
    db_url: str
    monkeypatch: pytest.MonkeyPatch

    def configure(self, *, app: bool, repos: str = "acme/catalog", **extra: str) -> None:
        """Watch `repos` with App (`app`) or token credentials on the fake."""
        for name in ("GITHUB_TOKEN", "GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY"):
            self.monkeypatch.delenv(name, raising=False)
        values = {
            "DATABASE_URL": self.db_url,
            "GITHUB_API_URL": self.fake.api_url,
            "CATALOG_REPOS": repos,
            "GITHUB_TIMEOUT_SECONDS": "5",
            **extra,
        }
        if app:
            private, public = app_key_pair()
            self.fake.register_app(APP_ID, public, INSTALLATION_ID)
            values.update(
                GITHUB_APP_ID=str(APP_ID),
                GITHUB_APP_PRIVATE_KEY=private,
                GITHUB_APP_INSTALLATION_ID=str(INSTALLATION_ID),
            )
        else:
            values["GITHUB_TOKEN"] = self.fake.token
        for name, value in values.items():
            self.monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    def reconcile(self, full_name: str = "acme/catalog", **kwargs: Any) -> str:
        from worker.tasks import reconcile_repository_task

        task_kwargs = {"full_name": full_name, "trigger": "webhook", **kwargs}
        return str(reconcile_repository_task.apply(kwargs=task_kwargs).get())

    def validate(self, full_name: str, number: int, **kwargs: Any) -> str:
        from worker.tasks import validate_pull_request_task

        task_kwargs = {"full_name": full_name, "number": number, **kwargs}
        return str(validate_pull_request_task.apply(kwargs=task_kwargs).get())


@pytest.fixture
def worker_env(
    fake_github: FakeGitHub, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[WorkerEnv]:
    """A `WorkerEnv` on the test's database (SQLite and PostgreSQL, as `db_url` is)."""
    yield WorkerEnv(fake_github, db_url, monkeypatch)
    get_settings.cache_clear()
