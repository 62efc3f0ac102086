"""`flask backup create|restore`: a fiche sent through the use cases is backed up, restored
into a fresh, empty deployment that has the same master key and a copy of the epoch-key
directory, and opened there with the keys; a tampered backup and a non-empty target are refused;
and once the epoch key of the fiche's documents is destroyed, the restored backup opens nothing.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import inspect, select

from exchange.app import create_app
from exchange.domain.clock import FixedClock
from exchange.org.models import Institution
from exchange.platform.backup import (
    BLOB_PREFIX,
    MANIFEST,
    BackupTampered,
    RestoreRefused,
    create,
    restore,
    verify,
)
from exchange.platform.blobs import new_name
from exchange.platform.models import Document
from exchange.platform.services import Services
from keys.epochs import EpochKeyStore
from keys.errors import KeyDestroyed
from tests import databases
from tests.conftest import make_settings
from tests.fiches.support import FIELDS, IDENTITY, sent, services_of

SENDER = "Département de Tarn-et-Garonne"


def _empty_database(instance: Path) -> tuple[str, str | None]:
    """A URL for an empty database: a new SQLite file, or a new PostgreSQL database."""
    if not databases.on_postgres():
        return f"sqlite:///{instance / 'liaison.db'}", None
    name = f"r_{uuid.uuid4().hex[:16]}"
    databases._admin_execute(f"CREATE DATABASE {name}")
    return databases._url_for(name), name


@pytest.fixture
def fresh(tmp_path: Path, instance: Path, clock: FixedClock) -> Iterator[Flask]:
    """An empty deployment on another folder, with the source's master key and a copy of its
    epoch-key directory (what the operator restores separately, from the key backups)."""
    target = tmp_path / "restored"
    (target / "keys").mkdir(parents=True)
    shutil.copy2(instance / "keys" / "master.key", target / "keys" / "master.key")
    url, name = _empty_database(target)
    app = create_app(make_settings(target, database_url=url), clock=clock)
    yield app
    services_of(app).db.dispose()
    if name is not None:
        databases.drop(name)


def _copy_epoch_keys(source: Flask, target: Flask) -> None:
    """The epoch-key and share-key directories, restored from their own backups."""
    shutil.copytree(services_of(source).settings.epoch_key_dir,
                    services_of(target).settings.epoch_key_dir, dirs_exist_ok=True)
    shutil.copytree(services_of(source).share_key_dir, services_of(target).share_key_dir,
                    dirs_exist_ok=True)


def _plaintexts(svc: Services) -> dict[str, bytes]:
    """Every sealed document, opened with the sending institution's keys."""
    with svc.db.unit_of_work() as s:
        owner = s.scalar(select(Institution).where(Institution.name == SENDER)).key_owner
        documents = svc.documents(s)
        return {d.public_id: documents.open(d, owner) for d in s.scalars(
            select(Document).order_by(Document.id))}


def test_a_restored_backup_opens_the_same_fiches(app: Flask, fresh: Flask,
                                                 tmp_path: Path) -> None:
    sent(app)
    before = _plaintexts(services_of(app))
    assert len(before) >= 3 and any(IDENTITY.last_name.encode() in p or
                                    FIELDS["motive"].encode() in p for p in before.values())
    report = create(services_of(app), tmp_path / "liaison.backup")
    assert report.manifest["counts"]["blobs"] == len(before) and report.missing_blobs == 0
    raw = (tmp_path / "liaison.backup").read_bytes()
    assert IDENTITY.last_name.encode() not in raw and FIELDS["motive"].encode() not in raw
    assert b"LIAISON-MASTER-KEY" not in raw
    _copy_epoch_keys(app, fresh)
    restored = restore(services_of(fresh), tmp_path / "liaison.backup")
    assert restored.blobs == len(before)
    assert _plaintexts(services_of(fresh)) == before


