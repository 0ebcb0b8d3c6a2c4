"""The `catalog-sync` command line: click wiring (`main`), one module per group of commands,
rendering (`render`), read queries (`views`) and the one-machine supervisor (`run`)."""

from worker.cli.main import main

__all__ = ["main"]
