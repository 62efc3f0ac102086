"""Production mode refuses to start without its secrets; demo mode makes its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exchange import create_app
from exchange.settings import Settings, SettingsError
from keys.errors import MasterKeyInvalid, MasterKeyMissing
from keys.master import MasterKey
from tests.conftest import make_settings

STRONG = "k3Y-7s9QpLm2Xv8RtW4zN6bJ1cH5dF0gAeUoIyT"


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {"LIAISON_MODE": "production", "LIAISON_INSTANCE": str(tmp_path / "instance")}
    env.update(values)
    return env


def _master(tmp_path: Path) -> Path:
    path = tmp_path / "secrets" / "master.key"
    MasterKey.create(path)
    return path


def test_production_without_any_secret_names_each_missing_one(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(_env(tmp_path))
    text = str(refused.value)
    for name in ("LIAISON_SECRET_KEY", "LIAISON_DATABASE_URL", "LIAISON_MASTER_KEY_FILE"):
        assert name in text


@pytest.mark.parametrize("secret", ["short", "a" * 64, "abcabcabcabcabcabcabcabcabcabcabcabc"])
def test_production_refuses_a_weak_secret_key(tmp_path: Path, secret: str) -> None:
    env = _env(tmp_path, LIAISON_SECRET_KEY=secret,
               LIAISON_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}",
               LIAISON_MASTER_KEY_FILE=str(_master(tmp_path)))
    with pytest.raises(SettingsError, match="trop faible"):
        Settings.from_env(env)


def test_production_refuses_a_weak_database_password(tmp_path: Path) -> None:
    env = _env(tmp_path, LIAISON_SECRET_KEY=STRONG,
               LIAISON_DATABASE_URL="postgresql+psycopg://liaison:postgres@db/liaison",
               LIAISON_MASTER_KEY_FILE=str(_master(tmp_path)))
    with pytest.raises(SettingsError, match="mot de passe de la base"):
        Settings.from_env(env)


def test_production_refuses_a_readable_master_key_file(tmp_path: Path) -> None:
    master = _master(tmp_path)
    os.chmod(master, 0o644)
    env = _env(tmp_path, LIAISON_SECRET_KEY=STRONG,
               LIAISON_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}",
               LIAISON_MASTER_KEY_FILE=str(master))
    with pytest.raises(SettingsError, match="0600"):
        Settings.from_env(env)


def test_production_refuses_a_missing_master_key_file(tmp_path: Path) -> None:
    env = _env(tmp_path, LIAISON_SECRET_KEY=STRONG,
               LIAISON_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}",
               LIAISON_MASTER_KEY_FILE=str(tmp_path / "absent.key"))
    with pytest.raises(SettingsError, match="introuvable"):
        Settings.from_env(env)


def test_create_app_stops_when_the_master_key_is_missing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, mode="production")
    with pytest.raises(MasterKeyMissing):
        create_app(settings)


def test_create_app_stops_on_another_master_key(instance: Path, tmp_path: Path) -> None:
    other = tmp_path / "other" / "master.key"
    MasterKey.create(other)
    settings = make_settings(instance, mode="production", master_key_file=other)
    with pytest.raises(MasterKeyInvalid, match="n'est pas celle"):
        create_app(settings)


def test_production_app_sets_hsts_and_secure_cookie(instance: Path) -> None:
    app = create_app(make_settings(instance, mode="production"))
    response = app.test_client().get("/connexion/", base_url="https://liaison.example")
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-liaison=") and "Secure" in cookie
    app.extensions["liaison"].db.dispose()


def test_demo_mode_generates_its_secrets_and_says_so(tmp_path: Path) -> None:
    settings = Settings.from_env({"LIAISON_MODE": "demo",
                                  "LIAISON_INSTANCE": str(tmp_path / "demo")})
    assert (tmp_path / "demo" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert any("clé secrète" in line for line in settings.announcements)
    assert any("clé maîtresse" in line for line in settings.announcements)
    again = Settings.from_env({"LIAISON_MODE": "demo", "LIAISON_INSTANCE": str(tmp_path / "demo")})
    assert again.secret_key == settings.secret_key
