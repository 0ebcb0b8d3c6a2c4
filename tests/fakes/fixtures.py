"""Pytest fixtures for the fake GitHub (registered in conftest via `pytest_plugins`).

- `fake_github`: a started `FakeGitHub` for one test, stopped afterwards.
- `make_repo`: factory `make_repo(full_name="acme/catalog", files={...}, push=True, **kw)`
  returning a `FakeRepo`, with one commit of `files` pushed when given.
- `github_client`: a `GitHubClient` on the fake with its token and fast retries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.fakes.github import FakeGitHub, FakeRepo

if TYPE_CHECKING:
    from worker.github.client import GitHubClient

MakeRepo = Callable[..., FakeRepo]


@pytest.fixture
def fake_github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGitHub]:
    root: Path = tmp_path_factory.mktemp("fake-github")
    with FakeGitHub(root) as fake:
        yield fake


@pytest.fixture
def make_repo(fake_github: FakeGitHub) -> MakeRepo:
    def make(
        full_name: str = "acme/catalog",
        files: dict[str, str | bytes] | None = None,
        *,
        push: bool = True,
        message: str = "initial",
        **kwargs: Any,
    ) -> FakeRepo:
        repo = fake_github.create_repo(full_name, **kwargs)
        if files:
            repo.write_many(files)
            repo.commit(message)
            if push:
                repo.push()
        return repo

    return make


@pytest.fixture
def github_client(fake_github: FakeGitHub) -> Iterator[GitHubClient]:
    """Same attempts as production, milliseconds of backoff instead of seconds."""
    from worker.github.client import GitHubClient
    from worker.github.retry import RetryPolicy

    fast = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05)
    client = GitHubClient(fake_github.api_url, token=fake_github.token, timeout=5, retry=fast)
    yield client
    client.close()
