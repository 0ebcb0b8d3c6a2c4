"""Run Alembic migrations from code (the CLI's `db upgrade`, the tests, `catalog-sync run`).

The migrations ship in the distribution as the package `models._migrations` (pyproject.toml maps
the top-level `migrations/` folder to it), so they are found through the import system from an
installed wheel and from a checkout alike, whatever the working directory. The Alembic options
are set here instead of read from `alembic.ini`, which a wheel does not carry; that file stays at
the repository root for `alembic upgrade head` and `alembic revision`, and a unit test keeps the
two in step.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_PACKAGE = "models._migrations"

#: alembic.ini's `[alembic]` options, as written there (`%%` escapes), but for the two that only
#: make sense at the repository root: `script_location` and `prepend_sys_path`.
ALEMBIC_OPTIONS = {
    "file_template": "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s",
    "path_separator": "os",
}


def script_location() -> Path:
    """The folder holding `env.py` and `versions/`, wherever the package is installed."""
    return Path(str(resources.files(MIGRATIONS_PACKAGE)))


def alembic_config(database_url: str) -> Config:
    """An Alembic config for the packaged migrations, aimed at `database_url`."""
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    for name, value in ALEMBIC_OPTIONS.items():
        config.set_main_option(name, value)
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
