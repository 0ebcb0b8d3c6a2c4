"""`db upgrade` and `run`: set up the database, run the whole service on one machine."""

from __future__ import annotations

import sys

import click

from worker.cli.context import load_settings
from worker.cli.render import out


@click.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command()
@click.option("--revision", default="head", show_default=True)
def upgrade(revision: str) -> None:
    """Migrate the database to head."""
    from models.migrate import upgrade as run_upgrade

    run_upgrade(load_settings().database_url, revision)
    out.print(f"database at {revision}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def run(host: str, port: int) -> None:
    """Webhook receiver, worker and scheduler together, for one machine."""
    from worker.cli.run import run_all

    sys.exit(run_all(host, port))


COMMANDS = (db, run)
