"""The `catalog-sync` command line: click wiring, rendering, read views and `run`."""

from worker.cli.commands import main

__all__ = ["main"]
