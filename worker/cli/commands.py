"""The `catalog-sync` command: wiring only; the work is in `worker.sync` and `worker.inbox.store`.

Human output goes to stdout, diagnostics to stderr; `--json` prints one JSON document.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from settings import get_settings

# Piped output is not cut to 80 columns: scripts and logs get whole lines.
_WIDTH = None if sys.stdout.isatty() else 240
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)


def _emit_json(doc: Any) -> None:
    """`--json`: exactly one JSON document on stdout, nothing else."""
    click.echo(json.dumps(doc, default=str))


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}")
    sys.exit(code)


def _settings() -> Any:
    try:
        return get_settings()
    except ValidationError as exc:  # names the bad variable and entry
        _fail(f"invalid settings: {exc}", 2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="catalog-sync")
def main() -> None:
    """Keep catalog_items equal to your catalog repositories."""
    _settings()  # a malformed setting stops every command at once, naming the entry


# --- resync / verify -------------------------------------------------------------------------


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A progress bar on a terminal (stderr); nothing when piped."""
    if not enabled or not err.is_terminal:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        yield bar


def _targets(
    repos: tuple[str, ...], source: Path | None, repo_name: str | None, fail_code: int
) -> list[Any]:
    """(spec, local source or None for GitHub) for each repository the command names."""
    from worker import composition as services
    from worker.errors import CatalogSyncError

    settings = _settings()
    if source is not None:
        name = repo_name or (repos[0] if repos else f"local/{source.resolve().name}")
        try:
            return [(services.repo_spec(name, settings), services.local_source(source))]
        except (CatalogSyncError, ValueError) as exc:
            _fail(str(exc), fail_code)
    from worker.discovery.watching import watched_specs

    specs = [services.repo_spec(r, settings) for r in repos]
    if any(spec.is_wildcard for spec in specs):
        _fail("name repositories (owner/name); owner/* is for CATALOG_REPOS", 2)
    specs = specs or watched_specs(services.engine(settings), settings)
    if not specs:
        _fail("no repository: name one, or set CATALOG_REPOS (or use --source DIR)", 2)
    return [(spec, None) for spec in specs]


@main.command()
@click.argument("repos", nargs=-1)
@click.option(
    "--full", is_flag=True, help="Re-read and re-check every file, not only changed ones."
)
@click.option("--enqueue", is_flag=True, help="Queue the reconcile for a worker instead.")
@click.option("--source", type=click.Path(path_type=Path, file_okay=False), help="Local folder.")
@click.option("--repo", "repo_name", help="Repository name to record a --source folder under.")
@click.option("--force", is_flag=True, help="Apply even a plan that deletes most items.")
def resync(
    repos: tuple[str, ...],
    full: bool,
    enqueue: bool,
    source: Path | None,
    repo_name: str | None,
    force: bool,
) -> None:
    """Reconcile now, inline with progress (or queue it with --enqueue)."""
    from worker import composition as services
    from worker.errors import CatalogSyncError
    from worker.sync.reconcile import reconcile

    targets = _targets(repos, source, repo_name, 1)
    if enqueue:
        from worker.inbox.publish import enqueue_reconcile

        for spec, _ in targets:
            try:
                enqueue_reconcile(str(spec), "manual", full=full)
            except CatalogSyncError as exc:
                _fail(f"{spec}: {exc}")
            out.print(f"{spec}: queued")
        return
    engine = services.engine()
    failed = False
    for spec, src in targets:
        try:
            src = src or services.github_source(spec)
        except CatalogSyncError as exc:
            _fail(f"{spec}: {exc}")
        with _progress(True) as bar:
            task = bar.add_task(f"{spec.full_name}", total=None) if bar else None

            def tick(done: int, total: int, bar: Any = bar, task: Any = task) -> None:
                if bar is not None:
                    bar.update(task, completed=done, total=total)

            result = reconcile(
                engine,
                spec.full_name,
                src,
                services.options(),
                trigger="manual",
                branch=spec.branch,
                full=full,
                force=force,
                progress=tick,
            )
        (out if result.ok else err).print(result.summary())
        failed |= not result.ok
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("repos", nargs=-1)
@click.option("--source", type=click.Path(path_type=Path, file_okay=False), help="Local folder.")
@click.option("--repo", "repo_name", help="Repository name a --source folder is recorded under.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def verify(
    repos: tuple[str, ...], source: Path | None, repo_name: str | None, as_json: bool
) -> None:
    """Report drift between git and the table; writes nothing. Exit 0 none, 1 drift, 2 error."""
    from worker import composition as services
    from worker.errors import CatalogSyncError
    from worker.sync.reconcile import reconcile

    engine = services.engine()
    reports = []
    drift = error = False
    for spec, src in _targets(repos, source, repo_name, 2):
        try:
            src = src or services.github_source(spec)
        except CatalogSyncError as exc:
            _fail(f"{spec}: {exc}", 2)
        result = reconcile(
            engine,
            spec.full_name,
            src,
            services.options(),
            trigger="verify",
            branch=spec.branch,
            full=True,
            dry_run=True,
            force=True,
        )
        changes = result.counts.details
        reports.append(
            {
                "repository": spec.full_name,
                "head": result.to_sha,
                "outcome": str(result.outcome),
                "error": result.error,
                "drift": [{"change": kind, "path": path} for kind, path in changes],
            }
        )
        error |= not result.ok
        drift |= bool(changes)
        if not as_json:
            if not result.ok:
                err.print(f"{spec.full_name}: cannot verify: {result.error}")
            elif not changes:
                out.print(f"{spec.full_name}: in sync at {(result.to_sha or '')[:12]}")
            for kind, path in changes:
                out.print(f"{spec.full_name}: {kind:<8} {path}")
    if as_json:
        _emit_json({"repositories": reports})
    sys.exit(2 if error else 1 if drift else 0)


