"""Running Alembic from code, so `defectgen serve` and the tests need no alembic.ini lookup by cwd."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent


def alembic_config() -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["configure_logger"] = False
    return config


def upgrade_head() -> None:
    command.upgrade(alembic_config(), "head")
