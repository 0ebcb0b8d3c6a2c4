"""`catalog-sync changes` and `catalog-sync history`: the change feed on the command line.

`changes --follow --json` prints one JSON document per line, flushed as each change commits, so
a script can pipe it into its own index; every other `--json` prints one document.
"""

from __future__ import annotations

import json
import sys
from contextlib import suppress
from datetime import datetime
from typing import TYPE_CHECKING

import click

from worker.cli.failures import first_line

if TYPE_CHECKING:  # the feed (SQLAlchemy, models) is imported when a feed command runs
    from sqlalchemy import Engine

    from worker.feed.read import Change


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _line(change: Change) -> str:
    """One human line: cursor, time, kind, repository, path (old -> new), blob, commit, author."""
    path = f"{change.old_git_path} -> {change.git_path}" if change.old_git_path else change.git_path
    blob = change.new_blob_sha or change.old_blob_sha or ""
    text = (
        f"{change.cursor:>8}  {change.created_at:%Y-%m-%d %H:%M:%S}  {change.kind:<8}  "
        f"{change.repository}  {path}  {blob[:12]}"
    )
    if change.commit_sha:
        text += f"  @{change.commit_sha[:12]}"
    if change.author_login:
        text += f" by {change.author_login}"
    return text


def _start(engine: Engine, since: str | None) -> int:
    from worker.feed.read import cursor_before, parse_since

    if since is None:
        return 0
    try:
        value = parse_since(since)
    except ValueError:
        raise click.BadParameter(
            f"{since!r} is neither a cursor (a number) nor an ISO 8601 time", param_hint="--since"
        ) from None
    return cursor_before(engine, value) if isinstance(value, datetime) else value


def _print_all(engine: Engine, cursor: int, repository: str | None, as_json: bool) -> None:
    """Every change after `cursor`, page by page (never the whole feed in memory)."""
    from worker.feed.read import changes_after

    if as_json:
        click.echo('{"changes": [', nl=False)
    first = True
    while page := changes_after(engine, cursor, repository=repository):
        for change in page:
            if as_json:
                click.echo(("" if first else ", ") + json.dumps(change.as_json()), nl=False)
            else:
                click.echo(_line(change))
            first = False
        cursor = page[-1].cursor
    if as_json:
        click.echo(f'], "cursor": {cursor}}}')


def _follow(engine: Engine, cursor: int, repository: str | None, as_json: bool) -> None:
    from worker.feed.follow import Follower

    def emit(change: Change) -> None:
        click.echo(json.dumps(change.as_json()) if as_json else _line(change))
        sys.stdout.flush()

    def retry(exc: BaseException, delay: float) -> None:
        click.echo(f"database unreachable ({first_line(exc)}); retrying in {delay:.1f}s", err=True)

    with suppress(KeyboardInterrupt):  # Ctrl-C is how a follower ends: exit 0
        Follower(engine, cursor, emit, repository=repository).run(on_retry=retry)


@click.command()
@click.option("--since", help="Only changes after this cursor (a number) or time (ISO 8601).")
@click.option("--repo", "repository", help="Only this repository's changes (owner/name).")
@click.option("--follow", is_flag=True, help="Keep printing changes as they commit (Ctrl-C ends).")
@click.option("--json", "as_json", is_flag=True, help="JSON (with --follow: one per line).")
def changes(since: str | None, repository: str | None, follow: bool, as_json: bool) -> None:
    """The change feed: every item change, oldest first; its cursor is the first column."""
    from worker import composition as services

    engine = services.engine()
    cursor = _start(engine, since)
    if follow:
        _follow(engine, cursor, repository, as_json)
    else:
        _print_all(engine, cursor, repository, as_json)
    sys.exit(0)


@click.command()
@click.argument("path")
@click.option("--repo", "repository", help="Only the item of this repository (owner/name).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def history(path: str, repository: str | None, as_json: bool) -> None:
    """One item's changes, newest first. Exit 1 when no item has (or had) PATH."""
    from worker import composition as services
    from worker.feed.read import item_history

    found = item_history(services.engine(), path, repository=repository)
    if found is None:
        where = f" in {repository}" if repository else ""
        _fail(f"{path}: no item has this path{where}")
        return
    if as_json:
        click.echo(json.dumps({"git_path": path, "changes": [c.as_json() for c in found]}))
        return
    for change in found:
        click.echo(_line(change))


def register(group: click.Group) -> None:
    """Add the feed's commands to the `catalog-sync` group."""
    group.add_command(changes)
    group.add_command(history)
