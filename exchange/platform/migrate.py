"""Alembic, driven from the app: the embedded and the production databases run the same
migrations."""

from __future__ import annotations

from functools import cache

from alembic import command
from alembic.config import Config

from exchange.platform.settings import ROOT


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


@cache
def migration_heads() -> frozenset[str]:
    """The revisions a database at the latest schema carries."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
