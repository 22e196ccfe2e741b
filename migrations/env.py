"""Alembic environment: the URL comes from DEFECTGEN_DATABASE_URL (or the embedded default).

A caller may pass an open connection in `config.attributes["connection"]` (tests do).
"""
from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from core.db import get_engine
from core.tables import Base

if context.config.config_file_name and context.config.attributes.get("configure_logger", True):
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if (given := context.config.attributes.get("connection")) is not None:
    run_migrations(given)
else:
    with get_engine().connect() as connection:
        run_migrations(connection)
