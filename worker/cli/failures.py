"""What an operator's mistake becomes on the command line: one line and an exit code.

A command raises; `explain` turns what it raised into a `CommandError` whose message is the one
line to print. A malformed setting is exit 2 and names the entry; a database error is diagnosed
again from scratch (can we connect? is it migrated? at head?) so that the line says what to do
instead of quoting SQL. Anything else is one line too, pointing at `--debug` for the traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError

from worker.errors import CatalogSyncError, CommandError

if TYPE_CHECKING:
    from sqlalchemy import Engine

DEBUG_HINT = "run with `catalog-sync --debug ...` for the traceback"


def first_line(exc: BaseException) -> str:
    """An exception's first non-empty line (database drivers' messages run over several)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def explain(exc: Exception) -> CommandError:
    """The one line (and exit code) for anything a command raised."""
    from alembic.util import CommandError as AlembicError
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, CommandError):
        return exc
    if isinstance(exc, CatalogSyncError):
        return CommandError(str(exc), 1)
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        from worker.settings_errors import settings_error_line

        return CommandError(settings_error_line(exc), 2)
    if isinstance(exc, DBAPIError):
        return CommandError(database_problem(exc), 1)
    if isinstance(exc, AlembicError):
        return CommandError(f"migration: {first_line(exc)}", 1)
    return CommandError(f"unexpected {type(exc).__name__}: {first_line(exc)} ({DEBUG_HINT})", 1)


def database_problem(exc: BaseException) -> str:
    """Why a database call failed, as the operator can act on it."""
    from worker import composition

    return diagnose(composition.engine(), exc)


def diagnose(engine: Engine, exc: BaseException) -> str:
    """Connect afresh: unreachable, not migrated, behind head, or else the driver's own line."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import SQLAlchemyError

    from models.migrate import alembic_config

    where = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as probe:
        cause = getattr(probe, "orig", None) or probe
        return f"database unreachable at {where}: {first_line(cause)}"
    upgrade = "run `catalog-sync db upgrade`"
    if not current:
        return f"database at {where} is not migrated: {upgrade}"
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    heads = set(ScriptDirectory.from_config(config).get_heads())
    if current != heads:
        at = ", ".join(sorted(current))
        return f"database at {where} is at revision {at}, not the latest: {upgrade}"
    cause = getattr(exc, "orig", None) or exc
    return f"database error at {where}: {first_line(cause)}"
