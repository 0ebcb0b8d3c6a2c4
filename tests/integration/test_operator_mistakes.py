"""Must show: an operator's mistake with the database, a migration, a folder or an id is one
line on stderr and a documented exit code, never a traceback; `--debug` brings the traceback.

Each runs the installed `catalog-sync` as a subprocess in an empty folder, as an operator would.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cli_process import catalog_sync, one_error_line
from tests.servers import create_database, with_database
from worker import composition
from worker.cli import main


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unmigrated_sqlite_database_says_to_run_db_upgrade(tmp_path: Path) -> None:
    done = catalog_sync(["status"], tmp_path)
    assert done.returncode == 1
    line = one_error_line(done)
    assert line == (
        f"database at sqlite:///{tmp_path}/catalog-sync.sqlite is not migrated: "
        "run `catalog-sync db upgrade`"
    )


def test_an_unmigrated_postgresql_database_says_to_run_db_upgrade(
    tmp_path: Path, pg_server_url: str
) -> None:
    create_database(pg_server_url, "catalog_sync_unmigrated")
    url = with_database(pg_server_url, "catalog_sync_unmigrated")
    done = catalog_sync(["items"], tmp_path, DATABASE_URL=url)
    assert done.returncode == 1
    line = one_error_line(done)
    assert line.endswith("is not migrated: run `catalog-sync db upgrade`"), line


def test_an_unreachable_database_names_its_url_without_the_password(tmp_path: Path) -> None:
    port = _closed_port()
    url = f"postgresql+psycopg2://catalog:hunter2@127.0.0.1:{port}/catalog"
    done = catalog_sync(["status"], tmp_path, DATABASE_URL=url)
    assert done.returncode == 1
    line = one_error_line(done)
    assert line.startswith(
        f"database unreachable at postgresql+psycopg2://catalog:***@127.0.0.1:{port}/catalog: "
    ), line
    assert "hunter2" not in done.stderr + done.stdout


def test_an_unreachable_sqlite_file_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no/such/folder/db.sqlite"
    done = catalog_sync(["deliveries"], tmp_path, DATABASE_URL=url)
    assert done.returncode == 1
    assert one_error_line(done) == f"database unreachable at {url}: unable to open database file"


def test_an_unknown_revision_is_one_line(tmp_path: Path) -> None:
    done = catalog_sync(["db", "upgrade", "--revision", "nope"], tmp_path)
    assert done.returncode == 1
    assert one_error_line(done) == "migration: Can't locate revision identified by 'nope'"


def test_an_unknown_delivery_is_one_line(tmp_path: Path) -> None:
    assert catalog_sync(["db", "upgrade"], tmp_path).returncode == 0
    done = catalog_sync(["redeliver", "no-such-id"], tmp_path)
    assert done.returncode == 1
    assert one_error_line(done) == "no stored delivery 'no-such-id'"


def test_lint_of_a_folder_without_a_catalog_root_fails_and_names_the_roots(
    tmp_path: Path,
) -> None:
    (tmp_path / "catalog" / "skill").mkdir(parents=True)  # a typo: the root is `skills`
    (tmp_path / "catalog" / "skill" / "pdf.md").write_text("---\nname: pdf\n---\n")
    done = catalog_sync(["lint", "catalog"], tmp_path, CATALOG_ROOTS="skills:skill,mcps:mcp")
    assert done.returncode == 1
    assert (
        one_error_line(done) == "none of the catalog root folders (mcps, skills) exists in catalog"
    )


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = catalog_sync(["--debug", "status"], tmp_path)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "no such table" in done.stderr


def test_ctrl_c_is_one_word_and_exit_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setattr("worker.discovery.watching.watched_specs", lambda *_args: [])
    monkeypatch.setattr("worker.cli.views.repo_statuses", interrupted)
    composition.reset()
    try:
        result = CliRunner().invoke(main, ["status"])
    finally:
        composition.reset()
    assert (result.exit_code, result.output) == (130, "interrupted\n")
