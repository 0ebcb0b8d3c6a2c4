"""`status`, `items` and `errors`: what the table holds, read-only."""

from __future__ import annotations

import click

from worker.cli.context import load_settings
from worker.cli.render import (
    emit_json,
    file_error_doc,
    item_doc,
    items_table,
    out,
    status_doc,
    status_table,
)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def status(as_json: bool) -> None:
    """Per repository: branch, synced SHA, head, lag, items, errors, pending deliveries.
    A repository neither in CATALOG_REPOS nor discovered is marked so (`"watched": false`)."""
    from worker import composition
    from worker.cli.views import repo_statuses
    from worker.discovery.watching import watched_specs

    settings = load_settings()
    engine = composition.engine(settings)
    names = {spec.full_name.lower() for spec in watched_specs(engine, settings)}
    rows = repo_statuses(engine, lambda name: name.lower() in names)
    if as_json:
        emit_json({"repositories": [status_doc(r) for r in rows]})
        return
    out.print(status_table(rows))
    for r in rows:
        if r.last_error:
            out.print(f"{r.repository}: last error: {r.last_error}")
        if r.verdict and r.verdict.error:
            out.print(f"{r.repository}: verdict not posted: {r.verdict.error}", markup=False)


@click.command()
@click.argument("repo", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def items(repo: str | None, as_json: bool) -> None:
    """Live catalog items (all repositories, or REPO's)."""
    from worker import composition
    from worker.cli.views import live_items, repository_names

    engine = composition.engine()
    rows = live_items(engine, repo)
    names = repository_names(engine)
    if as_json:
        emit_json({"items": [item_doc(i, names.get(i.repository_id)) for i in rows]})
        return
    out.print(items_table(rows, names))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def errors(as_json: bool) -> None:
    """Per-file errors: which file, which blob, what is wrong."""
    from worker import composition
    from worker.cli.views import file_errors

    rows = file_errors(composition.engine())
    if as_json:
        emit_json({"errors": [file_error_doc(r) for r in rows]})
        return
    if not rows:
        out.print("no file errors")
    for r in rows:
        out.print(f"{r.repository}: {r.git_path} ({r.blob_sha[:12]}): {r.message}")


COMMANDS = (status, items, errors)
