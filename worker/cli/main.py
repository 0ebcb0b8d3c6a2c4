"""The `catalog-sync` group: wiring only; the commands live in the `*_commands` modules.

Human output goes to stdout, diagnostics to stderr; `--json` prints one JSON document.
A command stops by raising a `CatalogSyncError` (`CommandError` to pick the exit code); the
group turns it into one line on stderr, in one place.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click
from rich.markup import escape

from worker.cli import (
    delivery_commands,
    read_commands,
    repos,
    service_commands,
    sync_commands,
)
from worker.cli.changes import register as register_feed_commands
from worker.cli.context import load_settings
from worker.cli.render import err
from worker.errors import CatalogSyncError, CommandError


def stop(exc: CatalogSyncError) -> NoReturn:
    """One line on stderr and the command's exit code (1 unless a `CommandError` says)."""
    err.print(f"[red]error:[/red] {escape(str(exc))}")  # the message may quote "[...]"
    sys.exit(exc.exit_code if isinstance(exc, CommandError) else 1)


class CatalogSyncGroup(click.Group):
    """A click group whose commands end in one error line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CatalogSyncError as exc:
            stop(exc)


@click.group(cls=CatalogSyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="catalog-sync")
def main() -> None:
    """Keep catalog_items equal to your catalog repositories."""
    load_settings()  # a malformed setting stops every command at once, naming the entry


for _module in (sync_commands, read_commands, delivery_commands, service_commands, repos):
    for _command in _module.COMMANDS:
        main.add_command(_command)
register_feed_commands(main)
