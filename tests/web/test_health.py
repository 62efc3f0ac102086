"""/sante and /pret: public, booleans only, 503 naming the failing check when not ready."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from exchange.app import create_app
from exchange.domain.clock import FixedClock
from exchange.platform.db import Database
from exchange.platform.migrate import alembic_config
from tests.conftest import make_settings

CHECKS = {"database", "migrations", "master_key", "blob_store"}


def test_liveness_answers_ok_without_a_session(client: FlaskClient) -> None:
    response = client.get("/sante")
    assert response.status_code == 200 and response.get_data(as_text=True) == "ok\n"
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_readiness_is_all_true_on_a_working_instance(client: FlaskClient, app: Flask) -> None:
    response = client.get("/pret")
    assert response.status_code == 200
    body = response.get_json()
    assert body == {"ready": True, **dict.fromkeys(CHECKS, True)}
    assert all(isinstance(value, bool) for value in body.values())
    assert "Set-Cookie" not in response.headers
    blobs = app.extensions["liaison"].settings.blob_dir
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))  # probe removed


def test_a_blob_store_that_cannot_be_written_makes_the_instance_not_ready(
        instance: Path, clock: FixedClock) -> None:
    blocker = instance / "not-a-folder"
    blocker.write_text("")
    app = create_app(make_settings(instance, blob_dir=blocker / "blobs"), clock=clock)
    response = app.test_client().get("/pret")
    assert response.status_code == 503
    assert response.get_json() == {"ready": False, "database": True, "migrations": True,
                                   "master_key": True, "blob_store": False}
    app.extensions["liaison"].db.dispose()


def test_a_database_behind_the_migrations_makes_the_instance_not_ready(app: Flask) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    url = app.extensions["liaison"].settings.database_url
    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_revision(script.get_current_head())
    command.stamp(alembic_config(url), head.down_revision, purge=True)
    response = app.test_client().get("/pret")
    assert response.status_code == 503
    assert response.get_json()["migrations"] is False
    assert response.get_json()["database"] is True


def test_an_unreachable_database_fails_readiness_but_not_liveness(app: Flask) -> None:
    svc = app.extensions["liaison"]
    svc.db.dispose()
    svc.db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    client = app.test_client()
    assert client.get("/sante").status_code == 200
    response = client.get("/pret")
    assert response.status_code == 503
    assert response.get_json()["database"] is False
    assert response.get_json()["migrations"] is False
    assert response.get_json()["master_key"] is True
