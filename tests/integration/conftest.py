"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from worker import composition
from worker.cli import main


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[Any]:
    """Run the CLI in-process with a clean environment aimed at a migrated test database."""
    for var in ("GITHUB_TOKEN", "CATALOG_REPOS", "GITHUB_APP_ID", "CELERY_BROKER_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    composition.reset()

    def run(*args: str, **env: str) -> Result:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        composition.reset()
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    yield run
    composition.reset()
