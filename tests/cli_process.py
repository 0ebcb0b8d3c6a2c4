"""`catalog-sync` run as an operator runs it: the installed script, as a subprocess, in a folder
of the test's choosing, with only the settings the test names (none inherited from the shell)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BINDIR = Path(sys.executable).parent
#: Variables a developer's shell may hold that would change what the command sees.
CLEAN = ("CATALOG_", "GITHUB_", "DATABASE_URL", "CELERY_BROKER_URL", "POLL_", "MAX_")


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEAN)}
    return {**env, **settings}


def catalog_sync(args: list[str], cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BINDIR / "catalog-sync"), *args],
        cwd=cwd,
        env=clean_env(**settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single line on stderr (no traceback), without its `error: ` prefix."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0].removeprefix("error: ")
