"""Alembic, driven from the app: the embedded and the production databases run the same
migrations."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from exchange.settings import ROOT


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
