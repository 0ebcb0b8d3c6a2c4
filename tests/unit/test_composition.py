"""The composition root keeps one engine per database and one GitHub client per credentials,
and `reset()` drops them (and the cached settings) so the next call reads the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from settings import Settings, get_settings
from worker import composition


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    composition.reset()
    yield
    composition.reset()  # nothing built from this test's environment outlives it


def test_one_engine_per_database_until_reset(tmp_path: Path) -> None:
    a = Settings(database_url=f"sqlite:///{tmp_path / 'a.sqlite'}")
    b = Settings(database_url=f"sqlite:///{tmp_path / 'b.sqlite'}")
    first = composition.engine(a)
    assert composition.engine(a) is first
    assert composition.engine(b) is not first
    composition.reset()
    assert composition.engine(a) is not first


def test_one_github_client_per_credentials_until_reset() -> None:
    one = Settings(github_token="ghp_" + "a" * 36)
    other = Settings(github_token="ghp_" + "b" * 36)
    client = composition.github_client(one)
    assert composition.github_client(one) is client
    assert composition.github_client(other) is not client
    composition.reset()
    assert composition.github_client(one) is not client


def test_reset_reads_the_settings_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'first.sqlite'}")
    first = composition.engine()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'second.sqlite'}")
    assert composition.engine() is first  # settings are read once per process
    composition.reset()
    assert get_settings().database_url.endswith("second.sqlite")
    assert str(composition.engine().url).endswith("second.sqlite")


def test_one_publisher_per_process_until_reset() -> None:
    publisher = composition.publisher()
    assert composition.publisher() is publisher
    composition.reset()
    assert composition.publisher() is not publisher