def test_a_tampered_member_is_refused_and_nothing_is_restored(app: Flask, fresh: Flask,
                                                              tmp_path: Path) -> None:
    sent(app)
    good = tmp_path / "good.backup"
    create(services_of(app), good)
    bad = tmp_path / "bad.backup"
    with tarfile.open(good) as source, tarfile.open(bad, "w", format=tarfile.PAX_FORMAT) as out:
        flipped = False
        for info in source:
            data = source.extractfile(info).read()  # type: ignore[union-attr]
            if info.name.startswith(BLOB_PREFIX) and not flipped:
                data = data[:40] + bytes([data[40] ^ 1]) + data[41:]
                flipped = True
            out.addfile(info, io.BytesIO(data))
    assert flipped
    with pytest.raises(BackupTampered):
        verify(bad)
    with pytest.raises(BackupTampered):
        restore(services_of(fresh), bad)
    svc = services_of(fresh)
    assert inspect(svc.db.engine).get_table_names() == []
    assert list(svc.blobs.names()) == []


def test_a_member_missing_from_the_manifest_is_refused(app: Flask, tmp_path: Path) -> None:
    good = tmp_path / "good.backup"
    create(services_of(app), good)
    extra = tmp_path / "extra.backup"
    shutil.copy(good, extra)
    with tarfile.open(extra, "a") as tar:
        info = tarfile.TarInfo(BLOB_PREFIX + new_name())
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(BackupTampered):
        verify(extra)
    with tarfile.open(good) as tar:
        assert tar.getnames()[-1] == MANIFEST


def test_restoring_into_a_deployment_that_is_not_empty_is_refused(
        app: Flask, fresh: Flask, tmp_path: Path) -> None:
    backup = tmp_path / "liaison.backup"
    create(services_of(app), backup)
    with pytest.raises(RestoreRefused, match="table"):
        restore(services_of(app), backup)
    services_of(fresh).blobs.put(new_name(), b"left over")
    with pytest.raises(RestoreRefused, match="stockage"):
        restore(services_of(fresh), backup)
    assert inspect(services_of(fresh).db.engine).get_table_names() == []


def test_a_restored_backup_does_not_resurrect_data_whose_epoch_key_was_destroyed(
        app: Flask, fresh: Flask, tmp_path: Path) -> None:
    sent(app)
    backup = tmp_path / "liaison.backup"
    create(services_of(app), backup)
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        epochs = set(s.scalars(select(Document.epoch)))
    assert epochs
    for epoch in epochs:  # what retention does once the data is past its horizon
        EpochKeyStore(svc.settings.epoch_key_dir, svc.master).destroy(epoch)
    _copy_epoch_keys(app, fresh)  # the key directory as it is now, tombstones included
    restore(services_of(fresh), backup)
    target = services_of(fresh)
    with target.db.unit_of_work() as s:
        owner = s.scalar(select(Institution).where(Institution.name == SENDER)).key_owner
        documents = target.documents(s)
        rows = list(s.scalars(select(Document)))
        assert rows
        for document in rows:
            with pytest.raises(KeyDestroyed):
                documents.open(document, owner)


def test_the_cli_writes_a_backup_and_says_the_keys_are_not_in_it(
        app: Flask, fresh: Flask, tmp_path: Path) -> None:
    sent(app)
    backup = tmp_path / "cli.backup"
    created = app.test_cli_runner().invoke(args=["backup", "create", "--out", str(backup)])
    assert created.exit_code == 0, created.output
    assert "PAS dans cette sauvegarde" in created.output
    again = app.test_cli_runner().invoke(args=["backup", "create", "--out", str(backup)])
    assert again.exit_code == 1 and "existe déjà" in again.output
    checked = app.test_cli_runner().invoke(args=["backup", "verify", str(backup)])
    assert checked.exit_code == 0 and "intègre" in checked.output
    refused = app.test_cli_runner().invoke(args=["backup", "restore", str(backup)])
    assert refused.exit_code == 2 and "vide" in refused.output
    _copy_epoch_keys(app, fresh)
    restored = fresh.test_cli_runner().invoke(args=["backup", "restore", str(backup)])
    assert restored.exit_code == 0, restored.output
    assert "Restauration terminée" in restored.output
