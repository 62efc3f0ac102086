"""Erasure is physical and cryptographic: after the sweep the SQLite file, its WAL and the
blob folder hold no byte of the deleted ciphertexts, and a database backup taken before the
sweep can no longer open the deleted fiche once its epoch key is destroyed."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from exchange.fiches.models import Fiche
from exchange.persons.models import Person
from exchange.platform.models import Document
from exchange.platform.services import Services
from keys.errors import KeyDestroyed, KeyNotFound
from retention.sweep import checkpoint
from tests.conftest import make_settings
from tests.fiches.support import services_of
from tests.retention.support import axe3_sent, fiche_blobs, sweep

AFTER = date(2028, 3, 1)


def _windows(data: bytes, width: int = 24) -> list[bytes]:
    """Byte sequences taken along a ciphertext: any surviving copy would contain them."""
    step = max(1, (len(data) - width) // 8)
    return [data[i:i + width] for i in range(0, max(1, len(data) - width), step)]


def _secrets_of(app: Flask, fiche_pid: str, person_pid: str) -> list[bytes]:
    svc = services_of(app)
    found = list(fiche_blobs(app, fiche_pid).values())
    with svc.db.unit_of_work() as s:
        person = s.scalar(select(Person).where(Person.public_id == person_pid))
        assert person is not None
        # The sealed key starts with its (public) epoch and key id: only its sealed part.
        found += [person.identity, person.sealed_key[-60:]]
        for document in s.scalars(select(Document).join(Fiche, Document.fiche_id == Fiche.id)
                                  .where(Fiche.public_id == fiche_pid)):
            found += [document.epoch_wrap] + [w.enc for w in document.wraps]
    return found


def _files(instance: Path) -> list[Path]:
    files = [instance / "liaison.db", instance / "liaison.db-wal"]
    files += [p for p in (instance / "blobs").rglob("*") if p.is_file()]
    return [p for p in files if p.exists()]


@pytest.mark.sqlite_file
def test_nothing_of_the_deleted_fiche_is_left_in_the_files(app: Flask, instance: Path) -> None:
    built = axe3_sent(app)
    secrets_before = _secrets_of(app, built.fiche, built.person)
    names = [b"Lef\xc3\xa8vre", b"LEFEVRE", b"Lefevre", "Élodie".encode()]
    windows = [w for data in secrets_before for w in _windows(data)]
    everything = b"".join(p.read_bytes() for p in _files(instance))
    assert any(w in everything for w in windows)  # the search can find them before

    result = sweep(app, AFTER)

    assert ("fiche", built.fiche) in {(i["kind"], i["id"]) for i in result.deleted}
    assert result.checkpoint is not None and result.checkpoint[0] == 0  # not busy
    wal = instance / "liaison.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    for path in _files(instance):
        content = path.read_bytes()
        for name in names:
            assert name not in content, path
        assert not any(w in content for w in windows), path


@pytest.mark.sqlite_file
def test_a_backup_taken_before_the_sweep_cannot_open_the_deleted_fiche(
        app: Flask, instance: Path, tmp_path: Path) -> None:
    built = axe3_sent(app)
    svc = services_of(app)
    # The nightly sweep has set the horizons (and moved the person's key to the epoch of
    # theirs) before the nightly backup: see retention/README.md on what a backup taken
    # earlier still holds.
    sweep(app, svc.clock.today())
    checkpoint(svc.db)
    backup = tmp_path / "backup"
    backup.mkdir()
    shutil.copy2(instance / "liaison.db", backup / "liaison.db")
    shutil.copytree(instance / "blobs", backup / "blobs")
    # The backup opens with the live keys before the sweep...
    restored = Services.build(make_settings(
        instance, database_url=f"sqlite:///{backup / 'liaison.db'}", blob_dir=backup / "blobs"),
        svc.clock)
    reader = _open_all(restored, built.fiche)
    assert reader > 0

    result = sweep(app, AFTER)
    assert "2028-02" in result.epochs_destroyed

    with pytest.raises(KeyNotFound) as raised:  # KeyDestroyed is a KeyNotFound
        _open_all(restored, built.fiche)
    assert isinstance(raised.value, KeyDestroyed)
    with restored.db.unit_of_work() as s:
        person = s.scalar(select(Person).where(Person.public_id == built.person))
        assert person is not None and person.epoch == "2028-02"
        with pytest.raises(KeyDestroyed):
            restored.personal(s).decrypt(person.sealed_key, person.public_id, person.identity)
    restored.db.dispose()


def _open_all(svc: Services, fiche_pid: str) -> int:
    opened = 0
    with svc.db.unit_of_work() as s:
        for document in s.scalars(select(Document).join(Fiche, Document.fiche_id == Fiche.id)
                                  .where(Fiche.public_id == fiche_pid)):
            reader = document.wraps[0].reader
            assert svc.documents(s).open(document, reader)
            opened += 1
    return opened
