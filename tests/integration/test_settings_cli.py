"""Must show: a malformed or misspelled setting, as an operator meets it from a shell.

`catalog-sync` runs as a subprocess in an empty folder. A malformed setting ends with exit 2 and
one line naming the variable and the entry, never a traceback; a misspelled variable (in the
environment or in `.env`) is named in one warning line and the command goes on. Importing the
packages reads no setting, so a bad value cannot break an import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_process import BINDIR
from tests.cli_process import catalog_sync as _run
from tests.cli_process import clean_env as _env


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CATALOG_REPOS", "acme", "CATALOG_REPOS entry 'acme' is not 'owner/name'"),
        ("POLL_INTERVAL_SECONDS", "0", "POLL_INTERVAL_SECONDS='0'"),
        ("POLL_INTERVAL_SECONDS", "inf", "POLL_INTERVAL_SECONDS='inf': input should be a finite"),
        ("CATALOG_ROOTS", "skills", "CATALOG_ROOTS entry 'skills' is not 'folder:type'"),
        ("CATALOG_DEFAULT_AUTHOR", "a" * 150, "(150 characters) is not a GitHub login"),
        ("MAX_DELETE_FRACTION", "0", "allowed: a finite number, more than 0 and at most 1"),
    ],
)
def test_a_malformed_setting_is_one_line_and_exit_2(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    done = _run(["status"], tmp_path, **{variable: value})
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: invalid setting: ") and expected in lines[0], lines[0]
    assert done.stdout == ""


@pytest.mark.parametrize("args", [["--help"], ["status", "--help"], ["db", "upgrade", "--help"]])
def test_help_works_whatever_the_settings(tmp_path: Path, args: list[str]) -> None:
    """Settings are validated when a command runs: help is how an operator finds the fix."""
    done = _run(args, tmp_path, CATALOG_REPOS="acme", POLL_INTERVAL_SECONDS="inf")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: catalog-sync")
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback_a_mistake_hides(tmp_path: Path) -> None:
    done = _run(["--debug", "status"], tmp_path, CATALOG_REPOS="acme")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "CATALOG_REPOS entry 'acme'" in done.stderr


def test_a_malformed_setting_in_dotenv_is_reported_the_same_way(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CATALOG_REPOS=acme/catalog,acme\n")
    done = _run(["status"], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "error: invalid setting: CATALOG_REPOS entry 'acme' is not 'owner/name', "
        "'owner/name@branch' or 'owner/*'"
    )


def test_misspelled_variables_are_warned_about_and_the_command_goes_on(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog" / "skills"
    catalog.mkdir(parents=True)
    (catalog / "hello.md").write_text("---\nname: hello\n---\nHello.\n")
    (tmp_path / ".env").write_text("CATALOG_ROOT=skills:skill\n")
    done = _run(["lint", "catalog"], tmp_path, CATALOG_REPO="acme/catalog")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    warnings = [line for line in done.stderr.splitlines() if "unknown setting" in line]
    assert warnings == [
        "unknown setting CATALOG_REPO in the environment (did you mean CATALOG_REPOS?); "
        "it is ignored",
        "unknown setting CATALOG_ROOT in .env (did you mean CATALOG_ROOTS?); it is ignored",
    ]


def test_importing_the_packages_reads_no_setting(tmp_path: Path) -> None:
    modules = "worker.cli, worker.cli.run, webhook, worker.celery_app, worker.composition"
    done = subprocess.run(
        [sys.executable, "-c", f"import {modules}, models.migrate, settings"],
        cwd=tmp_path,
        env=_env(CATALOG_REPOS="acme", POLL_INTERVAL_SECONDS="inf"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["gunicorn", "--bind", "127.0.0.1:0", "--no-control-socket", "webhook:create_app()"], 4),
        (["celery", "-A", "worker", "worker", "--pool", "solo"], 2),
        (["celery", "-A", "worker", "beat"], 2),
    ],
)
def test_the_server_processes_stop_on_a_malformed_setting_with_one_line(
    tmp_path: Path, argv: list[str], code: int
) -> None:
    """gunicorn (its master stops on exit 4, instead of respawning workers) and Celery."""
    done = subprocess.run(
        [str(BINDIR / argv[0]), *argv[1:]],
        cwd=tmp_path,
        env=_env(CATALOG_REPOS="acme"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    ours = [line for line in done.stderr.splitlines() if line.startswith("catalog-sync: ")]
    assert ours == [
        "catalog-sync: invalid setting: CATALOG_REPOS entry 'acme' is not 'owner/name', "
        "'owner/name@branch' or 'owner/*'"
    ]
