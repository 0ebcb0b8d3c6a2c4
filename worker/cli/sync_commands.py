"""`resync`, `verify` and `lint`: reconcile a repository, check it for drift, check a folder."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from worker.cli.context import load_settings
from worker.cli.render import emit_json, err, out, progress, verify_doc
from worker.errors import CatalogSyncError, CommandError

if TYPE_CHECKING:
    from settings import RepoSpec
    from worker.sync.run import Result
    from worker.sync.source import Source

Target = tuple["RepoSpec", "Source | None"]


def _targets(
    repos: tuple[str, ...], source: Path | None, repo_name: str | None, fail_code: int
) -> list[Target]:
    """(spec, local source or None for GitHub) for each repository the command names."""
    from worker import composition

    settings = load_settings()
    if source is not None:
        name = repo_name or (repos[0] if repos else f"local/{source.resolve().name}")
        try:
            return [(composition.repo_spec(name, settings), composition.local_source(source))]
        except (CatalogSyncError, ValueError) as exc:
            raise CommandError(str(exc), fail_code) from exc
    from worker.discovery.watching import watched_specs

    specs = [composition.repo_spec(r, settings) for r in repos]
    if any(spec.is_wildcard for spec in specs):
        raise CommandError("name repositories (owner/name); owner/* is for CATALOG_REPOS", 2)
    specs = specs or watched_specs(composition.engine(settings), settings)
    if not specs:
        raise CommandError("no repository: name one, or set CATALOG_REPOS (or use --source DIR)", 2)
    return [(spec, None) for spec in specs]


def _source(spec: RepoSpec, src: Source | None, fail_code: int) -> Source:
    """The target's local source, or its GitHub source (missing credentials stop the command)."""
    from worker import composition

    if src is not None:
        return src
    try:
        return composition.github_source(spec)
    except CatalogSyncError as exc:
        raise CommandError(f"{spec}: {exc}", fail_code) from exc


def _reconcile(
    spec: RepoSpec,
    src: Source,
    *,
    trigger: str,
    full: bool,
    force: bool,
    dry_run: bool = False,
    show_progress: bool = False,
) -> Result:
    """One reconcile of `spec`, the same call a worker makes, with a progress bar on a tty."""
    from worker import composition
    from worker.sync.reconcile import ReconcileRequest, reconcile

    with progress(show_progress) as bar:
        return reconcile(
            composition.engine(),
            spec.full_name,
            src,
            composition.options(),
            ReconcileRequest(
                trigger=trigger,
                branch=spec.branch,
                full=full,
                force=force,
                dry_run=dry_run,
                progress=_ticker(bar, spec.full_name),
            ),
        )


def _ticker(bar: Any, label: str) -> Callable[[int, int], None] | None:
    """A progress callback that moves `bar`, or None without one."""
    if bar is None:
        return None
    task = bar.add_task(label, total=None)

    def tick(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return tick


@click.command()
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
    targets = _targets(repos, source, repo_name, 1)
    if enqueue:
        _enqueue([spec for spec, _ in targets], full)
        return
    failed = False
    for spec, src in targets:
        result = _reconcile(
            spec,
            _source(spec, src, 1),
            trigger="manual",
            full=full,
            force=force,
            show_progress=True,
        )
        (out if result.ok else err).print(result.summary())
        failed |= not result.ok
    sys.exit(1 if failed else 0)


def _enqueue(specs: list[RepoSpec], full: bool) -> None:
    from worker import composition

    for spec in specs:
        try:
            composition.publisher().enqueue_reconcile(str(spec), "manual", full=full)
        except CatalogSyncError as exc:
            raise CommandError(f"{spec}: {exc}") from exc
        out.print(f"{spec}: queued")


@click.command()
@click.argument("repos", nargs=-1)
@click.option("--source", type=click.Path(path_type=Path, file_okay=False), help="Local folder.")
@click.option("--repo", "repo_name", help="Repository name a --source folder is recorded under.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def verify(
    repos: tuple[str, ...], source: Path | None, repo_name: str | None, as_json: bool
) -> None:
    """Report drift between git and the table; writes nothing. Exit 0 none, 1 drift, 2 error."""
    results = []
    for spec, src in _targets(repos, source, repo_name, 2):
        result = _reconcile(
            spec, _source(spec, src, 2), trigger="verify", full=True, dry_run=True, force=True
        )
        results.append(result)
        if not as_json:
            _print_drift(result)
    if as_json:
        emit_json({"repositories": [verify_doc(r) for r in results]})
    error = any(not r.ok for r in results)
    drift = any(r.counts.details for r in results)
    sys.exit(2 if error else 1 if drift else 0)


def _print_drift(result: Result) -> None:
    changes = result.counts.details
    if not result.ok:
        err.print(f"{result.full_name}: cannot verify: {result.error}")
    elif not changes:
        out.print(f"{result.full_name}: in sync at {(result.to_sha or '')[:12]}")
    for kind, path in changes:
        out.print(f"{result.full_name}: {kind:<8} {path}")


@click.command()
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    help="text, one JSON document, or GitHub Actions annotations (::error file=...).",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def lint(folder: Path, fmt: str, as_json: bool) -> None:
    """Validate a catalog folder without a database. Exit 0 valid, 1 invalid or no root."""
    from worker.feedback import lint_output
    from worker.feedback.actions import repository_prefix
    from worker.sync.layout import CatalogRules
    from worker.sync.lint import lint_folder

    report = lint_folder(folder, CatalogRules.from_settings(load_settings()))
    if as_json or fmt == "json":
        emit_json(lint_output.as_json(report))
    elif fmt == "github":
        for line in lint_output.as_github(report, repository_prefix(folder, Path.cwd())):
            click.echo(line)
    else:
        for line in lint_output.as_text(report):
            out.print(line, markup=False)
        for warning in report.warnings:  # no root folder: the one line a path typo gets
            err.print(
                f"{'error' if not report.roots_found else 'warning'}: {warning}", markup=False
            )
    sys.exit(0 if lint_output.passed(report) else 1)


COMMANDS = (resync, verify, lint)
