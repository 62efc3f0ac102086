"""Production mode refuses to start without its secrets; demo mode makes its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exchange.app import create_app
from exchange.platform.settings import Settings, SettingsError
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


# -- every variable parsed strictly ------------------------------------------------------------


def _demo(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"LIAISON_MODE": "demo", "LIAISON_INSTANCE": str(tmp_path / "demo"), **values}


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", True), ("true", True), ("TRUE", True), ("True", True), ("yes", True), ("On", True),
    ("0", False), ("false", False), ("False", False), ("NO", False), ("off", False),
    (" no ", False),
])
def test_boolean_settings_are_read_in_any_case(tmp_path: Path, raw: str, expected: bool) -> None:
    assert Settings.from_env(_demo(tmp_path, LIAISON_SCHEDULER=raw)).scheduler is expected


@pytest.mark.parametrize(("name", "raw", "reason"), [
    ("LIAISON_SCHEDULER", "maybe", "doit valoir 1, true, yes, on ou 0, false, no, off"),
    ("LIAISON_SMTP_STARTTLS", "sometimes", "doit valoir 1, true"),
    ("LIAISON_SMTP_PORT", "-25", "compris entre 1 et 65535"),
    ("LIAISON_SMTP_PORT", "0", "compris entre 1 et 65535"),
    ("LIAISON_SMTP_PORT", "65536", "compris entre 1 et 65535"),
    ("LIAISON_SMTP_PORT", "twenty-five", "nombre entier"),
    ("LIAISON_SMTP_SECURITY", "ssl", "doit valoir tls ou starttls ou none"),
    ("LIAISON_SESSION_IDLE_MINUTES", "0", "compris entre 1 et 1440"),
    ("LIAISON_SESSION_IDLE_MINUTES", "5256000", "compris entre 1 et 1440"),
    ("LIAISON_SESSION_IDLE_MINUTES", "1.5", "nombre entier"),
    ("LIAISON_SESSION_IDLE_MINUTES", "9" * 4300, "nombre entier"),
    ("LIAISON_SESSION_IDLE_MINUTES", "1000", "dépasse la durée de vie"),
    ("LIAISON_SESSION_LIFETIME_HOURS", "0", "compris entre 1 et 24"),
    ("LIAISON_AUDIT_RETENTION_DAYS", "-1", "compris entre 1 et"),
    ("LIAISON_STATS_MASK_THRESHOLD", "0", "compris entre 1 et 1000"),
    ("LIAISON_RETENTION_HOUR", "24", "compris entre 0 et 23"),
    ("LIAISON_RETENTION_NOTICE_DAYS", "soon", "nombre entier"),
    ("LIAISON_PROXY_COUNT", "-1", "compris entre 0 et 10"),
    ("LIAISON_MAX_ATTACHMENT_BYTES", "0", "compris entre 1024 et"),
    ("LIAISON_LOG_FORMAT", "xml", "doit valoir json ou plain"),
])
def test_junk_and_out_of_range_settings_are_refused_naming_the_variable(
        tmp_path: Path, name: str, raw: str, reason: str) -> None:
    production = _env(tmp_path, LIAISON_SECRET_KEY=STRONG,
                      LIAISON_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}",
                      LIAISON_MASTER_KEY_FILE=str(_master(tmp_path)))
    for env in (_demo(tmp_path), production):
        with pytest.raises(SettingsError) as refused:
            Settings.from_env({**env, name: raw})
        text = str(refused.value)
        assert name in text and reason in text, text
        assert len(text) < 400  # a long value is quoted cut, never whole
    assert not (tmp_path / "demo").exists()  # refused before anything was written


def test_every_bad_setting_is_named_at_once(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(_demo(tmp_path, LIAISON_SCHEDULER="peut-être",
                                LIAISON_SMTP_PORT="99999", LIAISON_RETENTION_HOUR="-3"))
    assert len(refused.value.problems) == 4  # a heading and one line per variable


@pytest.mark.parametrize(("values", "security"), [
    ({"LIAISON_SMTP_PORT": "465"}, "tls"),
    ({"LIAISON_SMTP_PORT": "587"}, "starttls"),
    ({"LIAISON_SMTP_PORT": "25"}, "none"),
    ({"LIAISON_SMTP_PORT": "2525", "LIAISON_SMTP_STARTTLS": "Yes"}, "starttls"),
    ({"LIAISON_SMTP_PORT": "2465", "LIAISON_SMTP_SECURITY": "TLS"}, "tls"),
    ({"LIAISON_SMTP_PORT": "465", "LIAISON_SMTP_SECURITY": "none"}, "none"),
])
def test_smtp_security_follows_the_port_unless_set(tmp_path: Path, values: dict[str, str],
                                                   security: str) -> None:
    assert Settings.from_env(_demo(tmp_path, **values)).smtp_security == security


@pytest.mark.parametrize(("values", "reason"), [
    ({"LIAISON_SMTP_HOST": "smtp.example.fr", "LIAISON_SMTP_USER": "liaison",
      "LIAISON_SMTP_PASSWORD": "s3cret-mot-de-passe"}, "ne doit pas circuler en clair"),
    ({"LIAISON_SMTP_STARTTLS": "1", "LIAISON_SMTP_SECURITY": "tls"}, "contredit"),
    ({"LIAISON_SMTP_CA_FILE": "/nonexistent/ca.pem"}, "introuvable"),
])
def test_unsafe_or_contradictory_smtp_settings_are_refused(
        tmp_path: Path, values: dict[str, str], reason: str) -> None:
    with pytest.raises(SettingsError, match=reason) as refused:
        Settings.from_env(_demo(tmp_path, **values))
    assert "s3cret" not in str(refused.value)
