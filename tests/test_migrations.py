"""The migrations create exactly the tables the code declares, and downgrade cleanly, on both databases."""
from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from core.migrate import alembic_config
from core.tables import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    servers = request.getfixturevalue("servers")
    admin = create_engine(servers.postgres.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS migrations_check"))
        connection.execute(text("CREATE DATABASE migrations_check"))
    admin.dispose()
    return create_engine(servers.postgres.url.rsplit("/", 1)[0] + "/migrations_check")


def test_models_and_migrations_agree(engine):
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
