"""Running git for the fake: one fixed environment, git's own message on failure, blob SHAs."""

from __future__ import annotations

import hashlib
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ZERO_SHA = "0" * 40

#: Fixed identities and no user or system config, so commits are the same on every machine.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Fake Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Fake Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}


class GitError(RuntimeError):
    """A git command failed (the message is git's stderr)."""


def git(cwd: Path, *args: str, input: bytes | None = None) -> bytes:
    """Run git in `cwd`; raise with git's stderr on failure."""
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(
        ["git", "-c", "core.autocrlf=false", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        env=env,
    )
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def blob_sha(data: bytes) -> str:
    """The git blob SHA-1 of `data` (what GitHub calls the file's `sha`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def iso(ts: float) -> str:
    """A Unix time as GitHub writes timestamps (`2024-05-01T12:00:00Z`)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
