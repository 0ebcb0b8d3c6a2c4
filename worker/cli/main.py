"""The `catalog-sync` group: wiring only; the commands live in the `*_commands` modules.

Human output goes to stdout, diagnostics to stderr; `--json` prints one JSON document.
A command stops by raising a `CatalogSyncError` (`CommandError` to pick the exit code); the
group turns it, and anything else a command raises (a malformed setting, a database that is
unreachable or not migrated), into one line on stderr, in one place (`failures.explain`).
Settings are validated when a command first needs them, so `--help` works with bad ones;
`--debug` shows the traceback instead.
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
from worker.cli.failures import explain
from worker.cli.render import err
from worker.errors import CommandError


def stop(exc: CommandError) -> NoReturn:
    """One line on stderr and the command's exit code."""
    err.print(f"[red]error:[/red] {escape(str(exc))}")  # the message may quote "[...]"
    sys.exit(exc.exit_code)


class CatalogSyncGroup(click.Group):
    """A click group whose commands end in one error line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise  # click's own ends: usage errors, --help, Ctrl-C at a prompt
        except KeyboardInterrupt:
            if ctx.params.get("debug"):
                raise
            err.print("interrupted")
            sys.exit(130)  # what a shell reports for Ctrl-C
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            stop(explain(exc))


@click.group(cls=CatalogSyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="catalog-sync")
@click.option("--debug", is_flag=True, help="On an error, show the traceback, not one line.")
def main(debug: bool) -> None:
    """Keep catalog_items equal to your catalog repositories."""


for _module in (sync_commands, read_commands, delivery_commands, service_commands, repos):
    for _command in _module.COMMANDS:
        main.add_command(_command)
register_feed_commands(main)
