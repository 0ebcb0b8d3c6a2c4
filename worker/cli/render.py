"""How commands show things: rich tables for people, one JSON document for scripts.

Each thing has one JSON shape, built here and nowhere else, so the same thing has the same
keys in every command: `repository` for a repository's full name, `git_path` for a file's
path in it, `*_sha` for a commit or blob SHA.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

if TYPE_CHECKING:
    from models import CatalogItem
    from worker.cli.views import FileErrorView, RepoStatus
    from worker.inbox.records import DeliveryRecord
    from worker.sync.run import Result

# Piped output is not cut to 80 columns: scripts and logs get whole lines.
_WIDTH = None if sys.stdout.isatty() else 240
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)


def emit_json(doc: Any) -> None:
    """`--json`: exactly one JSON document on stdout, nothing else."""
    click.echo(json.dumps(doc, default=str))


def short(sha: str | None) -> str:
    return sha[:12] if sha else "-"


@contextmanager
def progress(enabled: bool) -> Iterator[Any]:
    """A progress bar on a terminal (stderr); nothing when piped."""
    if not enabled or not err.is_terminal:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        yield bar


def _fields(record: Any) -> dict[str, Any]:
    """A dataclass's fields, in order, timestamps as ISO 8601, nested dataclasses as objects."""
    return {f.name: _value(getattr(record, f.name)) for f in fields(record)}


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    return value


# --- JSON shapes ------------------------------------------------------------------------------


def status_doc(r: RepoStatus) -> dict[str, Any]:
    return _fields(r)


def file_error_doc(e: FileErrorView) -> dict[str, Any]:
    return _fields(e)


def item_doc(i: CatalogItem, repository: str | None) -> dict[str, Any]:
    return {
        "id": str(i.id),
        "repository": repository,
        "type": str(i.type),
        "name": i.name,
        "description": i.description,
        "git_path": i.git_path,
        "tags": i.tags,
        "blob_sha": i.blob_sha,
    }


def delivery_doc(d: DeliveryRecord) -> dict[str, Any]:
    """`repository` for the repository's full name, as in every other command."""
    return {
        ("repository" if key == "repository_full_name" else key): value
        for key, value in _fields(d).items()
    }


def verify_doc(result: Result) -> dict[str, Any]:
    return {
        "repository": result.full_name,
        "head_sha": result.to_sha,
        "outcome": str(result.outcome),
        "error": result.error,
        "drift": [{"change": kind, "git_path": path} for kind, path in result.counts.details],
    }


# --- tables -----------------------------------------------------------------------------------


def status_table(rows: list[RepoStatus]) -> Table:
    table = Table(
        "repository",
        "branch",
        "synced",
        "head",
        "lag",
        "items",
        "errors",
        "pending",
        "last run",
        "failures",
        "verdict",
    )
    for r in rows:
        lag = "in sync" if r.in_sync else (f"{r.lag_seconds:.0f}s" if r.lag_seconds else "?")
        table.add_row(
            r.repository if r.watched else f"{r.repository} (not in CATALOG_REPOS)",
            r.branch or "(default)",
            short(r.synced_sha),
            short(r.head_sha),
            lag,
            str(r.items),
            str(r.errors),
            str(r.pending_deliveries),
            r.last_outcome or "-",
            str(r.consecutive_failures),
            str(r.verdict or "-"),
        )
    return table


def items_table(rows: list[CatalogItem], names: dict[int, str]) -> Table:
    """Items with their repository: the same path can be an item of several."""
    table = Table("repository", "type", "name", "path", "tags", "blob")
    for i in rows:
        repository = names.get(i.repository_id, "-")
        table.add_row(
            repository, str(i.type), i.name, i.git_path, ", ".join(i.tags), i.blob_sha[:12]
        )
    return table


def deliveries_table(docs: list[dict[str, Any]]) -> Table:
    table = Table(
        "delivery", "event", "repository", "ref", "after", "status", "attempts", "received", "error"
    )
    for d in docs:
        table.add_row(
            d["delivery_id"],
            d["event"],
            d["repository"] or "-",
            d["ref"] or "-",
            short(d["after_sha"]),
            d["status"],
            str(d["attempts"]),
            d["received_at"],
            (d["last_error"] or "")[:60],
        )
    return table
