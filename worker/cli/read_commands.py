"""`status`, `items` and `errors`: what the table holds, read-only."""

from __future__ import annotations

import click

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
    """Per repository: branch, synced SHA, head, lag, items, errors, pending deliveries."""
    from worker import composition
    from worker.cli.views import repo_statuses

    rows = repo_statuses(composition.engine())
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
    from worker.cli.views import live_items

    rows = live_items(composition.engine(), repo)
    if as_json:
        emit_json({"items": [item_doc(i) for i in rows]})
        return
    out.print(items_table(rows))


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
