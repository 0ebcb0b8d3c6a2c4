"""Alembic environment: URL from settings, every model imported, upgrades serialised."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import text

import models  # noqa: F401  (imports every table before metadata is read)
from models.base import Base
from models.db import make_engine
from models.types import UTCDateTime
from settings import get_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

#: Key of the advisory lock that serialises concurrent `upgrade` runs on PostgreSQL.
MIGRATION_LOCK_KEY = 0x63617461  # "cata"


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render our portable types as plain SQLAlchemy ones, so revisions don't import models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _url() -> str:
    return config.attributes.get("database_url") or get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=Base.metadata,
        literal_binds=True,
        compare_type=True,
        render_item=_render_item,
        render_as_batch=_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    is_pg = connection.dialect.name == "postgresql"
    if is_pg:
        # Session-level lock: two `upgrade` runs at once (e.g. two containers) take turns.
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        connection.commit()
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            compare_type=True,
            render_item=_render_item,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        if is_pg:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
