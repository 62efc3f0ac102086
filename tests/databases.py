"""Where the tests' databases live: a SQLite file per test by default, or, when
TEST_DATABASE_URL names a PostgreSQL server, a database per test cloned from a migrated and
seeded template database (CREATE DATABASE ... TEMPLATE)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from sqlalchemy import make_url

URL_FILE = "database_url"
TEMPLATE = "liaison_template"


def server_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


def on_postgres() -> bool:
    return server_url() is not None


def database_url(instance: Path) -> str:
    recorded = instance / URL_FILE
    if recorded.exists():
        return recorded.read_text().strip()
    return f"sqlite:///{instance / 'liaison.db'}"


def _admin_execute(sql: str) -> None:
    import psycopg

    url = make_url(server_url() or "")
    with psycopg.connect(dbname="postgres", user=url.username, host=url.query.get("host")
                         or url.host, port=url.port, password=url.password,
                         autocommit=True) as connection:
        connection.execute(sql)  # type: ignore[arg-type]


def _url_for(name: str) -> str:
    return make_url(server_url() or "").set(database=name).render_as_string(hide_password=False)


def create_template(instance: Path) -> None:
    _admin_execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
    _admin_execute(f"CREATE DATABASE {TEMPLATE}")
    (instance / URL_FILE).write_text(_url_for(TEMPLATE))


def create_database(name: str) -> str:
    """An empty database on the test server; its URL."""
    _admin_execute(f"CREATE DATABASE {name}")
    return _url_for(name)


def clone_template(instance: Path) -> str:
    name = f"t_{uuid.uuid4().hex[:16]}"
    _admin_execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    (instance / URL_FILE).write_text(_url_for(name))
    return name


def drop(name: str) -> None:
    _admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
