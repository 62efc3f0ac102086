"""Shared fixtures: a real SQLite database built by the migrations, a real master key, demo
data, and a Flask test client with CSRF and every security feature left on.

The migrations and demo data are built once per test session into a template folder; each test
gets its own copy, so tests never share state. Time is a FixedClock that tests move.
"""

from __future__ import annotations

import re
import shutil
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange.accounts import totp
from exchange.app import create_app
from exchange.demo.seed import DEMO_PASSWORD, demo_totp_secret
from exchange.domain.clock import FixedClock
from exchange.platform.db import Database
from exchange.platform.settings import Settings
from tests import databases

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def pytest_configure(config: pytest.Config) -> None:
    if databases.on_postgres():
        # Each test's PostgreSQL database is dropped WITH (FORCE) after it; a connection a
        # test leaked to the garbage collector then warns when collected, in whatever later
        # test that happens. Pools are disposed after each test (_dispose_databases).
        config.addinivalue_line(
            "filterwarnings", "ignore:.*was deleted while still open:ResourceWarning")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not databases.on_postgres():
        return
    skip = pytest.mark.skip(reason="inspects the SQLite file; the PostgreSQL run has its own")
    for item in items:
        if item.get_closest_marker("sqlite_file"):
            item.add_marker(skip)


_OPENED: weakref.WeakSet[Database] = weakref.WeakSet()


@pytest.fixture(autouse=True)
def _dispose_databases() -> Iterator[None]:
    """Close every connection pool a test opened, even through an app it did not dispose:
    PostgreSQL databases are dropped after each test, and a pool left to the garbage collector
    warns (ResourceWarning, an error under filterwarnings)."""
    from exchange.platform import db

    original = db.Database.__init__

    def tracking(self: db.Database, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        _OPENED.add(self)

    db.Database.__init__ = tracking  # type: ignore[method-assign]
    try:
        yield
    finally:
        db.Database.__init__ = original  # type: ignore[method-assign]
        _dispose_opened()


def _dispose_opened() -> None:
    for database in list(_OPENED):
        database.dispose()


def make_settings(instance: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "mode": "demo",
        "instance_path": instance,
        "secret_key": "test-secret-key-0123456789abcdefghijklmnop",
        "database_url": databases.database_url(instance),
        "master_key_file": instance / "keys" / "master.key",
        "epoch_key_dir": instance / "keys" / "epochs",
        "blob_dir": instance / "blobs",
        "argon2_time_cost": 1,
        "argon2_memory_kib": 64,
        "argon2_parallelism": 1,
        "scheduler": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def template_instance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated and seeded once; copied for each test."""
    from exchange.demo.seed import seed
    from exchange.platform.migrate import upgrade

    instance = tmp_path_factory.mktemp("template")
    if databases.on_postgres():
        databases.create_template(instance)
    settings = make_settings(instance)
    upgrade(settings.database_url)
    app = create_app(settings, clock=FixedClock(START))
    seed(app.extensions["liaison"], only_if_empty=False)
    app.extensions["liaison"].db.dispose()
    return instance


@pytest.fixture
def instance(template_instance: Path, tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "instance"
    shutil.copytree(template_instance, target)
    if not databases.on_postgres():
        yield target
        return
    name = databases.clone_template(target)
    yield target
    _dispose_opened()
    databases.drop(name)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def app(instance: Path, clock: FixedClock) -> Iterator[Flask]:
    app = create_app(make_settings(instance), clock=clock)
    yield app
    app.extensions["liaison"].db.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    match = _CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path} (status {page.status_code})"
    return match.group(1)


def post_form(client: FlaskClient, path: str, data: dict[str, object], *,
              form_page: str | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
    """POST like a browser: take the CSRF token from the page that shows the form."""
    token = csrf_token(client, form_page or path)
    return client.post(path, data={**data, "csrf_token": token}, **kwargs)


def totp_code(username: str, clock: FixedClock) -> str:
    return totp.code_at(demo_totp_secret(username), clock.now())


def login(client: FlaskClient, username: str, clock: FixedClock,
          password: str = DEMO_PASSWORD) -> None:
    """Password then second factor. Moves the clock one TOTP step so each code is fresh."""
    clock.advance(timedelta(seconds=totp.STEP))
    response = post_form(client, "/connexion/", {"username": username, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    response = post_form(client, "/connexion/second-facteur",
                         {"code": totp_code(username, clock)})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert response.location.startswith("/")
