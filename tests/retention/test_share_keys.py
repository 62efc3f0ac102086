"""The sweep destroys the share keys of the persons it deletes (keys/shares.py): a backup
taken before cannot open what was deleted, even while the month's epoch key still lives; and
it finishes the share keys an erasure doomed when a crash left them."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from exchange.audit import trail as audit
from exchange.domain.identity import Identity
from exchange.fiches.models import Fiche
from exchange.persons.models import Person
from exchange.platform.models import Document
from exchange.platform.services import Services
from keys.errors import KeyDestroyed
from retention.holds import place_hold
from retention.models import DoomedShare
from retention.shares import doom_share
from retention.sweep import checkpoint
from tests.conftest import make_settings
from tests.fiches.support import services_of, user_id
from tests.retention.support import axe3_sent, declined, exists, sweep

AFTER_AXE3 = date(2028, 3, 1)


def _doomed(app: Flask) -> int:
    with services_of(app).db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(DoomedShare)) or 0)


def test_the_sweep_destroys_the_share_keys_of_the_persons_it_deletes(app: Flask) -> None:
    built = axe3_sent(app)
    kept = axe3_sent(app, identity=Identity(last_name="Martin", first_names="Paul",
                                            birth_date=date(1990, 5, 2)))
    svc = services_of(app)
    shares = svc.share_keys
    assert len(shares.live(built.person)) == 3  # the identity's and both institutions'
    with svc.db.unit_of_work() as s:  # the other person is kept (a legal hold)
        place_hold(s, kind="person", public_id=kept.person, reason_code="litigation", note="",
                   by_user_id=user_id(app, "dpo.departement"), actor=audit.SYSTEM,
                   at=svc.clock.now(), box=svc.secret_box("legal-hold-note"), sealing=None)

    result = sweep(app, AFTER_AXE3)

    assert not exists(app, Person, built.person) and exists(app, Person, kept.person)
    assert shares.is_destroyed(built.person) and shares.live(built.person) == []
    assert result.share_keys == 3 and result.payload()["share_keys_destroyed"] == 3
    assert _doomed(app) == 0
    assert len(shares.live(kept.person)) == 3


@pytest.mark.sqlite_file
def test_a_backup_cannot_open_what_the_sweep_deleted_even_before_its_epoch_ends(
        app: Flask, instance: Path, tmp_path: Path) -> None:
    built = declined(app)
    svc = services_of(app)
    decided = svc.clock.today()
    sweep(app, decided)  # the nightly sweep: horizons set, keys moved to the decision's month
    checkpoint(svc.db)
    backup = tmp_path / "backup"
    backup.mkdir()
    shutil.copy2(instance / "liaison.db", backup / "liaison.db")
    shutil.copytree(instance / "blobs", backup / "blobs")
    restored = Services.build(make_settings(
        instance, database_url=f"sqlite:///{backup / 'liaison.db'}", blob_dir=backup / "blobs"),
        svc.clock)
    assert _open_all(restored, built.fiche) > 0

    result = sweep(app, decided + timedelta(days=31))

    assert not exists(app, Fiche, built.fiche) and not exists(app, Person, built.person)
    with restored.db.unit_of_work() as s:
        person = s.scalar(select(Person).where(Person.public_id == built.person))
        assert person is not None
        epoch = person.epoch
        assert epoch not in result.epochs_destroyed  # the month is not over...
        assert svc.keystore(s).epochs.exists(epoch)
        with pytest.raises(KeyDestroyed):  # ...but the person's keys are gone
            restored.personal(s).decrypt(person.sealed_key, person.public_id, person.identity)
    with pytest.raises(KeyDestroyed):
        _open_all(restored, built.fiche)
    restored.db.dispose()


def _open_all(svc: Services, fiche_pid: str) -> int:
    opened = 0
    with svc.db.unit_of_work() as s:
        for document in s.scalars(select(Document).join(Fiche, Document.fiche_id == Fiche.id)
                                  .where(Fiche.public_id == fiche_pid)):
            for wrap in list(document.wraps):
                assert svc.documents(s).open(document, wrap.reader)
                opened += 1
    return opened


def test_the_sweep_finishes_share_keys_an_erasure_doomed_before_a_crash(app: Flask) -> None:
    built = axe3_sent(app)
    svc = services_of(app)
    shares = svc.share_keys
    owner = next(o for o, _ in shares.live(built.person) if o != "platform")
    with svc.db.unit_of_work() as s:
        assert doom_share(s, shares, built.person, owner, svc.clock.now()) == 1
        s.info.pop("liaison.shares.doomed")  # the process dies right after the commit
    assert (owner, 1) in shares.live(built.person) and _doomed(app) == 1

    sweep(app, svc.clock.today())

    assert (owner, 1) not in shares.live(built.person) and _doomed(app) == 0
    with pytest.raises(KeyDestroyed):
        shares.key(built.person, owner, 1)
    assert exists(app, Person, built.person)  # nothing else was due
