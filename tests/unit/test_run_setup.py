"""`catalog-sync run` prepares what its children need: a multiprocess metrics folder of its
own (removed at exit) and a warning when the webhook secret is unset."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from settings import Settings
from worker.cli.run import _warn_without_secret, metrics_dir


def test_run_makes_and_removes_its_metrics_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    with metrics_dir() as folder:
        assert folder.parent == tmp_path and folder.is_dir()
        assert list(folder.iterdir()) == []  # prometheus_client needs it empty at start
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(folder)
        (folder / "counter_1.db").write_bytes(b"x")
    assert not folder.exists()
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_an_operators_metrics_folder_is_used_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with metrics_dir() as folder:
        assert folder == tmp_path
    assert tmp_path.is_dir()


def test_run_warns_once_when_the_webhook_secret_is_unset(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="catalog_sync.run"):
        _warn_without_secret(Settings(github_webhook_secret=""))
        _warn_without_secret(Settings(github_webhook_secret="s3cret"))
    assert [r.getMessage() for r in caplog.records] == ["run.webhook_secret_missing"]
