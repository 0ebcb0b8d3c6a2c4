"""`catalog-sync repos` and `catalog-sync forget REPO`: the repository lifecycle, for operators."""

from __future__ import annotations

import click
from rich.table import Table

from worker.cli.context import load_settings
from worker.cli.render import emit_json, err, out


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else "-"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def repos(as_json: bool) -> None:
    """Watched, discovered, unwatched and retired repositories, with why."""
    from worker import composition as services
    from worker.discovery.views import repo_views

    settings = load_settings()
    views = repo_views(services.engine(settings), settings)
    if as_json:
        emit_json({"repositories": [v.as_json() for v in views]})
        return
    table = Table("repository", "branch", "state", "source", "items", "why", "retire at")
    for v in views:
        table.add_row(
            v.repository + (" (archived)" if v.archived else ""),
            v.branch or "(default)",
            v.state,
            v.source,
            str(v.items),
            v.reason or "-",
            _when(v.retire_at) if v.retire_at else _when(v.retired_at),
        )
    out.print(table)


@click.command()
@click.argument("repo")
def forget(repo: str) -> None:
    """Retire REPO now: its items are soft-deleted (exit 1: unknown repository)."""
    from worker import composition as services
    from worker.discovery.lifecycle import forget as forget_repository

    done = forget_repository(services.engine(load_settings()), repo)  # unknown: one line, exit 1
    out.print(f"{done.retired.full_name}: retired, {done.retired.items} items soft-deleted")
    if done.was == "watched":
        err.print(
            f"{done.retired.full_name} is still watched: it comes back (items restored) at the "
            "next discovery unless it is removed from CATALOG_REPOS or the App installation"
        )


COMMANDS = (repos, forget)