# --- lint ---------------------------------------------------------------------------------


@main.command()
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def lint(folder: Path, as_json: bool) -> None:
    """Validate a catalog folder without a database. Exit 0 valid, 1 invalid."""
    from worker.sync.catalog import CatalogRules
    from worker.sync.lint import lint_folder

    report = lint_folder(folder, CatalogRules.from_settings(_settings()))
    if as_json:
        _emit_json(
            {
                "items": sorted(report.items),
                "errors": [{"path": e.path, "message": e.message} for e in report.errors],
            }
        )
    else:
        for e in report.errors:
            out.print(f"{e.path}: {e.message}")
        out.print(f"{len(report.items)} items, {len(report.errors)} errors")
    sys.exit(1 if report.errors else 0)


# --- status / errors ------------------------------------------------------------------------


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "-"


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def status(as_json: bool) -> None:
    """Per repository: branch, synced SHA, head, lag, items, errors, pending deliveries."""
    from worker import composition as services
    from worker.cli.views import repo_statuses

    rows = repo_statuses(services.engine())
    if as_json:
        _emit_json({"repositories": [r.as_json() for r in rows]})
        return
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
    )
    for r in rows:
        lag = "in sync" if r.in_sync else (f"{r.lag_seconds:.0f}s" if r.lag_seconds else "?")
        table.add_row(
            r.full_name,
            r.branch or "(default)",
            _short(r.synced_sha),
            _short(r.head_sha),
            lag,
            str(r.items),
            str(r.errors),
            str(r.pending_deliveries),
            r.last_outcome or "-",
            str(r.consecutive_failures),
        )
    out.print(table)
    for r in rows:
        if r.last_error:
            out.print(f"{r.full_name}: last error: {r.last_error}")


@main.command()
@click.argument("repo", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def items(repo: str | None, as_json: bool) -> None:
    """Live catalog items (all repositories, or REPO's)."""
    from worker import composition as services
    from worker.cli.views import live_items

    rows = live_items(services.engine(), repo)
    if as_json:
        docs = [
            {
                "id": str(i.id),
                "type": str(i.type),
                "name": i.name,
                "description": i.description,
                "git_path": i.git_path,
                "tags": i.tags,
                "blob_sha": i.blob_sha,
            }
            for i in rows
        ]
        _emit_json({"items": docs})
        return
    table = Table("type", "name", "path", "tags", "blob")
    for i in rows:
        table.add_row(str(i.type), i.name, i.git_path, ", ".join(i.tags), i.blob_sha[:12])
    out.print(table)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def errors(as_json: bool) -> None:
    """Per-file errors: which file, which blob, what is wrong."""
    from worker import composition as services
    from worker.cli.views import file_errors

    rows = file_errors(services.engine())
    if as_json:
        _emit_json({"errors": [r.as_json() for r in rows]})
        return
    if not rows:
        out.print("no file errors")
    for r in rows:
        out.print(f"{r.repository}: {r.git_path} ({r.blob_sha[:12]}): {r.message}")


# --- deliveries -----------------------------------------------------------------------------


@main.command()
@click.option("--status", "status_", help="pending, queued, processing, done, failed or dead.")
@click.option("--limit", default=100, show_default=True, help="Newest first, at most this many.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def deliveries(status_: str | None, limit: int, as_json: bool) -> None:
    """Stored webhook deliveries, newest first."""
    from worker import composition as services
    from worker.inbox.queries import list_deliveries
    from worker.inbox.records import delivery_as_json

    rows = list_deliveries(services.engine(), status=status_, limit=limit)
    docs = [delivery_as_json(d) for d in rows]
    if as_json:
        _emit_json({"deliveries": docs})
        return
    table = Table(
        "delivery", "event", "repository", "ref", "after", "status", "attempts", "received", "error"
    )
    for d in docs:
        table.add_row(
            d["delivery_id"],
            d["event"],
            d["repository"] or "-",
            d["ref"] or "-",
            _short(d["after_sha"]),
            d["status"],
            str(d["attempts"]),
            d["received_at"],
            (d["last_error"] or "")[:60],
        )
    out.print(table)


@main.command()
@click.argument("delivery_id")
def redeliver(delivery_id: str) -> None:
    """Re-queue a stored delivery (its repository is reconciled again)."""
    from worker import composition as services
    from worker.errors import CatalogSyncError
    from worker.inbox.queries import redeliver as redeliver_delivery

    try:
        record = redeliver_delivery(services.engine(), delivery_id)
    except CatalogSyncError as exc:
        _fail(str(exc))
    if record.status == "pending":
        err.print(
            f"{delivery_id}: stored as pending; the broker is down, the sweeper will queue it"
        )
        return
    out.print(f"{delivery_id}: re-queued")


# --- db / run -------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command()
@click.option("--revision", default="head", show_default=True)
def upgrade(revision: str) -> None:
    """Migrate the database to head."""
    from models.migrate import upgrade as run_upgrade

    url = _settings().database_url
    run_upgrade(url, revision)
    out.print(f"database at {revision}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def run(host: str, port: int) -> None:
    """Webhook receiver, worker and scheduler together, for one machine."""
    from worker.cli.run import run_all

    sys.exit(run_all(host, port))


from worker.cli.repos import forget, repos  # noqa: E402 - they use the helpers above

main.add_command(repos)
main.add_command(forget)

if __name__ == "__main__":
    main()
