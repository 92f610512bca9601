"""Alembic environment: runs the revisions on the connection `app.store.db.migrate` hands in,
or on `sqlalchemy.url` when invoked from the `alembic` command line (see alembic.ini)."""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

import app.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from app.config import normalize_database_url

config = context.config
target_metadata = SQLModel.metadata
if config.config_file_name is not None:
    # Only the `alembic` command line has an ini file; the app configures its own logging.
    fileConfig(config.config_file_name, disable_existing_loggers=False)
    if os.environ.get("DATABASE_URL"):
        url = normalize_database_url(os.environ["DATABASE_URL"])
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))


def run_offline() -> None:
    """Emit SQL to stdout (`alembic upgrade head --sql`)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.begin() as conn:
        _run(conn)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    # Batch mode lets later ALTERs work on SQLite, which cannot alter most columns in place.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
