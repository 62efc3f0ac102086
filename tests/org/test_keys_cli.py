"""`flask keys ...` on a real database and master key; no private key in clear on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from exchange.app import create_app
from exchange.audit.models import AuditEvent
from exchange.org.models import Institution
from tests.conftest import make_settings


def _cli(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


def test_init_refuses_to_overwrite_the_master_key(app: Flask) -> None:
    path = app.extensions["liaison"].settings.master_key_file
    before = path.read_bytes()
    code, output = _cli(app, "keys", "init")
    assert code == 1
    assert "jamais écrasée" in output
    assert path.read_bytes() == before


def test_init_creates_a_private_master_key_and_the_platform_keys(tmp_path: Path) -> None:
    from exchange.platform.migrate import upgrade

    instance = tmp_path / "fresh"
    settings = make_settings(instance, mode="production")
    upgrade(settings.database_url)
    os.environ["FLASK_RUN_FROM_CLI"] = "true"
    try:
        app = create_app(settings)
    finally:
        del os.environ["FLASK_RUN_FROM_CLI"]
    code, output = _cli(app, "keys", "init")
    assert code == 0, output
    assert settings.master_key_file.stat().st_mode & 0o777 == 0o600
    code, output = _cli(app, "keys", "status")
    assert code == 0
    for purpose in ("ca", "platform-signing", "blind-index", "person-fields"):
        assert f"{purpose} v1 (en service)" in output
    app.extensions["liaison"].db.dispose()


def test_rotate_makes_a_new_version_current_and_keeps_the_old(app: Flask) -> None:
    code, output = _cli(app, "keys", "rotate", "--institution", "CIAS Lodévois et Larzac")
    assert code == 0, output
    assert "version 2" in output
    code, status = _cli(app, "keys", "status")
    lines = [line for line in status.splitlines() if line.startswith("CIAS Lodévois et Larzac")]
    assert any("encryption v1 (ancienne)" in line for line in lines)
    assert any("encryption v2 (en service)" in line for line in lines)
    with app.extensions["liaison"].db.unit_of_work() as s:
        assert s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()[-1] == \
            "keys.rotated"


def test_rotate_names_an_unknown_institution(app: Flask) -> None:
    code, output = _cli(app, "keys", "rotate", "--institution", "Nulle part")
    assert code == 1 and "introuvable" in output


def test_export_public_writes_pem_without_private_material(app: Flask, tmp_path: Path) -> None:
    out = tmp_path / "ft.pem"
    code, output = _cli(app, "keys", "export-public", "--institution", "France Travail Occitanie",
                        "--out", str(out))
    assert code == 0, output
    pem = out.read_text()
    assert "BEGIN CERTIFICATE" in pem and "BEGIN PUBLIC KEY" in pem
    assert "PRIVATE" not in pem


@pytest.mark.sqlite_file
def test_database_file_holds_no_private_key_in_clear(app: Flask) -> None:
    svc = app.extensions["liaison"]
    secrets: list[bytes] = []
    with svc.db.unit_of_work() as s:
        store = svc.keystore(s)
        for record in store.records.all():
            secrets.append(store._secret(record, record.purpose))
        assert s.scalar(select(Institution.id)) is not None
    svc.db.dispose()
    database = svc.settings.instance_path / "liaison.db"
    raw = database.read_bytes()
    wal = database.with_name("liaison.db-wal")
    raw += wal.read_bytes() if wal.exists() else b""
    assert len(secrets) >= 13
    for secret in secrets:
        assert len(secret) >= 32
        assert secret not in raw
        assert secret[:16] not in raw
    master = svc.settings.master_key_file.read_bytes()
    assert master not in raw
